"""Network definitions (Equinox modules, written for one example)."""

from ._patches import num_patches as num_patches, patches as patches
from .cnn import TwoLayerCNN as TwoLayerCNN
from .conv_filter import ConvFilter as ConvFilter
from .deep_cnn import DeepCNN as DeepCNN
from .two_layer import Linear as Linear, TwoLayerReLU as TwoLayerReLU
