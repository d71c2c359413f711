"""Rank measures of weight and feature matrices (pure jnp, jit/vmap-friendly).

Min et al. (Theorem 1 / Sec. 3.3): after alignment |W|_F^2 <= 2 |W|_2^2 + O(eps), i.e. the
stable rank of the first layer W (rows w_j) ends <= ~2 (and near 1 on 0-vs-1 digits).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int


def _matrix(W) -> Array:
    W = jnp.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {W.shape}")
    return W


def stable_rank(W: Float[Array, "h d"]) -> Float[Array, ""]:
    """Stable rank |W|_F^2 / |W|_2^2 (in [1, rank W]; 0 for the zero matrix).

    >>> stable_rank(jnp.eye(3))     # 3.0
    """
    W = _matrix(W)
    s = jnp.linalg.svd(W, compute_uv=False)
    top = s[0] ** 2
    return jnp.where(top > 0, jnp.sum(s**2) / jnp.where(top > 0, top, 1.0), 0.0)


def singular_values(W: Float[Array, "m k"]) -> Float[Array, " r"]:
    """Singular values of W, largest first (r = min(m, k))."""
    return jnp.linalg.svd(_matrix(W), compute_uv=False)


def sigma_min(W: Float[Array, "m k"]) -> Float[Array, ""]:
    """Smallest singular value sigma_min(W) (of the min(m, k) ones)."""
    return singular_values(W)[-1]


def rank_rtol(W: Float[Array | np.ndarray, "m k"]) -> float:
    """The one default relative rank tolerance: max(m, k) * eps_dtype (NumPy's matrix_rank).

    A singular value counts towards the rank when s_j > rank_rtol(W) * sigma_max
    (eps_dtype = 2.2e-16 in float64, 1.2e-7 in float32).
    """
    return max(W.shape) * float(np.finfo(np.dtype(W.dtype)).eps)


def numerical_rank(W: Float[Array, "m k"], rtol: float | None = None) -> Int[Array, ""]:
    """Number of singular values > rtol * sigma_max (default :func:`rank_rtol`).

    The feature-rank test of Nguyen & Hein: rank F_k = min(N, n_k) for generic weights.
    """
    W = _matrix(W)
    s = jnp.linalg.svd(W, compute_uv=False)
    if rtol is None:
        rtol = rank_rtol(W)
    return jnp.sum(s > rtol * s[0]).astype(jnp.int32)
