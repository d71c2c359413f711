"""Small argument checks that raise one clear ``ValueError`` naming the argument."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive(name: str, value: Any) -> float:
    """Return ``float(value)`` or raise if it is not a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def finite_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Convert to a NumPy array, check its rank and that every entry is finite."""
    arr = np.asarray(value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def integer(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``int(value)`` or raise if it is not an integer (bools excluded) >= ``minimum``."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        need = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {need}, got {value!r}")
    return int(value)
