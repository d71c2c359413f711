"""Network definitions (Equinox modules, written for one example)."""

from .two_layer import Linear as Linear, TwoLayerReLU as TwoLayerReLU
