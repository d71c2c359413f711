"""The one activation table of gradflow's models: sigma, its slope at 0, its kink slope.

Every model picks its activation by name from :data:`ACTIVATIONS`. The leaky ReLU's negative
slope is NOT fixed here: each model carries it as a field (``leaky_slope``) with its own
default, so ``leaky_relu`` means sigma(z) = max(z, leaky_slope * z) for that model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array


class Activation(NamedTuple):
    """One activation: ``fn(z, leaky_slope)``; ``slope_at_zero`` sigma'(0) (None where sigma
    is not differentiable at 0); ``piecewise_linear`` (relu, leaky_relu: the kink-aware solve
    applies, the slope below zero being 0 or ``leaky_slope``)."""

    fn: Callable[[Array, float], Array]
    slope_at_zero: float | None
    piecewise_linear: bool


def _relu(z: Array, leaky_slope: float) -> Array:
    return jax.nn.relu(z)


def _leaky_relu(z: Array, leaky_slope: float) -> Array:
    return jax.nn.leaky_relu(z, negative_slope=leaky_slope)


def _tanh(z: Array, leaky_slope: float) -> Array:
    return jnp.tanh(z)


def _xsigmoid(z: Array, leaky_slope: float) -> Array:
    return z * jax.nn.sigmoid(z)


def _softplus(z: Array, leaky_slope: float) -> Array:
    return jax.nn.softplus(z)


def _sigmoid(z: Array, leaky_slope: float) -> Array:
    return jax.nn.sigmoid(z)


#: name -> Activation. Zhou et al.'s "multiplicity one": sigma(0) = 0 and sigma'(0) != 0
#: (tanh, x*sigmoid).
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(_relu, None, True),
    "leaky_relu": Activation(_leaky_relu, None, True),
    "tanh": Activation(_tanh, 1.0, False),
    "xsigmoid": Activation(_xsigmoid, 0.5, False),
    "softplus": Activation(_softplus, 0.5, False),
    "sigmoid": Activation(_sigmoid, 0.25, False),
}


def check_activation(name: str, allowed: tuple[str, ...] | None = None) -> str:
    """Return ``name`` or raise ``ValueError`` if it is not in ``allowed`` (default: all)."""
    names = tuple(ACTIVATIONS) if allowed is None else allowed
    if name not in names:
        raise ValueError(f"activation must be one of {sorted(names)}, got {name!r}")
    return name


def slope_at_zero(name: str) -> float | None:
    """sigma'(0) of activation ``name`` (None where sigma has a kink at 0)."""
    return ACTIVATIONS[check_activation(name)].slope_at_zero


def kink_slope(name: str, leaky_slope: float) -> float | None:
    """Slope below zero of a piecewise-linear activation (0 for relu, ``leaky_slope`` for
    leaky_relu); None for a smooth one."""
    act = ACTIVATIONS[check_activation(name)]
    if not act.piecewise_linear:
        return None
    return leaky_slope if name == "leaky_relu" else 0.0
