"""Small argument checks that raise one clear ``ValueError`` naming the argument.

The one place for boundary checks. Every helper accepts Python, NumPy and (concrete) JAX
scalars, refuses bools, strings and complex numbers, and says what it got and what it wants.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def real(name: str, value: Any) -> float:
    """Return ``float(value)`` for a real scalar (Python, NumPy or 0-d JAX/NumPy array).

    Refuses bools, strings, complex numbers and arrays with more than one entry; the result
    may be non-finite (callers check the range).
    """
    if isinstance(value, bool | np.bool_ | str | bytes) or value is None:
        raise ValueError(f"{name} must be a real number, got {_describe(value)}")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        raise ValueError(f"{name} must be a real number, not complex, got {_describe(value)}")
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is not None and shape == ():
        kind = np.dtype(dtype).kind
        if kind in "fiu":
            return float(value)
        if kind == "c":
            raise ValueError(f"{name} must be a real number, not complex, got {_describe(value)}")
    raise ValueError(f"{name} must be a real number, got {_describe(value)}")


def finite(name: str, value: Any) -> float:
    """Return ``float(value)`` or raise if it is not a finite real number."""
    v = real(name, value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def positive(name: str, value: Any) -> float:
    """Return ``float(value)`` or raise if it is not a finite real number > 0."""
    v = real(name, value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def open_unit(name: str, value: Any, what: str = "") -> float:
    """Return ``float(value)`` or raise if it is not a real number in the open interval (0, 1)."""
    v = real(name, value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1){what}, got {value!r}")
    return v


def integer(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``int(value)`` or raise if it is not an integer (bools excluded) >= ``minimum``.

    Python ints, NumPy integers and 0-d integer arrays pass; floats (even 2.0) are refused.
    """
    need = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok and getattr(value, "shape", None) == () and not isinstance(value, np.bool_):
        ok = np.dtype(getattr(value, "dtype", object)).kind in "iu"
    if not ok:
        raise ValueError(f"{name} must be {need}, got {_describe(value)}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be {need}, got {v}")
    return v


def one_of(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` or raise if it is not one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {_describe(value)}")
    return value


def finite_array(
    name: str, value: Any, ndim: int | None = None, dtype: Any = None
) -> np.ndarray:
    """Convert to a real NumPy array (cast to ``dtype`` if given), check its rank, and that
    every entry is finite AFTER the cast (1e300 is refused in float32 mode)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{name} must be a rectangular numeric array (ragged nested lists?): {e}"
        ) from None
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(
            f"{name} must be a real numeric array, got dtype {arr.dtype} "
            "(ragged nested lists or non-numbers?)"
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if dtype is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(dtype)
    if arr.dtype != bool and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        where = f" after the cast to {np.dtype(dtype).name}" if dtype is not None else ""
        raise ValueError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf){where}; "
            f"largest finite {np.dtype(arr.dtype).name} is {np.finfo(arr.dtype).max:.3g}"
            if np.issubdtype(arr.dtype, np.floating)
            else f"{name} contains {bad} non-finite value(s) (NaN or inf)"
        )
    return arr
