"""FlowConfig: a frozen, validated description of how a gradient flow is integrated."""

from __future__ import annotations

import math

import diffrax
import equinox as eqx

SOLVERS = {
    "dopri5": (diffrax.Dopri5, 6),
    "tsit5": (diffrax.Tsit5, 6),
    "bosh3": (diffrax.Bosh3, 3),
    "dopri8": (diffrax.Dopri8, 12),
    "kvaerno5": (diffrax.Kvaerno5, 7),
}
KINK_MODES = ("off", "track", "auto")


class FlowConfig(eqx.Module):
    """How ``solve_flow`` integrates d(theta)/dt = -grad L(theta).

    Fields:
        solver: "dopri5" (default), "tsit5", "bosh3", "dopri8" (explicit) or "kvaerno5"
            (implicit, for stiff square-loss late phases).
        rtol: relative tolerance of the PID step-size controller.
        atol: absolute tolerance; ``None`` (default) applies the small-init rule
            ``atol = atol_factor * rtol * scale`` where ``scale`` is the RMS of the trainable
            parameters at t0 (about eps for an init of scale eps). Because the whole early
            phase of a small-init flow is proportional to eps, this rule gives the same
            relative accuracy for eps from 1e-2 to 1e-10 (tested for 1e-3, 1e-6, 1e-9).
        atol_factor: the multiple in that rule (default 1e-2).
        max_steps: hard cap on solver steps (default 2**20). Reaching it is reported as
            ``Status.MAX_STEPS``, never silently.
        dt0: initial step, ``None`` lets the controller choose.
        progress: show a tqdm progress bar (single solves only; off under vmap).
        kinks: "off" integrates straight through ReLU kinks (the bare solve); "track"
            integrates piece by piece across activation switches (exact at every kink);
            "auto" tracks kinks when the model supports it and rtol < 3e-5 (see kinks.py).
        max_events: cap on activation switches in ``kinks="track"`` mode (also the length
            of the event log); reaching it is reported as ``Status.MAX_EVENTS``.
    """

    solver: str = "dopri5"
    rtol: float = 1e-6
    atol: float | None = None
    atol_factor: float = 1e-2
    max_steps: int = 2**20
    dt0: float | None = None
    progress: bool = False
    kinks: str = "off"
    max_events: int = 8192

    def __check_init__(self):
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {self.solver!r}")
        for name in ("rtol", "atol_factor"):
            val = getattr(self, name)
            if not (isinstance(val, int | float) and math.isfinite(val) and val > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {val!r}")
        if self.atol is not None and not (math.isfinite(self.atol) and self.atol > 0):
            raise ValueError(f"atol must be None or a finite number > 0, got {self.atol!r}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 1):
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps!r}")
        if self.dt0 is not None and not (self.dt0 > 0):
            raise ValueError(f"dt0 must be None or > 0, got {self.dt0!r}")
        if not (isinstance(self.max_events, int) and self.max_events >= 1):
            raise ValueError(f"max_events must be a positive integer, got {self.max_events!r}")
        if self.kinks not in KINK_MODES:
            raise ValueError(f"kinks must be one of {KINK_MODES}, got {self.kinks!r}")

    def make_solver(self) -> diffrax.AbstractSolver:
        return SOLVERS[self.solver][0]()

    @property
    def evals_per_step(self) -> int:
        """Vector-field (gradient) evaluations per attempted step (FSAL counted once)."""
        return SOLVERS[self.solver][1]
