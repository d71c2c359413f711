"""Work-precision of a 3-layer ReLU MLP (issue 11, item 5): kink-aware vs bare Dopri5 vs GD.

Problem: ``gradflow.models.MLP`` with widths (d, h, h, 1) = (20, 32, 32, 1), no biases, small
Gaussian init (``MLP.gaussian``, eps = 0.3: every row of norm ~eps), n inputs
x_i = y_i (cos a e_1 + sin a g_i / |g_i|) with g_i Gaussian in the last d - 1 coordinates,
cos 2a = mu = 0.7 and labels y_i = +-1 alternating (a mu-separated set: every sample pushes
the units the same way, which keeps the flow free of sliding modes, see below), mean square
loss (targets +-1) and mean exp loss, flow time t1 on the mean-loss clock. The data are fixed
(key 0); every seed draws its own init.

Methods, each over a ladder: ``kinks="track"`` at several rtols, the bare solve
(``kinks="off"``, Dopri5) at several rtols, and a jitted plain-GD loop
(theta <- theta - eta grad L, t1 / eta steps) at several step sizes. Error: max over layers of
max |W - W_ref| / max over layers of max |W_ref| at t1 (the max over seeds), against a
kink-aware reference at rtol 1e-12 (validated against SciPy DOP853 with events in
tests/test_kinks_deep.py). Cost: gradient evaluations per seed (solver stats; GD: steps) and
wall time of all seeds one after another under ``lax.map`` inside one compiled function
(compile excluded, CPU); seeds/s = seeds / wall. Each method's cost at the target errors
1e-4, 1e-6, 1e-8 is read off its work-precision front by log-log interpolation between the
two settings that bracket the target; GD outside its measured range is extrapolated with
error ~ eta, cost ~ 1/eta (marked), a solve that never reached the target is "not reached".

Sliding: a hidden unit whose pre-activation is pushed toward zero from both sides (a Filippov
sliding mode) makes ``kinks="track"`` chatter until ``max_events`` (``Status.MAX_EVENTS``).
With n = 50 (eps 0.5) a layer-2 unit slid at t = 3.1; with n = 200 each sample's own pull is
1/200 of the drift and none slid up to t = 12 in our probes. Runs whose reference did not
finish are reported (``reference.statuses``) and left out of the errors.

    python benchmarks/bench_mlp_kinks.py --quick     # the configuration measured in docs
    python benchmarks/bench_mlp_kinks.py             # full: 8 seeds, t1 = 12, long ladders

Writes mlp_kinks[_quick].json and .md into ``--out`` (default benchmarks/results) and the
work-precision plot into docs/figures/mlp_kinks_work_precision.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import gradflow as gf  # noqa: E402
from gradflow.models import MLP  # noqa: E402

TARGETS = (1e-4, 1e-6, 1e-8)
REF_RTOL = 1e-12
FULL = {
    "n": 200,
    "d": 20,
    "h": 32,
    "mu": 0.7,
    "eps": 0.3,
    "t1": 12.0,
    "seeds": 8,
    "losses": ("square", "exp"),
    "track": (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10),
    "bare": (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11),
    "etas": (3e-2, 1e-2, 3e-3, 1e-3),
    "max_events": 16384,
    "bare_wall_cap_s": 60.0,
}
QUICK = {
    **FULL,
    "t1": 2.5,
    "seeds": 1,
    "track": (1e-4, 1e-6, 1e-8, 1e-11),
    "bare": (1e-5, 1e-7, 1e-9),
    "etas": (1e-2, 3e-3),
    "max_events": 4096,
    "bare_wall_cap_s": 20.0,
}


def make_data(n: int, d: int, mu: float, key) -> gf.Dataset:
    """mu-separated inputs x_i = y_i (cos a e_1 + sin a g_i/|g_i|), cos 2a = mu, y = +-1."""
    u = jnp.zeros(d).at[0].set(1.0)
    g = jax.random.normal(key, (n, d)).at[:, 0].set(0.0)
    g = g / jnp.linalg.norm(g, axis=1, keepdims=True)
    y = jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)
    a = 0.5 * math.acos(mu)
    return gf.Dataset(y[:, None] * (math.cos(a) * u + math.sin(a) * g), y)


def init(cfg: dict, key) -> MLP:
    return MLP.gaussian((cfg["d"], cfg["h"], cfg["h"], 1), cfg["eps"], key=key)


def gf_runner(cfg: dict, data: gf.Dataset, loss: str, kinks: str, rtol: float):
    """One seed's solve: (final weights, steps, grad evals, status, switches)."""
    fc = gf.FlowConfig(rtol=rtol, kinks=kinks, max_events=cfg["max_events"])
    ts = jnp.array([0.0, cfg["t1"]])

    def one(key):
        tr = gf.solve_flow(init(cfg, key), data, loss=loss, t1=cfg["t1"], saveat=ts, config=fc)
        st = tr.stats
        sw = st.get("num_switches", jnp.asarray(0))
        return tr.final.weights, st["num_steps"], st["grad_evals"], tr.result, sw

    return one


