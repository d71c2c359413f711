"""Alignment of first-layer neurons with the class directions x_+ / x_- (Min et al.).

Conventions: x_+ = sum of positive-class inputs, x_- = sum of negative-class inputs. Neuron j
"targets" x_+ when v_j > 0 and x_- when v_j < 0. A neuron is aligned when
cos(w_j, x_target) >= 1 - delta; dead when w_j . x_i <= 0 for every sample (it then gets no
gradient and stays frozen).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..data.dataset import Dataset

_TINY = 1e-300


def x_plus(data: Dataset) -> Float[Array, " d"]:
    """x_+ = sum_{i: y_i = +1} x_i."""
    return jnp.sum(jnp.where((data.y > 0)[:, None], data.x, 0.0), axis=0)


def x_minus(data: Dataset) -> Float[Array, " d"]:
    """x_- = sum_{i: y_i = -1} x_i."""
    return jnp.sum(jnp.where((data.y < 0)[:, None], data.x, 0.0), axis=0)


def _unit(v: Array, axis: int = -1) -> Array:
    return v / jnp.maximum(jnp.linalg.norm(v, axis=axis, keepdims=True), _TINY)


def cos_to_class(w: Float[Array, "h d"], data: Dataset) -> tuple[Array, Array]:
    """(cos(w_j, x_+), cos(w_j, x_-)) for every neuron, each of shape (h,)."""
    wu = _unit(w)
    return wu @ _unit(x_plus(data)), wu @ _unit(x_minus(data))


def target_cos(w: Float[Array, "h d"], v: Float[Array, " h"], data: Dataset) -> Array:
    """cos(w_j, x_+) for v_j > 0, cos(w_j, x_-) for v_j < 0 (NaN-free; (h,))."""
    cp, cm = cos_to_class(w, data)
    return jnp.where(v > 0, cp, cm)


def dead_margin(w: Float[Array, "h d"], data: Dataset) -> Array:
    """-max_i cos(w_j, x_i): >= 0 exactly when neuron j is dead (inactive on every sample)."""
    return -jnp.max(_unit(w) @ _unit(data.x).T, axis=1)


def alignment_gap(model, data: Dataset, delta: float) -> Array:
    """max_j min(1 - delta - cos_j, -dead_margin_j): <= 0 iff every neuron is aligned or dead.

    Real-valued and continuous in the parameters, so it serves as an ODE event condition.
    """
    aligned_score = target_cos(model.w, model.v, data) - (1.0 - delta)
    score = jnp.maximum(aligned_score, dead_margin(model.w, data))
    return -jnp.min(score)
