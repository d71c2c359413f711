"""Min et al.'s two-point toy data set (experiment a of PAPERS.md Sec. 1)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike

from .dataset import Dataset


def two_point(theta: float | ArrayLike) -> Dataset:
    """x1 = [1, 0], x2 = [sin theta, cos theta], both labelled +1; shape x (2, 2), y (2,).

    <x1, x2> = sin theta, so the separation is mu = sin theta (theta = 0: orthogonal
    inputs, mu = 0; the paper uses theta in {0.1, 0.001, 0}). Traceable in ``theta``.

    >>> data = two_point(0.1)
    >>> float(gradflow.metrics.mu(data))   # sin(0.1)
    """
    if not isinstance(theta, jax.core.Tracer):  # pyright: ignore[reportAttributeAccessIssue]
        try:
            t = float(theta)  # pyright: ignore[reportArgumentType]
        except (TypeError, ValueError):
            raise ValueError(f"theta must be a real number, got {theta!r}") from None
        if not math.isfinite(t):
            raise ValueError(f"theta must be finite, got {theta!r}")
    dtype = jnp.result_type(float)
    th = jnp.asarray(theta, dtype=dtype)
    x = jnp.stack(
        [jnp.array([1.0, 0.0], dtype=dtype), jnp.stack([jnp.sin(th), jnp.cos(th)])]
    )
    return Dataset(x, jnp.ones(2, dtype=dtype))