def ref_runner(cfg: dict, data: gf.Dataset, loss: str):
    """The reference solve (track, rtol 1e-12) plus its switch log: (neuron, sample, count)."""
    fc = gf.FlowConfig(rtol=REF_RTOL, kinks="track", max_events=cfg["max_events"])
    ts = jnp.array([0.0, cfg["t1"]])

    def one(key):
        tr = gf.solve_flow(init(cfg, key), data, loss=loss, t1=cfg["t1"], saveat=ts, config=fc)
        ev = tr.events
        st = tr.stats
        return (
            tr.final.weights,
            st["num_steps"],
            st["grad_evals"],
            tr.result,
            st["num_switches"],
            ev.neuron,
            ev.sample,
            tr.final_loss,
        )

    return one


def gd_runner(cfg: dict, data: gf.Dataset, loss: str, eta: float):
    """A jitted plain-GD loop to t1 (t1 / eta steps), same output layout as ``gf_runner``."""
    steps = int(round(cfg["t1"] / eta))

    def one(key):
        p, static = eqx.partition(init(cfg, key), eqx.is_inexact_array)
        g = jax.grad(lambda p: gf.empirical_loss(eqx.combine(p, static), data.x, data.y, loss))

        def body(_, p):
            return jax.tree_util.tree_map(lambda a, b: a - eta * b, p, g(p))

        p = jax.lax.fori_loop(0, steps, body, p)
        z = jnp.asarray(steps)
        return p.weights, z, z, jnp.asarray(0, jnp.int32), jnp.asarray(0)

    return one


def timed(one, keys):
    """Compile ``lax.map(one)`` over ``keys`` ahead of time, then time one run (s)."""
    f = jax.jit(lambda ks: jax.lax.map(one, ks)).lower(keys).compile()
    t = time.perf_counter()
    out = jax.block_until_ready(f(keys))
    return out, time.perf_counter() - t


def rel_errors(weights, ref_weights) -> np.ndarray:
    """Per seed: max over layers of max |W - W_ref|, over max over layers of max |W_ref|."""
    err = np.max([np.abs(np.asarray(a) - b).max(axis=(1, 2)) for a, b in zip(weights, ref_weights,
                                                                               strict=True)], 0)
    scale = np.max([np.abs(b).max(axis=(1, 2)) for b in ref_weights], 0)
    return err / scale


def row(method, setting, out, wall, ref_weights, ok_ref):
    weights, steps, evals, status, sw = out[:5]
    err = rel_errors([np.asarray(w)[ok_ref] for w in weights], ref_weights)
    seeds = len(np.asarray(steps))
    return {
        "method": method,
        "setting": setting,
        "err_max": float(err.max()),
        "err_median": float(np.median(err)),
        "steps_mean": float(np.mean(steps)),
        "grad_evals_mean": float(np.mean(evals)),
        "switches_mean": float(np.mean(sw)),
        "wall_s": wall,
        "wall_per_seed_s": wall / seeds,
        "seeds_per_s": seeds / wall,
        "all_ok": bool(np.all(np.asarray(status) <= 1)),
        "seeds": seeds,
    }


def front(rows, method):
    """The method's work-precision front: rows by increasing gradient evaluations (walls are
    noisy on a shared machine), each more accurate than every cheaper one (finished runs)."""
    rs = sorted(
        (r for r in rows if r["method"] == method and r["all_ok"]),
        key=lambda r: r["grad_evals_mean"],
    )
    out = []
    for r in rs:
        if not out or r["err_max"] < out[-1]["err_max"]:
            out.append(r)
    return out


COST_KEYS = ("grad_evals_mean", "wall_per_seed_s")


