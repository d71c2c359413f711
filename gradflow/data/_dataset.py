"""The one container for training data: inputs ``x`` (n, ...) and targets ``y`` (n, ...)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Shaped

from .._validate import finite_array


def _is_concrete(a) -> bool:
    return not isinstance(a, jax.core.Tracer)  # pyright: ignore[reportAttributeAccessIssue]


class Dataset(eqx.Module):
    """Training set: ``x`` of shape (n, ...) (one example per row), ``y`` of shape (n, ...).

    Targets may have any shape per example: a scalar (labels +-1 for the margin losses, or a
    regression target), a vector (a vector-valued regression), or an integer class id
    (``CrossEntropy``; integer targets stay integers, float targets are cast to the default
    float dtype). Validation (when the arrays are concrete, i.e. outside jit/vmap): real
    (complex refused), rectangular, same n, n >= 1, d >= 1, all entries finite after the cast
    to the default float dtype (1e300 is refused in float32 mode). Binary labels are
    checked by :meth:`check_binary`, which the margin losses and the alignment metrics call.

    >>> data = Dataset(jnp.eye(2), jnp.array([1.0, -1.0]))
    """

    x: Float[Array, "n ..."]
    y: Shaped[Array, "n ..."]

    def __init__(self, x, y):
        if _is_concrete(x) and _is_concrete(y):
            dtype = jnp.result_type(float)
            xa = finite_array("x", x, dtype=dtype)
            ya = finite_array("y", y)
            if ya.ndim < 1:
                raise ValueError(f"y must have shape (n, ...) with n targets, got {ya.shape}")
            if xa.ndim < 2:
                raise ValueError(f"x must have shape (n, ...) with n examples, got {xa.shape}")
            if 0 in xa.shape[1:]:
                raise ValueError(f"x has an empty example dimension (d = 0), shape {xa.shape}")
            if xa.shape[0] != ya.shape[0]:
                raise ValueError(
                    f"x and y must have the same number of examples, got x {xa.shape} "
                    f"and y {ya.shape}"
                )
            if xa.shape[0] == 0:
                raise ValueError("the data set is empty (n = 0)")
            is_int = np.issubdtype(ya.dtype, np.integer) or ya.dtype == bool
            if is_int and ya.size and (ya.min() < -(2**31) or ya.max() >= 2**31):
                raise ValueError("y holds integer labels outside the int32 range")
            if not is_int:
                ya = finite_array("y", ya, dtype=dtype)
            x = jnp.asarray(xa)
            y = jnp.asarray(ya, dtype=jnp.int32 if is_int else dtype)
        self.x = x
        self.y = y

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def d(self) -> int:
        return int(np.prod(self.x.shape[1:]))

    def check_binary(self) -> Dataset:
        """Raise ``ValueError`` unless every label is +1 or -1 (no-op under tracing)."""
        if _is_concrete(self.y):
            y = np.asarray(self.y)
            bad = ~np.isin(y, (-1.0, 1.0))
            if bad.any():
                raise ValueError(
                    f"y must hold labels in {{+1, -1}} for a classification loss; "
                    f"found {sorted(set(np.unique(y[bad]).tolist()))[:5]}"
                )
        return self

    def check_both_classes(self) -> Dataset:
        """Raise ``ValueError`` if one class is empty (x_+ or x_- would be undefined)."""
        self.check_binary()
        if _is_concrete(self.y):
            y = np.asarray(self.y)
            for lab, name in ((1.0, "positive (+1)"), (-1.0, "negative (-1)")):
                if not (y == lab).any():
                    raise ValueError(f"y has an empty {name} class; both classes are needed")
        return self
