"""FlowConfig: a frozen, validated description of how a gradient flow is integrated."""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validate import integer, one_of, open_unit, positive


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


def _as_py(value: Any) -> Any:
    """NumPy / 0-d JAX numbers become Python numbers (the config is static and hashed);
    anything else is left for ``__check_init__`` to judge."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if (
        isinstance(value, jax.Array)
        and value.shape == ()
        and not isinstance(
            value,
            jax.core.Tracer,  # pyright: ignore[reportAttributeAccessIssue]
        )
    ):
        kind = value.dtype.kind
        return int(value) if kind in "iu" else float(value) if kind == "f" else value
    return value


class FlowConfig(eqx.Module):
    """How ``solve_flow`` integrates d(theta)/dt = -grad L(theta).

    Attributes:
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
            "auto" tracks kinks when the model supports it and rtol < ``AUTO_RTOL`` = 2e-4.
        max_events: cap on activation switches in ``kinks="track"`` mode (also the length
            of the event log); reaching it is reported as ``Status.MAX_EVENTS``.
        sliding: in ``kinks="track"`` mode, continue along a kink surface z = 0 that the
            field pushes into from both sides with the Filippov (sliding-mode) field instead
            of switching back and forth (default True; needs a model with
            ``fractional_mask``, see :class:`gradflow.models.AbstractKinkModel`).
        max_sliding: how many kink surfaces can slide at once (default 64); a further
            sliding contact chatters until ``max_events``. A field evaluation costs one
            gradient, plus one more per surface sliding at that moment, and the
            sliding field holds max_sliding copies of the parameters.
        merge_switches: in ``kinks="track"`` mode, apply the switches inside one accepted
            step with a second-order correction when its error estimates are within the
            tolerance, instead of stopping at every switch (default True; models with
            ``fractional_mask``). Every switch is still logged, at its crossing time on
            the step's interpolant. ``stats["num_merged_steps"]`` counts the merged steps.
    """

    solver: str = "dopri5"
    rtol: float = eqx.field(default=1e-6, converter=_as_py)
    atol: float | None = eqx.field(default=None, converter=_as_py)
    atol_factor: float = eqx.field(default=1e-2, converter=_as_py)
    max_steps: int = eqx.field(default=2**20, converter=_as_py)
    dt0: float | None = eqx.field(default=None, converter=_as_py)
    progress: bool = False
    kinks: str = "off"
    max_events: int = eqx.field(default=8192, converter=_as_py)
    sliding: bool = True
    max_sliding: int = eqx.field(default=64, converter=_as_py)
    merge_switches: bool = True

    def __check_init__(self):
        one_of("solver", self.solver, tuple(sorted(SOLVERS)))
        open_unit("rtol", self.rtol, " (a relative tolerance)")
        positive("atol_factor", self.atol_factor)
        if self.atol is not None:
            positive("atol", self.atol)
        integer("max_steps", self.max_steps)
        if self.dt0 is not None:
            positive("dt0", self.dt0)
        if not isinstance(self.progress, bool | np.bool_):
            raise ValueError(f"progress must be True or False, got {self.progress!r}")
        integer("max_events", self.max_events)
        if not isinstance(self.sliding, bool | np.bool_):
            raise ValueError(f"sliding must be True or False, got {self.sliding!r}")
        integer("max_sliding", self.max_sliding)
        if not isinstance(self.merge_switches, bool | np.bool_):
            raise ValueError(f"merge_switches must be True or False, got {self.merge_switches!r}")
        one_of("kinks", self.kinks, KINK_MODES)
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
