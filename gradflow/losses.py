"""Per-sample losses and the ONE definition of sum vs mean reduction.

Time units: gradient flow on the MEAN loss runs on the clock ``t_mean``; on the SUM loss on
``t_sum``. Because ``L_sum = n * L_mean``, the flows coincide with ``t_sum = t_mean / n``.
Every gradflow API that returns a time says which clock it uses (``Trajectory.clock``).

Classification losses act on the margin ``y * f(x)``:
    exp:       l(m) = exp(-m)
    logistic:  l(m) = log(1 + exp(-m))      (no factor 2; Min et al.'s appendix has one)
Regression:
    square:    l(f, y) = (f - y)^2 / 2
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

LossName = Literal["exp", "logistic", "square"]
Reduction = Literal["mean", "sum"]

CLASSIFICATION_LOSSES = ("exp", "logistic")
REDUCTIONS = ("mean", "sum")


def _exp(pred: Array, y: Array) -> Array:
    return jnp.exp(-y * pred)


def _logistic(pred: Array, y: Array) -> Array:
    return jnp.logaddexp(0.0, -y * pred)


def _square(pred: Array, y: Array) -> Array:
    return 0.5 * (pred - y) ** 2


PER_SAMPLE: dict[str, Callable[[Array, Array], Array]] = {
    "exp": _exp,
    "logistic": _logistic,
    "square": _square,
}


def check_loss(loss: str, reduction: str) -> None:
    """Raise ``ValueError`` for an unknown loss or reduction name."""
    if loss not in PER_SAMPLE:
        raise ValueError(f"loss must be one of {sorted(PER_SAMPLE)}, got {loss!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def reduce(values: Float[Array, " n"], reduction: str) -> Float[Array, ""]:
    """Mean or sum over samples (the one place the two clocks differ)."""
    return jnp.mean(values) if reduction == "mean" else jnp.sum(values)


def empirical_loss(
    model: Callable[[Array], Array],
    x: Float[Array, "n ..."],
    y: Float[Array, " n"],
    loss: str = "exp",
    reduction: str = "mean",
) -> Float[Array, ""]:
    """L(theta) = reduce_i l(y_i, f(x_i)); the model is written for one example and vmapped.

    >>> empirical_loss(model, data.x, data.y, "exp", "mean")
    """
    pred = jax.vmap(model)(x)
    return reduce(PER_SAMPLE[loss](pred, y), reduction)


def to_mean_clock(t_sum, n: int):
    """Convert a time on the sum-loss clock to the mean-loss clock: t_mean = n * t_sum."""
    return t_sum * n


def to_sum_clock(t_mean, n: int):
    """Convert a time on the mean-loss clock to the sum-loss clock: t_sum = t_mean / n."""
    return t_mean / n
