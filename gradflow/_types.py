"""jaxtyping aliases shared across gradflow."""

from jaxtyping import Array, Float, Int, PyTree

Scalar = Float[Array, ""]
Inputs = Float[Array, "n d"]
Labels = Float[Array, " n"]
Params = PyTree[Array]

__all__ = ["Array", "Float", "Int", "PyTree", "Scalar", "Inputs", "Labels", "Params"]
