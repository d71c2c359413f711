"""Teacher-student data for Du, Lee & Tian's filter learning (arXiv 1709.06129).

Inputs are 1-D signals x of length d; labels are y = f_{w*}(x) from a teacher
:class:`~gradflow.models.ConvFilter` (square loss, no noise unless asked).

Input distributions (every coordinate has mean 0 and variance 1, so they differ only in shape):
    "gaussian":  N(0, 1)  (the only one with a closed-form population loss)
    "uniform":   U[-sqrt 3, sqrt 3]
    "laplace":   Laplace(0, 1/sqrt 2)
    "mixture":   +-m + s * N(0, 1) with m = sqrt(1 - s^2), s = ``smoothness`` in (0, 1]:
                 s = 1 is the Gaussian, s -> 0 tends to the (non-smooth, atomic) Rademacher
                 law; the density's smoothness (e.g. its Lipschitz constant ~ 1/s^2) is
                 varied by s. This is our stand-in for Du et al.'s smoothness parameter.

Patch closeness: ``closeness`` rho in [0, 1) mixes one shared pattern g into every
non-overlapping block of length ``size``: x = sqrt(1 - rho) e + sqrt(rho) [g, g, ..., g]
(e, g drawn from the same law), so corr(Z_i, Z_j) = rho for i != j; rho -> 1 makes all
patches equal. Overlap is the model's ``stride`` (stride < size: overlapping patches).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..._validate import integer
from ...data import Dataset
from ...models import ConvFilter

DISTRIBUTIONS = ("gaussian", "uniform", "laplace", "mixture")


def sample_inputs(
    n: int,
    d: int,
    dist: str = "gaussian",
    *,
    smoothness: float = 0.5,
    key: PRNGKeyArray,
) -> Float[Array, "n d"]:
    """n signals of length d with i.i.d. mean-0 variance-1 coordinates from ``dist``.

    >>> x = sample_inputs(1000, 16, "laplace", key=jax.random.key(0))
    """
    n, d = integer("n", n), integer("d", d)
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"dist must be one of {DISTRIBUTIONS}, got {dist!r}")
    shape = (n, d)
    if dist == "gaussian":
        return jax.random.normal(key, shape)
    if dist == "uniform":
        return jax.random.uniform(key, shape, minval=-jnp.sqrt(3.0), maxval=jnp.sqrt(3.0))
    if dist == "laplace":
        return jax.random.laplace(key, shape) / jnp.sqrt(2.0)
    if not (0.0 < smoothness <= 1.0):
        raise ValueError(f"smoothness must be in (0, 1], got {smoothness!r}")
    ks, kn = jax.random.split(key)
    sign = jnp.where(jax.random.bernoulli(ks, 0.5, shape), 1.0, -1.0)
    m = jnp.sqrt(1.0 - smoothness**2)
    return m * sign + smoothness * jax.random.normal(kn, shape)


def close_patches(
    n: int,
    k: int,
    size: int,
    closeness: float,
    dist: str = "gaussian",
    *,
    smoothness: float = 0.5,
    key: PRNGKeyArray,
) -> Float[Array, "n d"]:
    """Signals of k non-overlapping blocks with corr(Z_i, Z_j) = ``closeness`` (d = k size)."""
    if not (0.0 <= closeness < 1.0):
        raise ValueError(f"closeness must be in [0, 1), got {closeness!r}")
    ke, kg = jax.random.split(key)
    e = sample_inputs(n, k * size, dist, smoothness=smoothness, key=ke)
    g = sample_inputs(n, size, dist, smoothness=smoothness, key=kg)
    return jnp.sqrt(1.0 - closeness) * e + jnp.sqrt(closeness) * jnp.tile(g, (1, k))


def teacher_data(
    teacher: ConvFilter,
    n: int,
    dist: str = "gaussian",
    *,
    smoothness: float = 0.5,
    closeness: float = 0.0,
    noise: float = 0.0,
    key: PRNGKeyArray,
) -> Dataset:
    """Dataset (x_i, y_i = f_{w*}(x_i) + noise * N(0,1)) for the teacher filter ``teacher``.

    ``closeness > 0`` requires non-overlapping blocks (teacher.d divisible by teacher.size).

    >>> w_star = ConvFilter.non_overlapping(4, 4, key=k0)
    >>> data = teacher_data(w_star, 500, "uniform", key=k1)
    """
    kx, kn = jax.random.split(key)
    if closeness > 0.0:
        if teacher.d % teacher.size:
            raise ValueError(
                f"closeness needs d divisible by the patch size, got d={teacher.d}, "
                f"size={teacher.size}"
            )
        x = close_patches(
            n, teacher.d // teacher.size, teacher.size, closeness, dist,
            smoothness=smoothness, key=kx,
        )
    else:
        x = sample_inputs(n, teacher.d, dist, smoothness=smoothness, key=kx)
    y = jax.vmap(teacher)(x)
    if noise:
        y = y + noise * jax.random.normal(kn, y.shape)
    return Dataset(x, y)
