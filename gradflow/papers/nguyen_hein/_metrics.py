"""Feature matrices of a layer and their rank (Nguyen & Hein's wide-layer condition).

F_k is the N x n_k matrix whose row i is vec(F_k(x_i)), the features of layer k on sample i.
Nguyen & Hein (arXiv 1710.10928): if n_k >= N, rank F_k = N for almost all weights.

Numerical rank (documented tolerance, the one of :func:`gradflow.metrics.numerical_rank`
and NumPy's ``matrix_rank``): the number of singular values s_j > tol with
    tol = max(N, n_k) * eps_dtype * s_max     (eps_dtype = 2.2e-16 in float64, 1.2e-7 in float32).
sigma_min is the smallest of the min(N, n_k) singular values: > 0 iff F_k has full rank.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ...data import Dataset
from ...metrics import rank_rtol


def feature_matrix(model: Any, data: Dataset | ArrayLike, *, layer: int) -> Float[Array, "N n_k"]:
    """F_k: features of ``layer`` (1-based) for every sample, one row a sample.

    The model must provide ``features(x, layer)`` for one example (e.g. :class:`DeepCNN`).

    >>> F = feature_matrix(net, data, layer=1)    # (N, n_1)
    """
    x = data.x if isinstance(data, Dataset) else jnp.asarray(data)
    if not hasattr(model, "features"):
        raise ValueError(f"{type(model).__name__} has no features(x, layer) method")
    return jax.vmap(lambda xi: model.features(xi, layer))(x)


def feature_rank(model: Any, data: Dataset | ArrayLike, *, layer: int) -> dict[str, int | float]:
    """{N, n_k, rank, full = min(N, n_k), sigma_min, sigma_max, tol} of F_layer.

    rank counts singular values above ``tol`` = max(N, n_k) * eps_dtype * sigma_max.

    >>> feature_rank(net, data, layer=1)["rank"] == min(data.n, net.widths[0])
    """
    f = np.asarray(feature_matrix(model, data, layer=layer))
    s = np.linalg.svd(f, compute_uv=False)
    tol = float(rank_rtol(f) * s[0])
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