def at_target(rows, method, target):
    """Cost of ``method`` at error ``target``: log-log interpolation on its front; GD beyond
    its range extrapolated (error ~ eta); None when a solve never reached ``target``."""
    fr = front(rows, method)
    if not fr:
        return None
    if fr[0]["err_max"] <= target:  # the cheapest run already meets it: an upper bound
        r = fr[0]
        return {**{k: r[k] for k in COST_KEYS}, "err": r["err_max"], "setting": r["setting"],
                "how": "cheapest run (upper bound)"}
    for a, b in zip(fr, fr[1:], strict=False):
        if a["err_max"] > target >= b["err_max"]:
            s = math.log(target / a["err_max"]) / math.log(b["err_max"] / a["err_max"])
            ent = {k: a[k] * (b[k] / a[k]) ** s for k in COST_KEYS}
            ent["setting"] = a["setting"] * (b["setting"] / a["setting"]) ** s
            return {**ent, "err": target, "how": "interpolated"}
    if method != "gd":
        return None
    fine = fr[-1]  # GD: error ~ C eta, cost ~ 1 / eta
    k = fine["err_max"] / target
    return {**{c: fine[c] * k for c in COST_KEYS}, "err": target,
            "setting": fine["setting"] / k, "how": "extrapolated (error ~ eta)"}


def summarise(rows):
    out = []
    for target in TARGETS:
        ent: dict[str, Any] = {"target": target}
        for m in ("track", "bare", "gd"):
            ent[m] = at_target(rows, m, target)
        k, b, g = ent["track"], ent["bare"], ent["gd"]
        if k and b:
            ent["evals_bare_over_track"] = b["grad_evals_mean"] / k["grad_evals_mean"]
            ent["wall_bare_over_track"] = b["wall_per_seed_s"] / k["wall_per_seed_s"]
        elif k:  # bare never reached it: its most accurate run bounds the ratio from below
            fin = min((r for r in rows if r["method"] == "bare"), key=lambda r: r["err_max"])
            ent["bare_finest"] = {"setting": fin["setting"], "err": fin["err_max"]}
            ent["evals_bare_over_track_at_least"] = fin["grad_evals_mean"] / k["grad_evals_mean"]
            ent["wall_bare_over_track_at_least"] = fin["wall_per_seed_s"] / k["wall_per_seed_s"]
        if k and g:
            ent["seeds_per_s_track_over_gd"] = g["wall_per_seed_s"] / k["wall_per_seed_s"]
            ent["evals_gd_over_track"] = g["grad_evals_mean"] / k["grad_evals_mean"]
            ent["gd_how"] = g["how"]
        out.append(ent)
    return out


def switch_stats(out, ok, n, k, h):
    """Switches of the reference solve per unit and per sample (means over seeds)."""
    count = np.asarray(out[4])[ok]
    neuron, sample = np.asarray(out[5])[ok], np.asarray(out[6])[ok]
    per_unit, per_sample, per_pair, layer1 = [], [], [], []
    for c, nu, sa in zip(count, neuron, sample, strict=True):
        c = min(int(c), len(nu))
        per_unit.append(np.bincount(nu[:c], minlength=k))
        per_sample.append(np.bincount(sa[:c], minlength=n))
        per_pair.append(int(np.bincount(nu[:c] * n + sa[:c], minlength=1).max()))
        layer1.append(float(np.mean(nu[:c] < h)) if c else float("nan"))
    pu, ps = np.array(per_unit), np.array(per_sample)
    return {
        "switches_mean": float(count.mean()),
        "per_unit_mean": float(pu.mean()),
        "per_unit_max": int(pu.max()),
        "per_sample_mean": float(ps.mean()),
        "per_sample_max": int(ps.max()),
        "per_pair_max": max(per_pair),  # one (unit, sample) switching very often: sliding
        "layer1_fraction": float(np.mean(layer1)),
    }


