"""FlowConfig: a frozen, validated description of how a gradient flow is integrated."""

from __future__ import annotations

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


def rms(tree) -> Array:
    """Root mean square over every entry of every array leaf of ``tree``."""
    leaves = [jnp.ravel(a) for a in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        raise ValueError("the model has no trainable float arrays")
    return jnp.sqrt(jnp.mean(jnp.concatenate(leaves) ** 2))

# solver class and vector-field evaluations per attempted step (FSAL counted once); the
# error order of the step-size controller comes from the solver itself (diffrax).
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
        if self.kinks == "track" and self.solver == "kvaerno5":
            raise ValueError(
                "kinks='track' needs an explicit solver (dopri5, tsit5, bosh3, dopri8); "
                "kvaerno5 is implicit"
            )

    def make_solver(self) -> diffrax.AbstractAdaptiveSolver:
        return SOLVERS[self.solver][0]()

    def atol_for(self, params) -> Array:
        """The absolute tolerance used for a solve starting at ``params``.

        ``atol`` if given, else ``atol_factor * rtol * rms(params)`` (the init-scale rule).
        """
        if self.atol is not None:
            return jnp.asarray(self.atol)
        return self.atol_factor * self.rtol * jnp.maximum(rms(params), 1e-300)

    def make_controller(self, params) -> diffrax.PIDController:
        """The ONE step-size controller of every gradflow solve (bare and kink-aware): an
        integral controller with ``rtol`` and the atol rule; diffrax takes its error exponent
        from the solver's order and picks the first step (Hairer-Wanner) when dt0 is None."""
        return diffrax.PIDController(rtol=self.rtol, atol=self.atol_for(params))

    def make_meter(self) -> diffrax.AbstractProgressMeter:
        return diffrax.TqdmProgressMeter() if self.progress else diffrax.NoProgressMeter()

    @property
    def evals_per_step(self) -> int:
        """Vector-field (gradient) evaluations per attempted step (FSAL counted once)."""
        return SOLVERS[self.solver][1]
