"""Handwritten digits, two classes: scikit-learn's bundled 8x8 digits and MNIST IDX files.

Both loaders return a :class:`Dataset` with labels +1 for ``pair[0]`` and -1 for ``pair[1]``,
images flattened to rows, in the order they appear in the source. Preprocessing, in order:

1. ``normalize="pixel"`` (default): divide by the largest possible pixel value (16 for the
   sklearn digits, 255 for MNIST uint8), so pixels lie in [0, 1].
2. ``center=True`` (default, as in Min et al.'s MNIST experiment): subtract the mean image
   over the SELECTED images (both classes together), so sum_i x_i = 0.
3. ``normalize="unit"``: pixel scaling, centring, then every row scaled to |x_i| = 1
   (X_min = X_max = 1). ``normalize=None`` keeps raw pixel values (before centring).

Nothing is downloaded: sklearn's digits ship with scikit-learn (imported lazily), and
:func:`mnist` reads IDX files the user already has.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ._dataset import Dataset

NORMALIZE = ("pixel", "unit", None)

# IDX type byte -> big-endian numpy dtype
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST format), plain or gzip-compressed, as a NumPy array.

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), a byte with the number of dimensions k, k big-endian uint32
    sizes, then the data, big-endian, row-major. Gzip is detected from the content (magic
    1f 8b), not the file name. Raises ``ValueError`` naming the path if the file is missing,
    unreadable, corrupt, truncated, or has trailing bytes.

    >>> images = read_idx("mnist/train-images-idx3-ubyte.gz")   # (60000, 28, 28) uint8
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"IDX file not found: {str(p)!r}") from None
    except OSError as e:
        raise ValueError(f"cannot read IDX file {str(p)!r}: {e}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise ValueError(f"corrupt or truncated gzip IDX file {str(p)!r}: {e}") from None
    if len(raw) < 4:
        raise ValueError(f"not an IDX file (too short, {len(raw)} bytes): {str(p)!r}")
    zero, type_byte, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or type_byte not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"not an IDX file (bad magic number 0x{raw[:4].hex()}): {str(p)!r}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"truncated IDX header in {str(p)!r}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[type_byte]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no int64 overflow
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise ValueError(
            f"IDX file {what}: {str(p)!r} declares shape {dims} ({expected} data bytes), "
            f"holds {got}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _check_pair(pair) -> tuple[int, int]:
    a = b = -1
    try:
        a, b = (int(c) for c in pair)
        ok = len(tuple(pair)) == 2 and all(float(c) == int(c) for c in pair)
    except (TypeError, ValueError):
        ok = False
    if not ok or not (0 <= a <= 9 and 0 <= b <= 9) or a == b:
        raise ValueError(f"pair must be two different digits in 0..9, got {pair!r}")
    return a, b


def _binary(
    images: np.ndarray,
    labels: np.ndarray,
    pair,
    center: bool,
    normalize: str | None,
    max_pixel: float,
    n_per_class: int | None,
    source: str,
) -> Dataset:
    a, b = _check_pair(pair)
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    if n_per_class is not None and (
        not isinstance(n_per_class, int) or isinstance(n_per_class, bool) or n_per_class < 1
    ):
        raise ValueError(f"n_per_class must be None or a positive integer, got {n_per_class!r}")
    labels = np.asarray(labels).ravel()
    idx_a, idx_b = np.flatnonzero(labels == a), np.flatnonzero(labels == b)
    for digit, idx in ((a, idx_a), (b, idx_b)):
        if idx.size == 0:
            raise ValueError(f"no images of digit {digit} in {source}")
    if n_per_class is not None:
        idx_a, idx_b = idx_a[:n_per_class], idx_b[:n_per_class]
    keep = np.sort(np.concatenate([idx_a, idx_b]))
    x = images[keep].reshape(keep.size, -1).astype(np.float64)
    y = np.where(labels[keep] == a, 1.0, -1.0)
    if normalize in ("pixel", "unit"):
        x = x / max_pixel
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    if normalize == "unit":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("normalize='unit': an image has zero norm after centring")
        x = x / norms
    return Dataset(x, y)


def digits(
    pair: tuple[int, int] = (0, 1),
    center: bool = True,
    normalize: str | None = "pixel",
    n_per_class: int | None = None,
) -> Dataset:
    """Two digit classes from scikit-learn's bundled 8x8 digits: x (n, 64), y = +-1.

    y = +1 for ``pair[0]``, -1 for ``pair[1]``; ``n_per_class`` keeps the first images of
    each class. Centring subtracts the mean over the selected images; see the module
    docstring for ``normalize``. 0 vs 1 gives n = 360 (178 zeros, 182 ones).

    >>> data = digits((0, 1))          # offline: no download
    """
    from sklearn.datasets import load_digits  # noqa: PLC0415 - heavy, optional at import

    bunch: Any = load_digits()
    return _binary(
        np.asarray(bunch.images), np.asarray(bunch.target), pair, center, normalize, 16.0,
        n_per_class, "scikit-learn's digits",
    )


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise ValueError(f"MNIST file {stem}[.gz] not found in {str(directory)!r}")


def mnist(
    directory: str | os.PathLike,
    pair: tuple[int, int] = (0, 1),
    center: bool = True,
    normalize: str | None = "pixel",
    split: str = "train",
    n_per_class: int | None = None,
) -> Dataset:
    """Two MNIST classes from IDX files in ``directory``: x (n, 784), y = +-1.

    Reads ``{split}-images-idx3-ubyte`` and ``{split}-labels-idx1-ubyte`` (each plain or
    ``.gz``); ``split`` is "train" or "t10k". Preprocessing as :func:`digits` (pixels / 255,
    centring over the selected images). Never downloads.

    >>> data = mnist("~/data/mnist", pair=(0, 1))
    """
    if split not in ("train", "t10k"):
        raise ValueError(f"split must be 'train' or 't10k', got {split!r}")
    d = Path(directory).expanduser()
    if not d.is_dir():
        raise ValueError(f"directory not found: {str(d)!r}")
    images = read_idx(_find(d, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find(d, f"{split}-labels-idx1-ubyte"))
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files in {str(d)!r} disagree: images {images.shape}, labels {labels.shape}"
        )
    return _binary(images, labels, pair, center, normalize, 255.0, n_per_class, f"{d}")
