"""The data families of the Min et al. bound experiment (one name -> one mu-separated set).

``FAMILY_NAMES``:
    "cone":       :func:`separated` family "cone" (points evenly on a cone boundary), 50/50.
    "cluster":    :func:`separated` family "cluster" (two clusters on opposite sides of the
                  axis, isotropic spread 0.2), 50/50.
    "aniso":      anisotropic clusters: as "cluster", but the noise of cluster k is
                  spread * diag(s) g / sqrt(d) with per-coordinate scales s geometrically
                  spaced from 3 down to 1/3 (in a random orthonormal frame, different for
                  each cluster), then the same exact stretch to separation mu. 50/50.
    "unbalanced": "cluster" with 80 % positive labels (80/20 classes).

Every family returns :class:`SeparatedData` whose ``mu`` is the exact separation of the
returned data (``gradflow.metrics.mu``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..._validate import integer
from ...data import Dataset
from ...metrics import mu as _mu, unit as _unit
from ._data import SeparatedData, _perp_unit, _stretch, separated

FAMILY_NAMES = ("cone", "cluster", "aniso", "unbalanced")
_ANISO_RANGE = (3.0, 1.0 / 3.0)
_SPREAD = 0.2
_UNBALANCED = 0.8


def family_data(
    family: str, n: int, d: int, mu: float | Float[Array, ""], *, key: PRNGKeyArray
) -> SeparatedData:
    """n mu-separated points of ``family`` (one of ``FAMILY_NAMES``) in R^d, labels +-1.

    >>> data, mu = family_data("aniso", 100, 10, 0.3, key=jax.random.key(0))
    """
    if family not in FAMILY_NAMES:
        raise ValueError(f"family must be one of {FAMILY_NAMES}, got {family!r}")
    if family in ("cone", "cluster"):
        return separated(n, d, mu, key=key, family=family)
    if family == "unbalanced":
        return separated(n, d, mu, key=key, family="cluster", balance=_UNBALANCED)
    integer("n", n, 2)
    integer("d", d, 2)
    if not isinstance(mu, jax.core.Tracer) and not 0.0 < float(mu) < 1.0:  # pyright: ignore[reportAttributeAccessIssue]
        raise ValueError(f"mu must be in (0, 1) (the target separation), got {mu!r}")
    x, y, achieved = _aniso(key, jnp.asarray(mu, dtype=jnp.result_type(float)), n, d)
    return SeparatedData(Dataset(x, y), achieved)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _aniso(key, target, n, d):
    dtype = target.dtype
    k_normal, k_frame, k_uniform = jax.random.split(key, 3)
    clusters = 2
    g = jax.random.normal(k_normal, (1 + clusters + n, d), dtype=dtype)
    u = _unit(g[0])
    c = _perp_unit(g[1 : 1 + clusters], u)
    c = c.at[1].set(-c[0])
    scales = jnp.geomspace(*_ANISO_RANGE, d).astype(dtype)
    frames = jnp.linalg.qr(jax.random.normal(k_frame, (clusters, d, d), dtype=dtype))[0]
    idx = jnp.arange(n) % clusters
    noise = jnp.einsum("nij,nj->ni", frames[idx], scales * g[1 + clusters :])
    q = u[None, :] + c[idx] + _SPREAD * noise / math.sqrt(d)
    a = q @ u
    p = q - a[:, None] * u[None, :]
    # points 0 and 1 sit in opposite clusters: antipodal off-axis parts, so the tilt angle
    # can reach any target separation (as separated's cluster family)
    p = p.at[1].set(-p[0] * jnp.linalg.norm(p[1]) / jnp.linalg.norm(p[0]))
    a = jnp.maximum(jnp.abs(a), 0.1)
    phi = _stretch(u, p, a, target)
    z = _unit(jnp.cos(phi) * p + jnp.sin(phi) * a[:, None] * u[None, :])
    perm = jax.random.permutation(k_uniform, n)
    y = jnp.where(perm < n // 2 + n % 2, 1.0, -1.0).astype(dtype)
    x = y[:, None] * z
    return x, y, _mu(Dataset(x, y))
