"""Network definitions (Equinox modules, written for one example)."""

from .two_layer import Linear as Linear
from .two_layer import TwoLayerReLU as TwoLayerReLU
