"""Patch extraction for convolutional models: ``patches(x, size, stride)`` for 1-D and 2-D.

A patch of a 1-D signal x (L,) is x[s*q : s*q + p] for q = 0..P-1, P = (L - p) // s + 1
(non-overlapping when s = p, overlapping when s < p; a tail shorter than p is dropped).
A 2-D image x (H, W) gives patches x[s_h*a : s_h*a + p_h, s_w*b : s_w*b + p_w], ordered
row-major over (a, b), each flattened row-major to a vector of length p_h * p_w.

A convolution with filter w (no padding, "valid") is then ``patches(x, size, stride) @ w``,
the form every gradflow conv model and metric uses. Sizes and strides are static ints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import Array, Float

Size = int | tuple[int, ...]


def _as_tuple(name: str, value: Any, ndim: int) -> tuple[int, ...]:
    msg = f"{name} must be an int or a tuple of {ndim} ints, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(msg)
    if isinstance(value, int | np.integer):
        value = (int(value),) * ndim
    try:
        out = tuple(value)
    except TypeError:
        raise ValueError(msg) from None
    if len(out) != ndim or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in out
    ):
        raise ValueError(msg)
    if any(v < 1 for v in out):
        raise ValueError(f"{name} must be >= 1 in every dimension, got {value!r}")
    return tuple(int(v) for v in out)


def patch_grid(
    shape: int | tuple[int, ...], size: Size, stride: Size | None = None
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Validate a (signal shape, patch size, stride) triple; return (size, stride, grid).

    ``grid`` is the number of patch positions per dimension, (P,) in 1-D or (P_h, P_w) in
    2-D; ``stride=None`` means non-overlapping patches (stride = size). An int ``shape`` is
    the length of a 1-D signal.

    >>> patch_grid((12,), 3)        # ((3,), (3,), (4,))
    """
    shape = (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(s) for s in shape)
    ndim = len(shape)
    if ndim not in (1, 2):
        raise ValueError(f"patches need a 1-D signal (L,) or a 2-D image (H, W), got shape {shape}")
    size_t = _as_tuple("size", size, ndim)
    stride_t = size_t if stride is None else _as_tuple("stride", stride, ndim)
    for axis, (n, p) in enumerate(zip(shape, size_t, strict=True)):
        if p > n:
            raise ValueError(
                f"patch size {size_t} does not fit in a signal of shape {shape} "
                f"(axis {axis}: {p} > {n})"
            )
    grid = tuple((n - p) // s + 1 for n, p, s in zip(shape, size_t, stride_t, strict=True))
    return size_t, stride_t, grid


def num_patches(shape: int | tuple[int, ...], size: Size, stride: Size | None = None) -> int:
    """Number of patches P of a signal of ``shape`` (product of the grid); an int ``shape`` d
    is a 1-D signal: P = (d - size) // stride + 1.

    >>> num_patches(16, 4, 2)       # 7
    """
    return int(np.prod(patch_grid(shape, size, stride)[2]))


def patch_index(shape: int | tuple[int, ...], size: Size, stride: Size | None = None) -> np.ndarray:
    """Integer array (P, p) of flat positions in ``x.ravel()`` read by each patch."""
    size_t, stride_t, grid = patch_grid(shape, size, stride)
    if len(grid) == 1:
        starts = stride_t[0] * np.arange(grid[0])
        return starts[:, None] + np.arange(size_t[0])[None, :]
    (ph, pw), (sh, sw), (gh, gw) = size_t, stride_t, grid
    width = int(shape[1])  # pyright: ignore[reportIndexIssue]
    rows = (sh * np.arange(gh))[:, None, None, None] + np.arange(ph)[None, None, :, None]
    cols = (sw * np.arange(gw))[None, :, None, None] + np.arange(pw)[None, None, None, :]
    return (rows * width + cols).reshape(gh * gw, ph * pw)


def patches(
    x: Float[Array, "*signal"], size: Size, stride: Size | None = None
) -> Float[Array, "P p"]:
    """Patch matrix X (P, p) of one signal (L,) or image (H, W); row q is patch q, flattened.

    X[q] = x[s*q : s*q + p] in 1-D; row-major over the 2-D grid, each patch row-major.
    ``stride=None`` gives non-overlapping patches. A valid (no padding) convolution of x
    with a filter w (p,) is ``patches(x, size, stride) @ w``.

    >>> patches(jnp.arange(5.0), 2, 1)      # [[0,1],[1,2],[2,3],[3,4]]
    >>> patches(jnp.ones((8, 8)), 3, 1).shape   # (36, 9)
    """
    idx = patch_index(tuple(x.shape), size, stride)
    return x.reshape(-1)[idx]
