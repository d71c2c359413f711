"""Kernel condensation of Zhou et al. (arXiv 2305.09947) -- OUR RECONSTRUCTION of the theory.

Model: f(x) = sum_k sum_q a_kq sigma(w_k . X_q) (``TwoLayerCNN`` with pooling "none"),
X = patches(x) (P, p), sigma of multiplicity one (sigma(0) = 0, sigma'(0) != 0: tanh,
x*sigmoid). While f ~ 0 (small init), l'(y f) ~ l'(0) and sigma(z) ~ sigma'(0) z, so on the
MEAN-loss clock the early phase is LINEAR in (w_k, a_k):

    dw_k/dt = c Z a_k,   da_k/dt = c Z^T w_k,   c = sigma'(0) |l'(0)|,

with the data matrix (documented here once)

    Z = (1/n) sum_i y_i X_i^T   in R^{p x P}      (X_i = patches(x_i): P patches of length p)

and its symmetrisation S = [[0, Z], [Z^T, 0]] (size p + P). The eigenvalues of S are
+-s_j (the singular values of Z); the top eigenvector is (u_1, v_1) / sqrt(2) with u_1, v_1
the top left/right singular vectors. Every kernel's component along u_1 grows like
exp(c s_1 t), the next like exp(c s_2 t): with an eigenvalue gap s_1 > s_2 the kernels
condense onto +-u_1, the PREDICTED DIRECTION, up to the end of the early phase
t_early ~ log(1/eps) / (c s_1) (when f reaches O(1)), with a residual of relative size
about eps^{(s_1 - s_2) / s_1}: smaller eps condenses more.
With global pooling the readout a_k is one scalar shared by all positions, so Z is replaced
by Z 1 / P (mean) or Z 1 (sum), a single column: the predicted direction is Z 1 / |Z 1|.
|l'(0)| = 1 for exp and square loss, 1/2 for logistic; sigma'(0) = 1 (tanh), 1/2 (x*sigmoid).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ...data import Dataset
from ...losses import AbstractLoss, as_loss
from ...metrics import unit as _unit
from ...models import CNN_ACTIVATIONS, check_activation, patches, slope_at_zero

Size = int | tuple[int, ...]


def data_matrix(
    data: Dataset, size: Size, stride: Size | None = None, pooling: str = "none"
) -> Float[Array, "p Q"]:
    """Z = (1/n) sum_i y_i patches(x_i)^T, (p, P); with pooling "mean"/"sum", Z 1 / P or Z 1
    as a (p, 1) column (the matrix the early-phase dynamics of the kernels see).

    >>> data_matrix(data, 3, 1).shape       # 1-D signals of length 12 -> (3, 10)
    """
    if pooling not in ("none", "mean", "sum"):
        raise ValueError(f"pooling must be 'none', 'mean' or 'sum', got {pooling!r}")
    if data.x.ndim not in (2, 3):
        raise ValueError(
            f"data.x must hold 1-D signals (n, L) or 2-D images (n, H, W), got {data.x.shape}"
        )
    xs = jax.vmap(lambda x: patches(x, size, stride))(data.x)  # (n, P, p)
    z = jnp.einsum("i,iqj->jq", data.y, xs) / data.x.shape[0]
    if pooling == "none":
        return z
    col = jnp.sum(z, axis=1, keepdims=True)
    return col / z.shape[1] if pooling == "mean" else col


def symmetrised(z: Float[Array, "p Q"]) -> Float[Array, "m m"]:
    """S = [[0, Z], [Z^T, 0]], (p + P, p + P): eigenvalues +-s_j(Z), eigenvectors (u, +-v)."""
    p, q = z.shape
    top = jnp.concatenate([jnp.zeros((p, p), z.dtype), z], axis=1)
    bottom = jnp.concatenate([z.T, jnp.zeros((q, q), z.dtype)], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


def top_directions(
    z: Float[Array, "p Q"], k: int = 1
) -> tuple[Float[Array, " k"], Float[Array, "k p"]]:
    """The k largest eigenvalues s_j of S = symmetrised(Z) and the kernel parts u_j (unit).

    u_j = the j-th left singular vector of Z (= top eigenvectors of Z Z^T). The sign is fixed
    so that the largest-magnitude entry of u_j is positive.
    """
    if not isinstance(k, int) or not 1 <= k <= min(z.shape):
        raise ValueError(f"k must be an integer in [1, {min(z.shape)}], got {k!r}")
    u, s, _ = jnp.linalg.svd(z, full_matrices=False)
    u = u[:, :k].T
    pivot = jnp.take_along_axis(u, jnp.argmax(jnp.abs(u), axis=1)[:, None], axis=1)
    return s[:k], u * jnp.sign(pivot)


def predicted_direction(
    data: Dataset, size: Size, stride: Size | None = None, pooling: str = "none"
) -> Float[Array, " p"]:
    """u_1: the direction the kernels condense onto in the early phase (unit, length p)."""
    return top_directions(data_matrix(data, size, stride, pooling), 1)[1][0]


def early_time(
    z: Float[Array, "p Q"], eps: float, activation: str = "tanh", loss: str | AbstractLoss = "exp"
) -> float:
    """t_early = log(1/eps) / (c s_1), c = sigma'(0) |l'(0)|, on the MEAN-loss clock.

    ``loss``: a loss object or name; only its slope at zero, ``loss.slope_at_zero()``
    (exp 1, logistic 1/2, square 1), enters.
    """
    slope = slope_at_zero(check_activation(activation, CNN_ACTIVATIONS))
    if slope is None:
        raise ValueError(f"activation {activation!r} has no slope at 0 (not multiplicity one)")
    loss_slope = as_loss(loss).slope_at_zero()
    s1 = float(np.linalg.svd(np.asarray(z), compute_uv=False)[0])
    return float(np.log(1.0 / eps) / (slope * loss_slope * s1))


def kernel_cosines(w: Float[Array, "*T K p"]) -> Float[Array, "*T K K"]:
    """Pairwise cos(w_k, w_l) of the kernels."""
    wu = _unit(w)
    return wu @ jnp.swapaxes(wu, -1, -2)


def order_by_projection(w: Float[Array, "K p"], direction: Float[Array, " p"]) -> Array:
    """Permutation sorting the kernels by their projection w_k . u (most negative first)."""
    return jnp.argsort(w @ direction)


def ordered_cosines(
    w: Float[Array, "K p"], direction: Float[Array, " p"], order: Array | None = None
) -> Float[Array, "K K"]:
    """Pairwise cosine matrix with kernels ordered by projection on ``direction`` (or by a
    given ``order``, e.g. the final one, to follow the same kernels over time)."""
    idx = order_by_projection(w, direction) if order is None else order
    return kernel_cosines(w[idx])


def cos_to_direction(
    w: Float[Array, "*T K p"], direction: Float[Array, " p"]
) -> Float[Array, "*T K"]:
    """cos(w_k, u) for every kernel (signed; condensation means |cos| -> 1)."""
    return _unit(w) @ _unit(direction)


def condensation_index(w: Float[Array, "*T K p"], threshold: float = 0.95) -> Float[Array, "*T"]:
    """Fraction of kernel pairs k < l with |cos(w_k, w_l)| > threshold (1: fully condensed,
    about 0 for random kernels in dimension p >> 1)."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    c = jnp.abs(kernel_cosines(w))
    k = w.shape[-2]
    if k < 2:
        raise ValueError("condensation_index needs at least 2 kernels")
    iu = np.triu_indices(k, 1)
    return jnp.mean(c[..., iu[0], iu[1]] > threshold, axis=-1)


class CondensationSummary(eqx.Module):
    """``fn(t, model)`` for ``solve_flow``/``gd``: saves the kernels ``w`` (K, p), the
    ``cos`` (K,) of each kernel to ``direction``, and the ``index`` (condensation index)."""

    direction: Float[Array, " p"]
    threshold: float = eqx.field(static=True, default=0.95)

    def __call__(self, t, model: Any) -> dict[str, Array]:
        return {
            "w": model.w,
            "cos": cos_to_direction(model.w, self.direction),
            "index": condensation_index(model.w, self.threshold),
        }
