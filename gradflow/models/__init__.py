"""Network definitions (Equinox modules, written for ONE example; vmap over data)."""

from ._activations import (
    ACTIVATIONS as ACTIVATIONS,
    Activation as Activation,
    check_activation as check_activation,
    kink_slope as kink_slope,
    slope_at_zero as slope_at_zero,
)
from ._cnn import CNN_ACTIVATIONS as CNN_ACTIVATIONS, TwoLayerCNN as TwoLayerCNN
from ._conv_filter import ConvFilter as ConvFilter
from ._deep_cnn import DEEP_ACTIVATIONS as DEEP_ACTIVATIONS, DeepCNN as DeepCNN
from ._kink_protocol import AbstractKinkModel as AbstractKinkModel
from ._mlp import MLP as MLP, MLP_ACTIVATIONS as MLP_ACTIVATIONS
from ._patches import (
    num_patches as num_patches,
    patch_grid as patch_grid,
    patch_index as patch_index,
    patches as patches,
)
from ._two_layer import Linear as Linear, TwoLayerReLU as TwoLayerReLU

__all__ = [
    "ACTIVATIONS",
    "AbstractKinkModel",
    "Activation",
    "CNN_ACTIVATIONS",
    "ConvFilter",
    "DEEP_ACTIVATIONS",
    "DeepCNN",
    "Linear",
    "MLP",
    "MLP_ACTIVATIONS",
    "TwoLayerCNN",
    "TwoLayerReLU",
    "check_activation",
    "kink_slope",
    "num_patches",
    "patch_grid",
    "patch_index",
    "patches",
    "slope_at_zero",
]
