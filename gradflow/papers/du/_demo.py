"""Du, Lee & Tian (arXiv 1709.06129): learning one convolutional filter from a teacher.

Setup: signals of length d = 16, filter size 4, teacher w* ~ N(0, I/4) (|w*| ~ 1), student
w(0) ~ N(0, I/4), square loss (1/2)(f_w - f_{w*})^2. Measured:
1. exact GF of the closed-form Gaussian population loss vs GF of the empirical loss (n = 256
   Gaussian signals), |w(t) - w*| over time;
2. time to learn t_learn = first t with |w(t) - w*| <= 1e-2 |w*| (mean-loss clock, linear
   interpolation between 201 saves) under empirical GF, against patch overlap (stride 4, 3, 2
   with size 4), input law / smoothness (gaussian, uniform, laplace, mixture with s = 0.5, 0.2)
   and patch closeness (corr(Z_i, Z_j) = 0, 0.5, 0.8), median over ``seeds`` (default 3)
   draws of data and student init (the teacher is fixed by ``seed``);
3. GF vs full-batch GD with a constant step (small eta = 1: converges; large eta = 8: does
   not, it oscillates) vs two-stage GD (eta = 8 for 10 steps, then 1), in gradient
   evaluations to reach |w - w*| <= 1e-3 |w*|. (Du et al.'s two-stage argument is for SGD;
   this is its full-batch analogue.)
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ...flow import FlowConfig, gd, solve_flow
from ...metrics import first_crossing
from ...models import ConvFilter
from .._registry import DemoResult, stage
from ._data import teacher_data
from ._figures import du_figure
from ._theory import population_flow

D, SIZE, N = 16, 4, 256
T1 = 200.0
LEARNED = 1e-2  # relative error |w - w*| / |w*| that counts as "learned"


def _t_learned(ts, err, level: float) -> float:
    """First time err(t) <= level (:func:`gradflow.metrics.first_crossing` on log(err / level),
    i.e. interpolated in log(err) between saves); NaN if never."""
    err = np.asarray(err, float)
    with np.errstate(invalid="ignore"):
        gaps = np.where(np.isfinite(err), np.log(np.maximum(err, 1e-300)) - np.log(level), np.nan)
    return float(first_crossing(jnp.asarray(ts), jnp.asarray(gaps), tol=0.0))


def _rtol(tight: float) -> float:
    """``tight`` in float64; no tighter than 1e-5 in float32 (its eps is 1.2e-7)."""
    return tight if jax.config.read("jax_enable_x64") else max(tight, 1e-5)


def _filter_err(w_star, t, model):
    return jnp.linalg.norm(model.w - w_star)


def _err_fn(w_star):
    """fn(t, model) = |w - w*| as a pytree (jax Partial), so solves with it compile once."""
    return jax.tree_util.Partial(_filter_err, w_star)


def _empirical(w_star, stride, dist, *, key, smoothness=0.5, closeness=0.0, n=N, t1=T1):
    teacher = ConvFilter.from_filter(w_star, d=D, stride=stride)
    kd, ki = jax.random.split(key)
    data = teacher_data(teacher, n, dist, smoothness=smoothness, closeness=closeness, key=kd)
    student = ConvFilter.gaussian(D, SIZE, stride, key=ki)
    ts = jnp.linspace(0.0, t1, 201)
    traj = solve_flow(
        student, data, loss="square", t1=t1, saveat=ts, config=FlowConfig(rtol=_rtol(1e-7)),
        fn=_err_fn(w_star),
    )
    return traj, data, student


def _t_learn(w_star, stride, dist, seeds, **kw):
    times, ok = [], True
    for s in seeds:
        traj, _, _ = _empirical(w_star, stride, dist, key=jax.random.key(1000 + s), **kw)
        ok &= traj.status.ok
        rel = np.asarray(traj.summary) / float(jnp.linalg.norm(w_star))
        times.append(_t_learned(traj.ts, rel, LEARNED))
    return _median(times), times, ok


def _median(vals) -> float:
    """Median with 'never' (NaN) counted as +inf; NaN when the median itself is 'never'."""
    m = float(np.median(np.where(np.isnan(vals), np.inf, vals)))
    return m if math.isfinite(m) else math.nan


def run(out: Path, *, seed: int = 0, seeds: int = 3) -> DemoResult:
    Path(out).mkdir(parents=True, exist_ok=True)
    key = jax.random.key(seed)
    w_star = ConvFilter.gaussian(D, SIZE, SIZE, key=key).w
    norm_star = float(jnp.linalg.norm(w_star))
    lines, all_ok = [], True
    seed_list = list(range(seeds))

    # 1. population GF (closed form) vs empirical GF, Gaussian, non-overlapping patches.
    stage(1, 4, "population GF (closed form) vs empirical GF")
    ts = jnp.linspace(0.0, T1, 201)
    student = ConvFilter.gaussian(D, SIZE, SIZE, key=jax.random.key(1000 + seed))
    pop = population_flow(student, w_star, t1=T1, saveat=ts, config=FlowConfig(rtol=_rtol(1e-8)))
    pop_err = np.linalg.norm(np.asarray(pop.model.w) - np.asarray(w_star), axis=1)
    emp, _, _ = _empirical(w_star, SIZE, "gaussian", key=jax.random.key(1000 + seed))
    emp_err = np.asarray(emp.summary)
    all_ok &= pop.status.ok and emp.status.ok
    lines += [
        f"Du et al. filter learning: d={D}, filter size {SIZE}, |w*|={norm_star:.3f}, "
        f"square loss, times on the mean-loss clock",
        f"1. population GF (closed form): |w-w*| {pop_err[0]:.3f} -> {pop_err[-1]:.2e} at "
        f"t={T1:g}; L = {float(pop.final.loss()):.2e}; {pop.describe()}",
        f"   empirical GF (n={N} Gaussian): |w-w*| {emp_err[0]:.3f} -> {emp_err[-1]:.2e}; "
        f"t_learn pop {_t_learned(ts, pop_err / norm_star, LEARNED):.1f}, "
        f"emp {_t_learned(emp.ts, emp_err / norm_star, LEARNED):.1f}",
    ]

    # 2. time to learn vs overlap, input law, closeness.
    rows = []
    stage(2, 4, f"time to learn: 10 settings x {seeds} seeds (empirical GF)")
    for stride in (4, 3, 2):
        k = (D - SIZE) // stride + 1
        t, ts_, ok = _t_learn(w_star, stride, "gaussian", seed_list)
        name = f"stride {stride} (k={k}, overlap {max(SIZE - stride, 0)})"
        rows.append(("overlap", name, t, ts_))
        all_ok &= ok
    for dist, sm in (("gaussian", 1.0), ("uniform", 1.0), ("laplace", 1.0),
                     ("mixture", 0.5), ("mixture", 0.2)):
        t, ts_, ok = _t_learn(w_star, SIZE, dist, seed_list, smoothness=sm)
        name = f"mixture s={sm:g}" if dist == "mixture" else dist
        rows.append(("input law", name, t, ts_))
        all_ok &= ok
    for rho in (0.5, 0.8):
        t, ts_, ok = _t_learn(w_star, SIZE, "gaussian", seed_list, closeness=rho)
        rows.append(("closeness", f"corr(Z_i,Z_j)={rho:g}", t, ts_))
        all_ok &= ok
    lines.append(f"2. time to learn |w-w*| <= {LEARNED:g}|w*| (empirical GF, n={N}, median of "
                 f"{seeds} seeds, 'never' counted as +inf; 'never' = not within t={T1:g}):")
    for group, name, t, ts_ in rows:
        each = ", ".join("never" if math.isnan(x) else f"{x:.1f}" for x in ts_)
        med = "never" if math.isnan(t) else f"{t:.1f}"
        lines.append(f"   {group:<10} {name:<32} t_learn = {med:>6}   (seeds: {each})")

    stage(3, 4, f"GF vs GD vs two-stage GD, {seeds} seeds")
    # 3. GF vs GD (constant) vs two-stage GD, Gaussian, non-overlapping, same data and init.
    steps, level = 200, 1e-3
    eta_small, eta_big, switch = 1.0, 8.0, 10
    sched = optax.piecewise_constant_schedule(eta_big, {switch: eta_small / eta_big})
    schedules = ((f"GD eta={eta_small:g}", eta_small),
                 (f"two-stage GD {eta_big:g} -> {eta_small:g} at step {switch}", sched),
                 (f"GD eta={eta_big:g}", eta_big))
    gf_t = _t_learned(emp.ts, emp_err / norm_star, level)
    gf_evals = int(emp.stats["grad_evals"]) * (gf_t / T1) if not math.isnan(gf_t) else math.nan
    lines.append(f"3. steps to |w-w*| <= {level:g}|w*| (Gaussian, n={N}; GD: median over "
                 f"{seeds} seeds of data and init, per seed in brackets):")
    lines.append(f"   GF dopri5 (rtol {_rtol(1e-7):g}, seed {seed}): t = {gf_t:.1f}, "
                 f"~{gf_evals:.0f} grad evals (pro rata of "
                 f"{int(emp.stats['grad_evals'])} for t <= {T1:g})")
    curves = [("GF (empirical)", np.asarray(emp.ts), emp_err),
              ("GF (population)", np.asarray(ts), pop_err)]
    fn = _err_fn(w_star)
    found: dict[str, list[float]] = {name: [] for name, _ in schedules}
    # one optax transformation per schedule, reused across seeds, so gd compiles it once
    opts = {name: optax.sgd(eta) for name, eta in schedules}
    for s in seed_list:
        _, data, st = _empirical(w_star, SIZE, "gaussian", key=jax.random.key(1000 + s), t1=1.0)
        for name, eta in schedules:
            tr = gd(st, data, eta=eta, steps=steps, loss="square", saves=steps, fn=fn,
                    optimizer=lambda _eta, o=opts[name]: o)
            err = np.asarray(tr.summary)
            k = np.flatnonzero(err / norm_star <= level)
            found[name].append(float(k[0]) if k.size else math.nan)
            all_ok &= tr.status.ok
            if s == seed_list[0]:
                curves.append((name, np.asarray(tr.ts), err))
    for name, _ in schedules:
        vals = np.asarray(found[name])
        m = _median(vals)
        med = "never" if math.isnan(m) else f"{m:.0f}"
        each = ", ".join("never" if math.isnan(v) else f"{v:.0f}" for v in vals)
        lines.append(f"   {name:<40} steps = {med:>5}  [{each}]  (flow time t = sum eta)")


    stage(4, 4, "figure")
    fig = du_figure(curves, rows, Path(out) / "du_filter.png", learned=LEARNED * norm_star,
                    t_max=1.5 * T1)
    return DemoResult(text="\n".join(lines), figures=[fig], ok=bool(all_ok))
