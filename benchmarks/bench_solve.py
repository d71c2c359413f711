"""Issue 3's benchmark: one exact-flow solve vs GD loops at equal final relative error.

Problem: n=100, d=50, h=20 mu-separated data (mu = 0.3, cone family), balanced init eps=1e-4,
MEAN exponential loss, flow to the (mean-clock) time T where the loss reaches 1e-2.
Reference theta*(T): Dopri5 at rtol 1e-12. gradflow: Dopri5 at rtol 1e-6. GD: plain gradient
descent (a jitted ``lax.fori_loop`` of ``optax.sgd`` steps, and a pure-JAX loop) with step
eta = T / steps chosen so its relative error |theta - theta*| / |theta*| matches gradflow's
(GD's error is linear in eta, so one probe fixes eta; the matched run is then measured).

    python benchmarks/bench_solve.py          # prints a table, writes results/bench_solve.json
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import equinox as eqx  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _common import machine_info  # noqa: E402

import gradflow as gf  # noqa: E402
from gradflow import FlowConfig  # noqa: E402
from gradflow.losses import empirical_loss  # noqa: E402
from gradflow.papers.min_mallada_vidal import separated  # noqa: E402

N, D, H, MU, EPS, TARGET = 100, 50, 20, 0.3, 1e-4, 1e-2
OUT = Path(__file__).parent / "results"


def setup(seed: int = 0):
    kd, km = jax.random.split(jax.random.key(seed))
    data, mu = separated(N, D, MU, key=kd)
    model = gf.models.TwoLayerReLU.balanced(D, H, EPS, key=km)
    return model, data, float(mu)


def flat(model) -> np.ndarray:
    return np.concatenate([np.ravel(model.w), np.ravel(model.v)])


def best_of(fn, repeat: int = 3) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_gd(data, kind: str):
    def loss(p):
        return empirical_loss(p, data.x, data.y, "exp", "mean")

    grad = jax.grad(loss)

    if kind == "optax":

        @eqx.filter_jit
        def run(model, eta, steps):
            opt = optax.sgd(eta)

            def body(_, carry):
                p, s = carry
                u, s = opt.update(grad(p), s, p)
                return optax.apply_updates(p, u), s

            return jax.lax.fori_loop(0, steps, body, (model, opt.init(model)))[0]
    else:

        @eqx.filter_jit
        def run(model, eta, steps):
            def body(_, p):
                return jax.tree_util.tree_map(lambda a, g: a - eta * g, p, grad(p))

            return jax.lax.fori_loop(0, steps, body, model)

    return run


def main() -> dict:
    model, data, mu = setup()
    # T: time the loss reaches 1e-2 (root-found), then the reference state at T.
    tight = FlowConfig(rtol=1e-12)
    ev = gf.solve_flow(model, data, t1=1e4, stop=gf.loss_below(TARGET), config=tight, saveat=2)
    T = float(ev.t_event)
    ref = gf.solve_flow(model, data, t1=T, config=tight, saveat=2)
    theta_ref = flat(ref.final)

    def err(m) -> float:
        return float(np.linalg.norm(flat(m) - theta_ref) / np.linalg.norm(theta_ref))

    cfg = FlowConfig(rtol=1e-6)
    gf_run = lambda: jax.block_until_ready(  # noqa: E731
        gf.solve_flow(model, data, t1=T, config=cfg, saveat=2).final
    )
    traj = gf.solve_flow(model, data, t1=T, config=cfg, saveat=2)
    gf_err = err(traj.final)
    rows = [
        {
            "method": "gradflow Dopri5 rtol 1e-6",
            "wall_s": best_of(gf_run),
            "grad_evals": int(traj.stats["grad_evals"]),
            "rel_error": gf_err,
            "status": traj.status.name.lower(),
        }
    ]
    for kind in ("optax", "jax"):
        run = make_gd(data, kind)
        probe_steps = 2000
        e0 = err(run(model, T / probe_steps, probe_steps))
        steps = int(np.ceil(probe_steps * e0 / gf_err))  # error ~ eta: match gradflow's
        eta = T / steps
        final = run(model, eta, steps)
        rows.append(
            {
                "method": f"GD ({'optax.sgd' if kind == 'optax' else 'pure JAX'}) eta={eta:.3g}",
                "wall_s": best_of(lambda: jax.block_until_ready(run(model, eta, steps)), 2),  # noqa: B023
                "grad_evals": steps,
                "rel_error": err(final),
                "status": "success",
            }
        )
    base = rows[0]["wall_s"]
    for r in rows:
        r["ratio_vs_gradflow"] = r["wall_s"] / base
    result = {
        "problem": {
            "n": N,
            "d": D,
            "h": H,
            "mu": mu,
            "eps": EPS,
            "loss": "exp (mean)",
            "T_mean_clock": T,
            "loss_target": TARGET,
        },
        "rows": rows,
        "machine": machine_info(),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_solve.json").write_text(json.dumps(result, indent=1))
    print(f"T = {T:.4g} (mean clock, loss = {TARGET}); mu = {mu:.4g}")
    print("| method | wall (s) | grad evals | rel. error at T | time / gradflow |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['wall_s']:.3g} | {r['grad_evals']} | {r['rel_error']:.2e} "
            f"| {r['ratio_vs_gradflow']:.1f}x |"
        )
    return result


if __name__ == "__main__":
    main()
