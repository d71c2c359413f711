"""Du, Lee & Tian's one-filter convolution: f(x) = (1/k) sum_i relu(w . Z_i) over k patches.

The input is a 1-D signal x of length d; patch i is Z_i = x[i*stride : i*stride + size],
i = 0..k-1 with k = (d - size) // stride + 1. ``stride >= size`` gives non-overlapping
patches (Du et al.'s main setting), ``stride < size`` overlapping ones. Every patch is a
linear map of x (extracted by ``gradflow.models.patches``), Z_i = P_i x, so
w . Z_i = (P_i^T w) . x: :meth:`ConvFilter.embedded` returns the k rows P_i^T w (the filter
placed at each patch position), used by the closed-form population loss
(:mod:`gradflow.papers.du`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import integer, positive
from ._kink_protocol import AbstractKinkModel
from ._patches import num_patches, patch_index, patches


def _num_patches(d: int, size: int, stride: int) -> int:
    """k = (d - size) // stride + 1 (validated ints; counted by ``_patches.num_patches``)."""
    d, size, stride = integer("d", d), integer("size", size), integer("stride", stride)
    return num_patches(d, size, stride)


class ConvFilter(AbstractKinkModel):
    """f(x) = (1/k) sum_{i<k} relu(w . Z_i(x)), one shared filter ``w`` of length ``size``.

    Written for ONE signal ``x`` of shape (d,) (``d`` fixed at construction); vmap over data.
    Build with :meth:`gaussian` (random filter, e.g. a teacher w* or a student init) or
    :meth:`from_filter`.

    >>> teacher = ConvFilter.gaussian(d=16, size=4, stride=4, key=jax.random.key(0))
    >>> teacher(jnp.ones(16))
    """

    w: Float[Array, " size"]
    d: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def __check_init__(self):
        integer("stride", self.stride)
        _num_patches(self.d, int(self.w.shape[0]), self.stride)

    @property
    def size(self) -> int:
        return int(self.w.shape[0])

    @property
    def k(self) -> int:
        """Number of patches."""
        return _num_patches(self.d, self.size, self.stride)

    def patches(self, x: Float[Array, " d"]) -> Float[Array, "k size"]:
        """The k patches Z_i = x[i*stride : i*stride + size] of a 1-D signal, as rows."""
        return patches(x, self.size, self.stride)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        return jnp.mean(jax.nn.relu(self.patches(x) @ self.w))

    def preactivations(self, x: Float[Array, " d"]) -> Float[Array, " k"]:
        """z_i = w . Z_i(x) for the k patches (linear in w: the kink protocol)."""
        return self.patches(x) @ self.w

    def masked_call(self, x: Float[Array, " d"], mask: Array) -> Float[Array, ""]:
        """f(x) with the pattern frozen: (1/k) sum_i mask_i (w . Z_i) (mask bool or in [0, 1])."""
        z = self.patches(x) @ self.w
        return jnp.mean(jnp.asarray(mask).astype(z.dtype) * z)

    @property
    def fractional_mask(self) -> bool:
        """True: ``masked_call`` is multiplicative in the mask (sliding-mode slopes)."""
        return True

    def embedded(self, w: Float[Array, " size"] | None = None) -> Float[Array, "k d"]:
        """Rows P_i^T w: the filter placed at every patch position (w . Z_i = row_i . x)."""
        w = self.w if w is None else w
        idx = jnp.asarray(patch_index(self.d, self.size, self.stride))
        rows = jnp.arange(idx.shape[0])[:, None]
        return jnp.zeros((idx.shape[0], self.d), w.dtype).at[rows, idx].set(w[None, :])

    @classmethod
    def from_filter(cls, w, *, d: int, stride: int) -> ConvFilter:
        """Wrap a given filter ``w`` (size,) for signals of length ``d``."""
        w = jnp.asarray(w, dtype=jnp.result_type(float))
        if w.ndim != 1:
            raise ValueError(f"w must be a 1-D filter, got shape {w.shape}")
        return cls(w=w, d=integer("d", d), stride=integer("stride", stride))

    @classmethod
    def gaussian(
        cls, d: int, size: int, stride: int, scale: float = 1.0, *, key: PRNGKeyArray
    ) -> ConvFilter:
        """w ~ N(0, scale^2 I_size / size), so E|w|^2 = scale^2 (init or teacher)."""
        size = integer("size", size)
        scale = positive("scale", scale)
        w = scale * jax.random.normal(key, (size,)) / jnp.sqrt(size)
        return cls.from_filter(w, d=d, stride=stride)

    @classmethod
    def non_overlapping(cls, k: int, size: int, scale: float = 1.0, *, key) -> ConvFilter:
        """k disjoint patches of length ``size`` (d = k * size, stride = size)."""
        k = integer("k", k)
        return cls.gaussian(k * integer("size", size), size, size, scale, key=key)
