"""Stop conditions for ``solve_flow``: real-valued, so the root finder locates the time.

A stop is an Equinox module whose ``__call__(model, data, loss) -> scalar`` is > 0 before
the event and crosses to <= 0 when it happens. diffrax detects the sign change within a step
and a bisection root finder locates the crossing on the dense interpolant, so the event time
is accurate to the root-finder tolerance, not to the step size.

Stops are compared by value (their fields are plain numbers), so two calls with a freshly
built ``loss_below(1e-2)`` share one compiled solve. Write your own by subclassing
:class:`AbstractStop` with typed fields rather than passing a fresh lambda each time.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._validate import positive


class AbstractStop(eqx.Module):
    """A stop condition: ``stop(model, data, loss) -> real``, > 0 before, <= 0 at the event.

    Subclass it with plain-number fields (compared by value) for a stop that never
    recompiles::

        class WeightAbove(gf.AbstractStop):
            bound: float
            def __call__(self, model, data, loss):
                return self.bound - jnp.max(jnp.abs(model.w))
    """

    name: ClassVar[str] = "stop"

    @abc.abstractmethod
    def __call__(self, model: Any, data: Any, loss: Array) -> Array:
        """The event value: > 0 before the event, <= 0 once it has happened."""


class Stop(AbstractStop):
    """Wrap a callable ``fn(model, data, loss) -> real`` as a stop.

    Compared by the identity of ``fn``: define ``fn`` once (a module-level function), not
    as a fresh lambda in every call, or every call compiles anew.
    """

    fn: Callable[[Any, Any, Array], Array] = eqx.field(static=True)
    name: ClassVar[str] = "stop"

    def __call__(self, model, data, loss) -> Array:
        return self.fn(model, data, loss)


class LossBelow(AbstractStop):
    """Stop when L <= target (value: log L - log target, well scaled over decades)."""

    target: float = eqx.field(static=True)
    name: ClassVar[str] = "loss_below"

    def __check_init__(self):
        positive("target", self.target)

    def __call__(self, model, data, loss) -> Array:
        return jnp.log(loss) - jnp.log(self.target)


def loss_below(target: float) -> LossBelow:
    """Stop when the loss reaches ``target`` (> 0): ``LossBelow(target)``."""
    return LossBelow(positive("target", target))
