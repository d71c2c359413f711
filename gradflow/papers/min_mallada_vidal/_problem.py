"""Min, Mallada & Vidal: cone-entry / alignment time vs t1 (docs: papers/min-mallada-vidal).

One run (grid point ``{"n", "mu", "family"}``, one seed): mu-separated data
(:func:`family_data`: "cone", "cluster", "aniso", "unbalanced"; exact mu), a balanced small
init (:meth:`TwoLayerReLU.balanced`, scale ``eps``), gradient flow on the MEAN exponential
loss, solved KINK-AWARE (``FlowConfig(kinks="track")``: every activation switch root-found
and logged), and

1. solve 1, stopped by ``gradflow.metrics.aligned(delta)``: the cos >= 1 - delta time is the
   root-found event time ``traj.t_event`` (every neuron has cos(w_j, x_{sign v_j}) >= 1 -
   delta, or is dead). EXACT (to the root finder). No theorem bounds this time.
2. solve 2 (when ``t_end`` is set) from the same init to ``t_end`` without a stop: the
   CONE-ENTRY time from its switch log (:func:`gradflow.metrics.cone_entry_times`): for every
   neuron the first time its pattern is S_{sign v_j} or S_dead, and the max over neurons.
   EXACT (a pattern changes only at a logged, root-found switch). This is the time Theorem 1
   bounds by t1. Without ``t_end`` the log of solve 1 is used (horizon: the end of solve 1).
   Also the losses at ``loss_times`` and the final stable rank.
3. the constants of Theorem 1 for this data and init (:func:`min_bounds`): t1, t2 (eq. 39),
   the start of the cos >= 1/4 window of D.2's proof, and eq. (28)'s verdict: ``eps_ok`` is
   False and ``log_eps_max`` < -744 (below any float) in every run, i.e. EVERY RUN LIES
   OUTSIDE THE THEOREM'S HYPOTHESIS; comparing t_cone with t1 tests the bound as a conjecture there.

With ``interpolated=True`` (and ``t_end``), solve 2 also gives the times read from its
``n_saves`` log-spaced saves (:func:`gradflow.metrics.alignment_time`, linear interpolation:
late by up to the save spacing), in columns labelled ``_interp``.

Row columns (times on the clock their name says; t_sum = t_mean / n):
    t_cone_mean, t_cone_sum          exact cone-entry time (NaN: not reached by the horizon)
    t_cone_horizon_mean              end of the solve whose switch log gave t_cone
    n_dead                           neurons whose first cone was S_dead
    zeno_pairs                       (neuron, sample) pairs switching more than once
    t_align_mean, t_align_sum        exact cos >= 1 - delta time (NaN: not reached by t_max)
    loss_at_align                    mean loss at t_align
    t_align_interp_mean, t_cone_interp_mean   interpolated times (only if ``interpolated``)
    loss_t<T>                        mean loss at mean-clock time T (for T in loss_times)
    stable_rank_final                |W|_F^2 / |W|_2^2 at t_end
    bound_t1_mean, bound_t1_sum      Theorem 1's t1 (cone membership)
    bound_t2_mean, bound_t2_sum      eq. (39): t2 = max(t2_+, t2_-)
    cos_start_mean, cos_start_sum    max over classes of t1 + 6/(sqrt(mu) n_+- X_min)
    eps_ok, log_eps_max, eps_representable   eq. (28) (factor 8): 0, < -744, 0 in practice
    mu_exact, x_min, x_max, n_plus, zeta, xi   data / theorem constants
    status (+ status_name), num_steps, ..., grad_evals, num_switches   of solve 1
    status_end, grad_evals_end       of solve 2
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

from ..._validate import integer
from ...flow import FlowConfig, solve_flow
from ...losses import LOSSES, empirical_loss
from ...metrics import aligned, alignment_time, cone_entry_times, stable_rank, zeno_violations
from ...models import TwoLayerReLU
from ...sweep import Problem
from ._bounds import min_bounds
from ._families import FAMILY_NAMES, family_data


@dataclasses.dataclass(frozen=True)
class AlignmentProblem(Problem):
    """``problem(params, key) -> (model, data, options)`` for :func:`gradflow.sweep.sweep`.

    The attributes are fixed over the sweep; the grid gives n, mu and optionally family.

    Attributes:
        d: input dimension.
        h: width.
        eps: init scale (balanced init, E|w_j|^2 = eps^2).
        delta: cos-alignment tolerance.
        rtol: solver tolerance (kink-aware solves).
        t_max: end of the alignment solve (mean clock); a run not aligned by then has
            t_align = NaN and status "success" (reached t_max without the event).
        t_end: end of the second solve (mean clock) giving the exact cone-entry time, the
            losses and the final rank; ``None`` skips it (cone-entry time from solve 1's
            log, loss/rank columns NaN).
        loss_times: mean-clock times at which the loss is recorded (each <= t_end).
        n_saves: log-spaced saves of the second solve (only the ``_interp`` columns use them).
        family: data family when the grid does not name one (``FAMILY_NAMES``).
        loss: a margin loss by name ("exp", the theorem's, or "logistic"); the bound
            columns are Theorem 1's constants, stated for the exponential loss.
        interpolated: also give the save-interpolated times (columns ``*_interp_mean``).
        events_per_pair: switch-log length per (neuron, sample) pair (the theory allows 1).

    Examples:
        >>> problem = AlignmentProblem(h=20, eps=1e-6)
        >>> table = gradflow.sweep.sweep(problem, {"n": [10, 30], "mu": [0.3]}, 16)
    """

    d: int = 10
    h: int = 20
    eps: float = 1e-6
    delta: float = 1e-2
    rtol: float = 1e-6
    t_max: float = 2000.0
    t_end: float | None = 200.0
    loss_times: tuple[float, ...] = (10.0, 50.0, 200.0)
    n_saves: int = 48
    family: str = "cone"
    loss: str = "exp"
    interpolated: bool = False
    events_per_pair: int = 2
    sweep_name: ClassVar[str] = "alignment_problem"

    def __post_init__(self):
        for name in ("eps", "delta", "rtol", "t_max"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if self.t_end is not None and not self.t_end > 0:
            raise ValueError(f"t_end must be None or > 0, got {self.t_end!r}")
        if self.t_end is not None and any(not (0 < t <= self.t_end) for t in self.loss_times):
            raise ValueError(
                f"loss_times must lie in (0, t_end={self.t_end}], got {self.loss_times}"
            )
        if not (isinstance(self.loss, str) and self.loss in LOSSES and LOSSES[self.loss].margin):
            margin = sorted(k for k, v in LOSSES.items() if v.margin)
            raise ValueError(f"loss must be a margin loss name {margin}, got {self.loss!r}")
        if self.family not in FAMILY_NAMES:
            raise ValueError(f"family must be one of {FAMILY_NAMES}, got {self.family!r}")
        if self.interpolated and self.t_end is None:
            raise ValueError("interpolated=True needs t_end (the saves of the second solve)")
        if not (isinstance(self.events_per_pair, int) and self.events_per_pair >= 1):
            raise ValueError(
                f"events_per_pair must be an integer >= 1, got {self.events_per_pair!r}"
            )
        # built once, so every run shares them and the compiled kernel is reused
        object.__setattr__(self, "_stop", aligned(self.delta))
        object.__setattr__(self, "_rows", {})

    def config(self) -> dict[str, Any]:
        """The fixed settings (what a sweep directory's manifest records)."""
        return dataclasses.asdict(self)

    # what `gradflow sweep alignment` / `gradflow plot DIR` read (gradflow.sweep.Problem)
    def default_grid(self) -> dict[str, list]:
        return {"n": [10, 30, 100], "mu": [0.1, 0.3, 0.7], "family": ["cone", "cluster"]}

    def summary(self, table, clock: str = "mean") -> list[str]:
        from ._figures import summarize  # noqa: PLC0415

        lines = super().summary(table)
        if clock not in ("mean", "sum"):
            raise ValueError(f"clock must be 'mean' or 'sum', got {clock!r}")
        s = summarize(table, clock)
        pw = s["power"]
        lines.append(
            f"{s['finite']} runs entered the cone; c = {s['const'].c:.4g} in t_cone = "
            f"c log n/sqrt(mu) ({clock} clock); fraction with t_cone <= t1 "
            f"{s['fraction_under_bound']:.3f}; median t_cone/t1 {s['ratio_median']:.3g}"
            + (f"; power law t ~ n^{pw.a:.3f} mu^{pw.b:.3f}" if pw is not None else "")
        )
        return lines

    def figures(self, table, folder, clock: str = "mean") -> list:
        from ._figures import plot  # noqa: PLC0415

        path = folder / f"alignment_{clock}.png"
        plot(table, clock=clock, path=path)
        return [path]

    def flow_config(self, n: int) -> FlowConfig:
        """The kink-aware solver settings for data of size n (log of events_per_pair*n*h)."""
        return FlowConfig(
            rtol=self.rtol, kinks="track", max_events=self.events_per_pair * n * self.h + 64
        )

    def save_times(self) -> tuple[float, ...]:
        assert self.t_end is not None
        # as solve_flow's log_times, in NumPy (this runs while tracing)
        ts = np.concatenate([[0.0], np.geomspace(self.t_end * 1e-4, self.t_end, self.n_saves - 1)])
        ts = np.unique(np.concatenate([ts, np.asarray(self.loss_times, float)]))
        return tuple(float(t) for t in ts)

    def _row_for(self, n: int) -> _Row:
        rows: dict = self._rows  # type: ignore[attr-defined]
        if n not in rows:
            rows[n] = _Row(self, self.flow_config(n))
        return rows[n]

    def __call__(self, params: dict, key) -> tuple[TwoLayerReLU, Any, dict]:
        import jax  # noqa: PLC0415

        n, mu = integer("n", params["n"], minimum=2), float(params["mu"])
        family = str(params.get("family", self.family))
        k_data, k_model = jax.random.split(key)
        data, mu_exact = family_data(family, n, self.d, mu, key=k_data)
        model = TwoLayerReLU.balanced(self.d, self.h, self.eps, key=k_model)
        b = min_bounds(data, self.h, self.eps, model=model, delta=self.delta)
        extra = {
            "mu_exact": float(mu_exact),
            "x_min": b.X_min,
            "x_max": b.X_max,
            "n_plus": float(b.n_plus),
            "zeta": b.zeta,
            "xi": b.xi,
            "bound_t1_sum": b.t1_sum,
            "bound_t1_mean": b.t1_mean,
            "bound_t2_sum": b.t2_sum,
            "bound_t2_mean": b.t2_mean,
            "cos_start_sum": max(b.cos_start_plus_sum, b.cos_start_minus_sum),
            "cos_start_mean": max(b.cos_start_plus_mean, b.cos_start_minus_mean),
            "eps_ok": float(b.eps_ok),
            "log_eps_max": b.log_eps_max,
            "eps_representable": float(b.eps_representable),
        }
        row = self._row_for(n)
        options = dict(
            t1=self.t_max,
            loss=self.loss,
            reduction="mean",
            saveat=2,
            stop=self._stop,  # type: ignore[attr-defined]
            config=row.config,
            row=row,
            extra=extra,
        )
        return model, data, options


def cone_time(log, model, data) -> tuple[Any, Any]:
    """(t_cone, n_dead) from a kink-aware switch log: t_cone = max_j of neuron j's first
    entry into S_{sign v_j} or S_dead (NaN if some neuron never entered); n_dead = neurons
    whose first such entry was S_dead. Exact (switch times are root-found)."""
    first = cone_entry_times(log, data.y)  # (h, 3): S_+, S_-, S_dead
    target = jnp.where(model.v > 0, first[:, 0], first[:, 1])
    dead = first[:, 2]
    t_j = jnp.fmin(target, dead)  # NaN only if neither was entered
    n_dead = jnp.sum(jnp.isfinite(dead) & ~(target <= dead))
    return jnp.where(jnp.any(jnp.isnan(t_j)), jnp.nan, jnp.max(t_j)), n_dead


class _Row:
    """The traced row function of :class:`AlignmentProblem` (hashable by identity)."""

    def __init__(self, problem: AlignmentProblem, config: FlowConfig):
        self.p = problem
        self.config = config

    def __call__(self, traj, model, data) -> dict:
        p = self.p
        n = data.x.shape[0]
        t_align = traj.t_event
        out = {
            "t_align_mean": t_align,
            "t_align_sum": t_align / n,
            "loss_at_align": jnp.where(
                jnp.isnan(t_align),
                jnp.nan,
                empirical_loss(traj.final, data.x, data.y, p.loss, "mean"),
            ),
            "num_switches": traj.stats["num_switches"],
        }
        nan = jnp.asarray(jnp.nan)
        if p.t_end is None:
            t_cone, n_dead = cone_time(traj.events, model, data)
            out.update(
                {
                    "t_cone_mean": t_cone,
                    "t_cone_sum": t_cone / n,
                    "t_cone_horizon_mean": traj.t_final,
                    "n_dead": n_dead,
                    "zeno_pairs": zeno_violations(traj.events),
                    "stable_rank_final": nan,
                }
            )
            out.update({f"loss_t{t:g}": nan for t in p.loss_times})
            out.update({"status_end": jnp.asarray(-1), "grad_evals_end": jnp.asarray(0)})
            return out
        ts = p.save_times()
        traj2 = solve_flow(
            model,
            data,
            loss=p.loss,
            reduction="mean",
            t1=p.t_end,
            saveat=ts,
            config=self.config,
        )
        t_cone, n_dead = cone_time(traj2.events, model, data)
        for t in p.loss_times:
            out[f"loss_t{t:g}"] = traj2.loss[ts.index(float(t))]
        out.update(
            {
                "t_cone_mean": t_cone,
                "t_cone_sum": t_cone / n,
                "t_cone_horizon_mean": traj2.t_final,
                "n_dead": n_dead,
                "zeno_pairs": zeno_violations(traj2.events),
                "stable_rank_final": stable_rank(traj2.model.w[-1]),
                "status_end": traj2.result,
                "grad_evals_end": traj2.stats["grad_evals"],
            }
        )
        if p.interpolated:
            out["t_align_interp_mean"] = alignment_time(traj2, data, p.delta, "cos").time
            out["t_cone_interp_mean"] = alignment_time(traj2, data, p.delta, "cone").time
        return out