def run_loss(cfg, data, loss, keys, log):
    ref_out, ref_wall = timed(ref_runner(cfg, data, loss), keys)
    status = np.asarray(ref_out[3])
    ok = status <= 1
    if not ok.any():
        raise SystemExit(f"{loss}: the reference failed on every seed (statuses {status})")
    ref_w = [np.asarray(w)[ok] for w in ref_out[0]]
    k = 2 * cfg["h"]
    sw = switch_stats(ref_out, ok, cfg["n"], k, cfg["h"])
    reference = {
        "rtol": REF_RTOL,
        "wall_s": ref_wall,
        "statuses": [gf.Status(int(s)).name for s in status],
        "grad_evals_mean": float(np.mean(np.asarray(ref_out[2])[ok])),
        "final_loss_mean": float(np.mean(np.asarray(ref_out[7])[ok])),
        **sw,
    }
    log(
        f"[{loss}] reference rtol {REF_RTOL:.0e}: {ref_wall:.1f}s, statuses "
        f"{reference['statuses']}, loss(t1) {reference['final_loss_mean']:.4f}, switches "
        f"{sw['switches_mean']:.0f} ({sw['per_unit_mean']:.1f}/unit, max {sw['per_unit_max']};"
        f" {sw['per_sample_mean']:.1f}/sample, max {sw['per_sample_max']}; max per pair "
        f"{sw['per_pair_max']})"
    )
    rows = []
    for method, kinks in (("track", "track"), ("bare", "off")):
        for rtol in cfg[method]:
            o, w = timed(gf_runner(cfg, data, loss, kinks, rtol), keys)
            r = row(method, rtol, o, w, ref_w, ok)
            rows.append(r)
            log(
                f"[{loss}] {method:5s} rtol {rtol:.0e}: err {r['err_max']:.2e} evals "
                f"{r['grad_evals_mean']:.0f} wall/seed {r['wall_per_seed_s']:.3f}s "
                f"switches {r['switches_mean']:.0f} ok {r['all_ok']}"
            )
            if method == "bare" and r["wall_per_seed_s"] > cfg["bare_wall_cap_s"]:
                break
    for eta in cfg["etas"]:
        o, w = timed(gd_runner(cfg, data, loss, eta), keys)
        rows.append(row("gd", eta, o, w, ref_w, ok))
        r = rows[-1]
        log(
            f"[{loss}] gd    eta {eta:.0e}: err {r['err_max']:.2e} steps {r['steps_mean']:.0f}"
            f" wall/seed {r['wall_per_seed_s']:.3f}s"
        )
    # GD -> GF: the error must shrink ~linearly in eta (a check on the reference)
    gd = sorted((r for r in rows if r["method"] == "gd"), key=lambda r: r["setting"])
    slope = (
        math.log(gd[-1]["err_max"] / gd[0]["err_max"])
        / math.log(gd[-1]["setting"] / gd[0]["setting"])
        if len(gd) > 1
        else float("nan")
    )
    return {"reference": reference, "rows": rows, "summary": summarise(rows),
            "gd_error_order": slope}


def main(argv=None):
    ap = argparse.ArgumentParser(description="3-layer ReLU MLP work-precision benchmark")
    ap.add_argument("--quick", action="store_true", help="the <= 5 min configuration")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument(
        "--figure",
        default=str(Path(__file__).parent.parent / "docs" / "figures"
                    / "mlp_kinks_work_precision.png"),
    )
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from the JSON")
    ap.add_argument("--bare", default="", help="comma-separated rtols of the bare ladder")
    ap.add_argument("--losses", default="", help="comma-separated subset of square,exp")
    ap.add_argument("--tag", default="", help="output name (default mlp_kinks[_quick])")
    args = ap.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds:
        cfg["seeds"] = args.seeds
    if args.bare:
        cfg["bare"] = tuple(float(r) for r in args.bare.split(","))
        cfg["bare_wall_cap_s"] = float("inf")
    if args.losses:
        cfg["losses"] = tuple(args.losses.split(","))
    tag = args.tag or ("mlp_kinks_quick" if args.quick else "mlp_kinks")
    out_dir = Path(args.out)
    if args.plot_only:
        plot(json.loads((out_dir / f"{tag}.json").read_text()), Path(args.figure))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    data = make_data(cfg["n"], cfg["d"], cfg["mu"], jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), cfg["seeds"])
    print(f"3-layer ReLU MLP {cfg}", flush=True)
    res = {"problem": {k: v for k, v in cfg.items()}, "mode": "quick" if args.quick else "full"}
    for loss in cfg["losses"]:
        res[loss] = run_loss(cfg, data, loss, keys, lambda s: print(s, flush=True))
    res["total_wall_s"] = time.perf_counter() - t_start
    res["machine"] = _machine()
    (out_dir / f"{tag}.json").write_text(json.dumps(res, indent=1))
    md = markdown(res)
    (out_dir / f"{tag}.md").write_text(md)
    print(md)
    plot(res, Path(args.figure))


