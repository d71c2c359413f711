"""Feature matrices of a layer and their rank (Nguyen & Hein's wide-layer condition).

F_k is the N x n_k matrix whose row i is vec(F_k(x_i)), the features of layer k on sample i.
Nguyen & Hein (arXiv 1710.10928): if n_k >= N, rank F_k = N for almost all weights.

Numerical rank (documented tolerance): the number of singular values s_j > tol with
    tol = max(N, n_k) * eps_dtype * s_max   (NumPy ``matrix_rank``'s default; eps_dtype = 2.2e-16
                                              in float64, 1.2e-7 in float32),
or an explicit ``tol`` (absolute) / ``rtol`` (relative to s_max).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..data.dataset import Dataset


def feature_matrix(model: Any, data: Dataset | Array, *, layer: int) -> Float[Array, "N n_k"]:
    """F_k: features of ``layer`` (1-based) for every sample, one row a sample.

    The model must provide ``features(x, layer)`` for one example (e.g. :class:`DeepCNN`).

    >>> F = feature_matrix(net, data, layer=1)    # (N, n_1)
    """
    x = data.x if isinstance(data, Dataset) else jnp.asarray(data)
    if not hasattr(model, "features"):
        raise ValueError(f"{type(model).__name__} has no features(x, layer) method")
    return jax.vmap(lambda xi: model.features(xi, layer))(x)


def singular_values(f: Float[Array, "N m"]) -> np.ndarray:
    """Singular values of f in decreasing order (min(N, m) of them), as NumPy float."""
    return np.linalg.svd(np.asarray(f), compute_uv=False)


def rank_tolerance(f: Float[Array, "N m"], s: np.ndarray | None = None) -> float:
    """The default tolerance tol = max(N, m) * eps_dtype * s_max (see module docstring)."""
    s = singular_values(f) if s is None else s
    eps = np.finfo(np.asarray(f).dtype).eps
    return float(max(f.shape) * eps * (s[0] if s.size else 0.0))


def numerical_rank(
    f: Float[Array, "N m"], *, tol: float | None = None, rtol: float | None = None
) -> int:
    """#{s_j > tol}; default tol = max(N, m) * eps * s_max, or ``tol``, or ``rtol * s_max``."""
    if tol is not None and rtol is not None:
        raise ValueError("give tol or rtol, not both")
    s = singular_values(f)
    if tol is None:
        tol = rank_tolerance(f, s) if rtol is None else float(rtol * (s[0] if s.size else 0.0))
    return int(np.sum(s > tol))


def sigma_min(f: Float[Array, "N m"]) -> float:
    """The smallest of the min(N, m) singular values (> 0 iff f has full rank min(N, m))."""
    s = singular_values(f)
    return float(s[-1]) if s.size else 0.0


def feature_rank(model: Any, data: Dataset | Array, *, layer: int) -> dict[str, float]:
    """{N, n_k, rank, full (= min(N, n_k)), sigma_min, sigma_max, tol} of F_layer."""
    f = feature_matrix(model, data, layer=layer)
    s = singular_values(f)
    tol = rank_tolerance(f, s)
    n, m = f.shape
    return {
        "N": n,
        "n_k": m,
        "rank": int(np.sum(s > tol)),
        "full": min(n, m),
        "sigma_min": float(s[-1]),
        "sigma_max": float(s[0]),
        "tol": tol,
    }
