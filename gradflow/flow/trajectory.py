"""Trajectory: what one gradient-flow (or GD) run returns, and its readable status."""

from __future__ import annotations

import enum
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int


class Status(enum.IntEnum):
    """Outcome of a solve. Every member carries the message a user reads (``.message``)."""

    SUCCESS = 0
    EVENT = 1
    MAX_STEPS = 2
    NONFINITE = 3
    FAILED = 4
    MAX_EVENTS = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def ok(self) -> bool:
        """True when the run reached its end time or stopped on its requested event."""
        return self in (Status.SUCCESS, Status.EVENT)


_MESSAGES = {
    Status.SUCCESS: "reached t1",
    Status.EVENT: "stopped early: the requested stop condition was met",
    Status.MAX_STEPS: "did NOT reach t1: max_steps exhausted (raise FlowConfig.max_steps)",
    Status.NONFINITE: "did NOT reach t1: the state or loss became non-finite (NaN/inf)",
    Status.FAILED: "did NOT reach t1: the step size collapsed (solver failure)",
    Status.MAX_EVENTS: "did NOT reach t1: too many activation switches (max_events cap)",
}


class Trajectory(eqx.Module):
    """A saved gradient-flow (or GD) run.

    Fields:
        ts: (T,) saved times on the ``clock`` of the loss ("mean": t_mean, "sum": t_sum,
            with t_sum = t_mean / n). Slots after an early stop are ``inf``.
        model: the model with every array leaf stacked over the T saved times (``None``
            when a summary ``fn`` was given instead).
        summary: ``fn(t, model)`` stacked over the saved times (``None`` without ``fn``).
        loss: (T,) loss at the saved times (``inf`` in unused slots).
        final: the model at the last time reached (``t_final``).
        t_final: time reached; equals t1 unless the run stopped early or failed.
        t_event: time of the stop event (root-found), NaN if none occurred.
        result: integer status code; read it as ``traj.status`` (a :class:`Status`).
        stats: num_steps, num_accepted, num_rejected, grad_evals (int arrays); the
            kink-aware mode adds num_switches and num_kink_stops.
        events: ``None`` for the bare solve; with ``FlowConfig(kinks="track")`` a
            ``SwitchLog`` of every activation switch (time, neuron, sample, direction).
        clock: "mean" or "sum": the loss reduction whose flow time ``ts`` measures.
        method: "gf" (exact flow) or "gd" (discrete steps at t = eta * k).
    """

    ts: Float[Array, " T"]
    model: Any
    summary: Any
    loss: Float[Array, " T"]
    final: Any
    t_final: Float[Array, ""]
    t_event: Float[Array, ""]
    result: Int[Array, ""]
    stats: dict[str, Array]
    events: Any = None
    clock: str = eqx.field(static=True, default="mean")
    method: str = eqx.field(static=True, default="gf")

    @property
    def status(self) -> Status:
        """Readable status (for a single run; use ``statuses`` for a batch)."""
        r = np.asarray(self.result)
        if r.ndim:
            raise ValueError("batched Trajectory: use .statuses for one status per run")
        return Status(int(r))

    @property
    def statuses(self) -> list[Status]:
        return [Status(int(r)) for r in np.asarray(self.result).ravel()]

    @property
    def saved(self) -> Array:
        """Boolean mask of the real (filled) save slots."""
        return jnp.isfinite(self.ts)

    def at(self, i: int) -> Any:
        """The model at saved index ``i``."""
        if self.model is None:
            raise ValueError("this Trajectory saved summaries only (fn=...), not models")
        return jax.tree_util.tree_map(
            lambda a: a[i] if eqx.is_array(a) else a, self.model
        )

    def describe(self) -> str:
        """One line: status, time reached, steps, gradient evaluations."""
        s = {k: int(np.asarray(v)) for k, v in self.stats.items()}
        return (
            f"{self.status.name.lower()} ({self.status.message}); t_final={float(self.t_final):.4g}"
            f" [{self.clock} clock]; steps={s.get('num_steps')} "
            f"(accepted {s.get('num_accepted')}, rejected {s.get('num_rejected')}), "
            f"grad evals={s.get('grad_evals')}"
        )
