"""The alignment stop for ``solve_flow``: every neuron aligned with its class or dead."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
from jaxtyping import Array

from .._validate import positive
from ..flow import AbstractStop
from ._alignment import alignment_gap


class Aligned(AbstractStop):
    """Stop when every neuron has cos(w_j, x_{sign v_j}) >= 1 - delta or is dead.

    Value: :func:`alignment_gap` (> 0 before, <= 0 once aligned), so the root finder
    locates the alignment time (``traj.t_event``, on the loss's clock). ``delta`` > 0 is
    compared by value: a fresh ``aligned(1e-2)`` reuses the compiled solve.

    >>> traj = solve_flow(model, data, t1=50.0, stop=aligned(1e-2))
    """

    delta: float = eqx.field(static=True)
    name: ClassVar[str] = "aligned"

    def __check_init__(self):
        positive("delta", self.delta)

    def __call__(self, model, data, loss) -> Array:
        return alignment_gap(model, data, self.delta)


def aligned(delta: float) -> Aligned:
    """Stop when every neuron is aligned (cos(w_j, x_sign(v_j)) >= 1 - delta) or dead."""
    return Aligned(positive("delta", delta))
