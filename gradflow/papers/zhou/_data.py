"""Data for Zhou et al.'s kernel condensation: a Gaussian bump with label signs plus noise."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from ..._validate import integer, positive
from ...data import Dataset


def bump_data(
    n: int,
    length: int,
    *,
    width: float = 4.0,
    noise: float = 0.5,
    key: PRNGKeyArray,
) -> Dataset:
    """Signals x_i = y_i b + noise * g_i with a Gaussian bump b_j = exp(-((j - L/2)/width)^2).

    The synthetic case for kernel condensation (Zhou et al., our choice): the patch matrix of
    b is nearly rank one, so Z = (1/n) sum_i y_i patches(x_i)^T has a clear eigenvalue gap
    (its top left singular vector, a positive bump, is where small-init kernels condense).
    Labels: +1 for the first ceil(n/2) examples, -1 for the rest; g_i ~ N(0, I_L).

    >>> data = bump_data(40, 20, key=jax.random.key(0))    # x (40, 20)
    """
    n = integer("n", n, 2)
    length = integer("length", length, 1)
    width = positive("width", width)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return Dataset(*_build_bump(key, n, length, width, float(noise)))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _build_bump(key, n, length, width, noise):
    j = jnp.arange(length)
    bump = jnp.exp(-(((j - length / 2) / width) ** 2))
    y = jnp.where(jnp.arange(n) < -(-n // 2), 1.0, -1.0)
    return y[:, None] * bump[None, :] + noise * jax.random.normal(key, (n, length)), y