def _machine():
    try:
        from _common import machine_info

        return machine_info()
    except ImportError:  # imported as a module (the test)
        return {}


def _fmt(ent, key, fmt):
    if ent is None:
        return "not reached"
    s = format(ent[key], fmt)
    return s + (" (extrap.)" if ent.get("how", "").startswith("extrap") else "")


def markdown(res):
    p = res["problem"]
    lines = [
        f"3-layer ReLU MLP ({p['d']}, {p['h']}, {p['h']}, 1), n={p['n']} mu={p['mu']} "
        f"separated inputs, Gaussian init eps={p['eps']}, t1={p['t1']} (mean clock), "
        f"{p['seeds']} seeds under lax.map, CPU ({res['mode']} mode); error = max over seeds of "
        f"the relative max-abs error of the final weights vs kink-aware rtol {REF_RTOL:g}.",
        "",
    ]
    for loss in p["losses"]:
        r = res[loss]
        ref = r["reference"]
        lines += [
            f"**{loss} loss** — reference: loss(t1) = {ref['final_loss_mean']:.4f}, statuses "
            f"{', '.join(ref['statuses'])}; {ref['switches_mean']:.0f} switches per seed "
            f"({ref['layer1_fraction']:.0%} in layer 1): {ref['per_unit_mean']:.1f} per unit "
            f"(max {ref['per_unit_max']}), {ref['per_sample_mean']:.1f} per sample (max "
            f"{ref['per_sample_max']}). GD error order in eta: {r['gd_error_order']:.2f}.",
            "",
            "| method | setting | max error | grad evals/seed | wall/seed (s) | seeds/s | ok |",
            "|---|---|---|---|---|---|---|",
        ]
        for row_ in r["rows"]:
            name = {"track": "kink-aware rtol", "bare": "bare Dopri5 rtol", "gd": "GD eta"}
            lines.append(
                f"| {name[row_['method']]} | {row_['setting']:.0e} | {row_['err_max']:.1e} | "
                f"{row_['grad_evals_mean']:.0f} | {row_['wall_per_seed_s']:.3f} | "
                f"{row_['seeds_per_s']:.3g} | {'yes' if row_['all_ok'] else 'NO'} |"
            )
        lines += [
            "",
            "| target | kink-aware evals | bare evals | GD evals | evals bare/kink-aware | "
            "evals GD/kink-aware | seeds/s kink-aware/GD |",
            "|---|---|---|---|---|---|---|",
        ]
        for ent in r["summary"]:

            def ratio(key, ent=ent):
                if key in ent:
                    return f"{ent[key]:.3g}"
                if key + "_at_least" in ent:
                    return f"> {ent[key + '_at_least']:.3g}"
                return "—"

            lines.append(
                f"| {ent['target']:.0e} | {_fmt(ent['track'], 'grad_evals_mean', '.0f')} | "
                f"{_fmt(ent['bare'], 'grad_evals_mean', '.0f')} | "
                f"{_fmt(ent['gd'], 'grad_evals_mean', '.0f')} | "
                f"{ratio('evals_bare_over_track')} | {ratio('evals_gd_over_track')} | "
                f"{ratio('seeds_per_s_track_over_gd')} |"
            )
        lines.append("")
    lines.append(f"Total wall time of the run: {res['total_wall_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def plot(res, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = res["problem"]["losses"]
    fig, axes = plt.subplots(len(losses), 2, figsize=(9, 3.6 * len(losses)), squeeze=False)
    labels = {"track": "kink-aware Dopri5", "bare": "bare Dopri5", "gd": "GD (jitted loop)"}
    for li, loss in enumerate(losses):
        rows = res[loss]["rows"]
        for ci, (key, xl) in enumerate(
            (("grad_evals_mean", "gradient evaluations per seed"),
             ("wall_per_seed_s", "wall time per seed (s, CPU, lax.map)"))
        ):
            ax = axes[li][ci]
            for m, mk in (("track", "o-"), ("bare", "s-"), ("gd", "^-")):
                rs = sorted((r for r in rows if r["method"] == m), key=lambda r: -r["setting"])
                ax.loglog([r[key] for r in rs], [r["err_max"] for r in rs], mk, label=labels[m])
            for t in TARGETS:
                ax.axhline(t, color="grey", lw=0.5, ls=":")
            ax.set_xlabel(xl)
            ax.set_ylabel("max relative error of final weights")
            ax.set_title(f"3-layer ReLU MLP, {loss} loss")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
