"""Filter metrics of Yu et al.'s key-pattern CNN: norms, cosines to patterns, accuracy.

Conventions: filters ``w`` are (K, p) (or stacked over saved times, (T, K, p)); patterns are
the rows of ``PatternSet.all``: p_+, p_-, then the B background patterns. A filter is
*assigned* to the pattern of largest (signed) cosine; "key filters" are those assigned to
p_+ or p_- with a positive cosine, "background filters" all the others (assigned to a
background pattern, or with no positive cosine to any pattern: a dead ReLU filter).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...data import Dataset
from ...metrics import unit as _unit
from ._data import PatternSet


def filter_norms(w: Float[Array, "*T K p"]) -> Float[Array, "*T K"]:
    """|w_k| for every filter (works on stacked (T, K, p) too)."""
    return jnp.linalg.norm(w, axis=-1)


def pattern_cos(w: Float[Array, "*T K p"], patterns: PatternSet) -> Float[Array, "*T K M"]:
    """cos(w_k, pattern_m) for the M = 2 + B patterns (columns: p_+, p_-, background...)."""
    return _unit(w) @ _unit(patterns.all).T


def assignment(w: Float[Array, "*T K p"], patterns: PatternSet) -> Array:
    """Index of the pattern of largest cosine for each filter (0: p_+, 1: p_-, >= 2: bg)."""
    return jnp.argmax(pattern_cos(w, patterns), axis=-1)


def is_key_filter(cos: Float[Array, "*T K M"]) -> Array:
    """Key filters from their cosines to the patterns: argmax is p_+ or p_-, and > 0."""
    return (jnp.argmax(cos, axis=-1) < 2) & (jnp.max(cos, axis=-1) > 0)


def best_key_cos(w: Float[Array, "*T K p"], patterns: PatternSet) -> Float[Array, "*T 2"]:
    """(max_k cos(w_k, p_+), max_k cos(w_k, p_-)): how well the best filters learn each key."""
    return jnp.max(pattern_cos(w, patterns)[..., :2], axis=-2)


def key_background_ratio(
    w: Float[Array, "*T K p"], patterns: PatternSet, how: str = "max"
) -> Float[Array, "*T"]:
    """Norm of the key filters over the largest background-filter norm.

    ratio = agg_{k key} |w_k| / max_{k background} |w_k|, agg = max (``how="max"``) or mean
    (``how="mean"``). inf when no filter is assigned to the background, nan when none to a
    key pattern.
    """
    return ratio_from_summary(filter_norms(w), pattern_cos(w, patterns), how)


def ratio_from_summary(
    norms: Float[Array, "*T K"], cos: Float[Array, "*T K M"], how: str = "max"
) -> Float[Array, "*T"]:
    """:func:`key_background_ratio` from saved ``norms`` and ``cos`` (a FilterSummary)."""
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max' or 'mean', got {how!r}")
    is_key = is_key_filter(cos)
    n_key = jnp.sum(is_key, axis=-1)
    if how == "max":
        top = jnp.max(jnp.where(is_key, norms, -jnp.inf), axis=-1)
    else:
        top = jnp.sum(jnp.where(is_key, norms, 0.0), axis=-1) / jnp.maximum(n_key, 1)
    bg = jnp.max(jnp.where(is_key, -jnp.inf, norms), axis=-1)
    ratio = jnp.where(bg > 0, top / jnp.where(bg > 0, bg, 1.0), jnp.inf)
    return jnp.where(n_key > 0, ratio, jnp.nan)


def margins(model: Any, data: Dataset) -> Float[Array, " n"]:
    """y_i f(x_i) for every example (the model is written for one example)."""
    return data.y * jax.vmap(model)(data.x)


def accuracy(model: Any, data: Dataset) -> Float[Array, ""]:
    """Fraction of examples with y_i f(x_i) > 0 (a tie f = 0 counts as wrong)."""
    m = margins(model, data)
    return jnp.mean((m > 0).astype(m.dtype))


class FilterSummary(eqx.Module):
    """``fn(t, model)`` for ``solve_flow``/``gd``: what Yu et al. plot, without the weights.

    Saves ``norms`` (K,), ``cos`` (K, 2 + B) to the patterns, ``accuracy`` and
    ``min_margin`` on ``data``. An ``eqx.Module`` (arrays are traced), so repeated solves
    with new data reuse one compiled kernel.

    >>> traj = solve_flow(model, data, t1=50.0, fn=FilterSummary(pats, data))
    >>> traj.summary["cos"].shape   # (T, K, 2 + B)
    """

    patterns: PatternSet
    data: Dataset

    def __call__(self, t, model) -> dict[str, Array]:
        m = margins(model, self.data)
        return {
            "norms": filter_norms(model.w),
            "cos": pattern_cos(model.w, self.patterns),
            "accuracy": jnp.mean((m > 0).astype(m.dtype)),
            "min_margin": jnp.min(m),
        }
