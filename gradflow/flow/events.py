"""Stop conditions for ``solve_flow``: real-valued, so the root finder locates the time.

Each condition is a function ``value(model, data, loss_value) -> scalar`` that is > 0 before
the event and crosses to <= 0 when it happens. diffrax detects the sign change within a step
and ``optimistix.Newton`` finds the crossing on the dense interpolant, so the event time is
accurate to the root-finder tolerance, not to the step size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._validate import positive


class Stop(eqx.Module):
    """A stop condition: ``fn(model, data, loss) -> real`` crossing from > 0 to <= 0."""

    fn: Callable[[Any, Any, Array], Array]
    name: str = eqx.field(static=True, default="stop")

    def __call__(self, model, data, loss) -> Array:
        return self.fn(model, data, loss)


def loss_below(target: float) -> Stop:
    """Stop when L <= target (value: log L - log target, well scaled over decades)."""
    target = positive("target", target)
    return Stop(lambda model, data, loss: jnp.log(loss) - jnp.log(target), name="loss_below")


def aligned(delta: float) -> Stop:
    """Stop when every neuron is aligned (cos(w_j, x_sign(v_j)) >= 1 - delta) or dead.

    Uses :func:`gradflow.metrics.alignment_gap` (TwoLayerReLU-style models with ``w``, ``v``).
    """
    from ..metrics.alignment import alignment_gap

    delta = positive("delta", delta)
    return Stop(lambda model, data, loss: alignment_gap(model, data, delta), name="aligned")
