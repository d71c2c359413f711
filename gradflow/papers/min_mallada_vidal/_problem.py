"""Min, Mallada & Vidal's alignment time vs bound (docs/papers/min-mallada-vidal.md) as a sweep.

One run (grid point ``{"n", "mu", "family"}``, one seed): mu-separated data
(:func:`separated`, exact mu; families "cone" and "cluster"), a balanced
small init (:meth:`TwoLayerReLU.balanced`, scale ``eps``), gradient flow on the MEAN
exponential loss, and

1. a solve stopped by ``gradflow.metrics.aligned(delta)``: the alignment time is the
   root-found event time (every neuron has cos(w_j, x_{sign v_j}) >= 1 - delta, or is dead),
   on the mean clock, also given on the sum clock (t_sum = t_mean / n);
2. a second solve from the same init to ``t_end`` (no stop) for the losses at ``loss_times``,
   the final stable rank of W, and the alignment time by Theorem 1's own criterion (every
   neuron in its cone S_{sign v_j} or dead; interpolated between ``n_saves`` log-spaced
   saves, so accurate to their spacing);
3. the bound t1 = 16 log n / (min{zeta, xi} sqrt(mu) X_min) of Theorem 1 for this data and
   init (:func:`min_bounds`), on both clocks.

Row columns (times on the clock their name says):
    t_align_mean, t_align_sum        cos >= 1 - delta alignment time (NaN: not reached by t_max)
    t_cone_mean, t_cone_sum          cone-criterion time (NaN: not reached by t_end)
    bound_t1_mean, bound_t1_sum      Theorem 1's t1
    loss_at_align                    mean loss at t_align
    loss_t<T>                        mean loss at mean-clock time T (for T in loss_times)
    stable_rank_final                |W|_F^2 / |W|_2^2 at t_end
    mu_exact, x_min, x_max, zeta, xi, eps_ok   data / theorem constants
    status (+ status_name), num_steps, ..., grad_evals   of solve 1
    status_end, grad_evals_end       of solve 2
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

from ...flow import FlowConfig, solve_flow
from ...losses import empirical_loss
from ...metrics import aligned, alignment_time, stable_rank
from ...models import TwoLayerReLU
from ._bounds import min_bounds
from ._data import separated


@dataclasses.dataclass(frozen=True)
class AlignmentProblem:
    """``problem(params, key) -> (model, data, options)`` for :func:`gradflow.sweep.sweep`.

    Fields (fixed over the sweep; the grid gives n, mu and optionally family):
        d: input dimension. h: width. eps: init scale (balanced init, E|w_j|^2 = eps^2).
        delta: cos-alignment tolerance. rtol: solver tolerance.
        t_max: end of the alignment solve (mean clock); a run not aligned by then has
            t_align = NaN and status "success" (reached t_max without the event).
        t_end: end of the second solve (mean clock); ``None`` skips it (NaN columns).
        loss_times: mean-clock times at which the loss is recorded (each <= t_end).
        n_saves: log-spaced saves of the second solve (cone-criterion time resolution).
        family: data family when the grid does not name one ("cone" or "cluster").

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
        # built once, so every run shares them and the compiled kernel is reused
        object.__setattr__(self, "_stop", aligned(self.delta))
        object.__setattr__(self, "_config", FlowConfig(rtol=self.rtol))
        object.__setattr__(self, "_row", _Row(self))

    def config(self) -> dict[str, Any]:
        """The fixed settings (what a sweep directory's manifest records)."""
        return dataclasses.asdict(self)

    def save_times(self) -> tuple[float, ...]:
        assert self.t_end is not None
        # as solve_flow's log_times, in NumPy (this runs while tracing)
        ts = np.concatenate([[0.0], np.geomspace(self.t_end * 1e-4, self.t_end, self.n_saves - 1)])
        ts = np.unique(np.concatenate([ts, np.asarray(self.loss_times, float)]))
        return tuple(float(t) for t in ts)

    def __call__(self, params: dict, key) -> tuple[TwoLayerReLU, Any, dict]:
        import jax  # noqa: PLC0415

        n, mu = int(params["n"]), float(params["mu"])
        family = str(params.get("family", self.family))
        k_data, k_model = jax.random.split(key)
        data, mu_exact = separated(n, self.d, mu, key=k_data, family=family)
        model = TwoLayerReLU.balanced(self.d, self.h, self.eps, key=k_model)
        b = min_bounds(data, self.h, self.eps, model=model, delta=self.delta)
        extra = {
            "mu_exact": float(mu_exact),
            "x_min": b.X_min,
            "x_max": b.X_max,
            "zeta": b.zeta,
            "xi": b.xi,
            "bound_t1_sum": b.t1_sum,
            "bound_t1_mean": b.t1_mean,
            "eps_ok": float(b.eps_ok),
        }
        options = dict(
            t1=self.t_max,
            loss="exp",
            reduction="mean",
            saveat=2,
            stop=self._stop,  # type: ignore[attr-defined]
            config=self._config,  # type: ignore[attr-defined]
            row=self._row,  # type: ignore[attr-defined]
            extra=extra,
        )
        return model, data, options


class _Row:
    """The traced row function of :class:`AlignmentProblem` (hashable by identity)."""

    def __init__(self, problem: AlignmentProblem):
        self.p = problem

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
                empirical_loss(traj.final, data.x, data.y, "exp", "mean"),
            ),
        }
        nan = jnp.asarray(jnp.nan)
        if p.t_end is None:
            out.update({"t_cone_mean": nan, "t_cone_sum": nan, "stable_rank_final": nan})
            out.update({f"loss_t{t:g}": nan for t in p.loss_times})
            out.update({"status_end": jnp.asarray(-1), "grad_evals_end": jnp.asarray(0)})
            return out
        ts = p.save_times()
        traj2 = solve_flow(
            model,
            data,
            loss="exp",
            reduction="mean",
            t1=p.t_end,
            saveat=ts,
            config=p._config,  # type: ignore[attr-defined]
        )
        w = traj2.model.w
        t_cone = alignment_time(traj2, data, p.delta, "cone").time
        for t in p.loss_times:
            out[f"loss_t{t:g}"] = traj2.loss[ts.index(float(t))]
        out.update(
            {
                "t_cone_mean": t_cone,
                "t_cone_sum": t_cone / n,
                "stable_rank_final": stable_rank(w[-1]),
                "status_end": traj2.result,
                "grad_evals_end": traj2.stats["grad_evals"],
            }
        )
        return out


