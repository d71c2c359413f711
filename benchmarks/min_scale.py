"""Min, Mallada & Vidal at scale: exact cone-entry and cos-alignment times against t1.

For every data family (cone boundary, clusters, anisotropic clusters, unbalanced 80/20
classes), n and mu of the grid and every seed: one :class:`AlignmentProblem` run (balanced
init eps, d, h; MEAN exponential loss; kink-aware solves), giving

- t_cone: the EXACT cone-entry time (every neuron in S_{sign v_j} or S_dead; from the
  kink-aware switch log), the time Theorem 1 bounds by t1;
- t_align: the EXACT cos >= 1 - delta time (root-found event); no theorem bounds it;
- t1 (and t2, eps_ok, log eps_max) of Theorem 1 for the run's data and init.

Every run violates eq. (28) (log eps_max ~ -1e4 .. -1e10 < log of the smallest float), so
"t_cone <= t1" tests the bound as a conjecture outside its hypothesis.

Writes under ``--out`` (default benchmarks/results/min_scale): ``store/`` (the sweep's
Parquet results store, resumable), ``summary.json`` (per family: fraction of runs with
t_cone <= t1, median t/t1, fits of the headline form c log n / sqrt(mu), the form
c log n / mu^2.5 and the free power law A n^a mu^b, with bootstrap CIs and R^2, on both
clocks; per grid point medians with bootstrap CIs; wall times), ``table.md`` and
``figure.png``.

    python benchmarks/min_scale.py                   # the full grid (hours on 2 cores)
    python benchmarks/min_scale.py --preset small    # a reduced grid (minutes)
    python benchmarks/min_scale.py --ns 10,30 --mus 0.3,0.9 --seeds 4 --out /tmp/x
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402

from gradflow.papers.min_mallada_vidal import (  # noqa: E402
    FAMILY_NAMES,
    AlignmentProblem,
    bootstrap_median,
    fit_forms,
    fraction_under,
)
from gradflow.sweep import columns, sweep  # noqa: E402

PRESETS = {
    "full": dict(
        ns=(10, 30, 100, 300, 1000, 3000), mus=(0.05, 0.1, 0.2, 0.45, 0.9), seeds=256
    ),
    "small": dict(ns=(10, 30, 100), mus=(0.05, 0.2, 0.9), seeds=8),
    "ci": dict(ns=(6, 12), mus=(0.3, 0.8), seeds=2),
}
RESULTS = Path(__file__).resolve().parent / "results"


def _fit_dict(f) -> dict | None:
    return None if f is None else {k: v for k, v in vars(f).items()}


def _fits(t, n, mu, boot) -> dict:
    try:
        return {k: _fit_dict(v) for k, v in fit_forms(t, n, mu, boot=boot).items()}
    except ValueError as e:  # too few finite times
        return {"error": str(e)}


def analyse(c: dict[str, np.ndarray], boot: int = 1000) -> dict:
    """Per family: fractions, ratios, fits (both clocks, both times), grid-point medians."""
    fam = c["family"].astype(str)
    out: dict = {}
    for f in sorted(set(fam)):
        s = fam == f
        n, mu = c["n"][s].astype(float), c["mu"][s].astype(float)
        cone, cos = c["t_cone_mean"][s], c["t_align_mean"][s]
        t1 = c["bound_t1_mean"][s]
        fr = {
            "runs": int(s.sum()),
            "cone_reached": int(np.isfinite(cone).sum()),
            "cos_reached": int(np.isfinite(cos).sum()),
            "fraction_cone_le_t1": fraction_under(cone, t1),
            "fraction_cos_le_t1": fraction_under(cos, t1),
            "ratio_cone_t1_median": float(np.nanmedian(cone / t1)),
            "ratio_cone_t1_max": float(np.nanmax(cone / t1)),
            "ratio_cos_t1_median": float(np.nanmedian(cos / t1)),
            "eps_ok_runs": int(np.sum(c["eps_ok"][s] > 0)),
            "log_eps_max_range": [float(np.min(c["log_eps_max"][s])),
                                  float(np.max(c["log_eps_max"][s]))],
            "zeno_pairs_total": int(np.sum(c["zeno_pairs"][s])),
            "failed_solves": int(np.sum(~np.isin(c["status_name"][s], ["success", "event"]))),
        }
        fits = {}
        for clock in ("mean", "sum"):
            for name, col in (("cone", "t_cone"), ("cos", "t_align")):
                fits[f"{name}_{clock}"] = _fits(c[f"{col}_{clock}"][s], n, mu, boot)
            fits[f"t1_{clock}"] = _fits(c[f"bound_t1_{clock}"][s], n, mu, boot)
        points = []
        for nn, mm in sorted(set(zip(n, mu, strict=True))):
            p = (n == nn) & (mu == mm)
            med, lo, hi = bootstrap_median(cone[p], boot=boot)
            cmed, clo, chi = bootstrap_median(cos[p], boot=boot)
            points.append({
                "n": int(nn), "mu": float(mm), "runs": int(p.sum()),
                "t_cone_mean_median": med, "ci": [lo, hi],
                "t_align_mean_median": cmed, "ci_align": [clo, chi],
                "t1_mean_median": float(np.median(t1[p])),
                "ratio_cone_t1_median": float(np.nanmedian(cone[p] / t1[p])),
                "fraction_cone_le_t1": fraction_under(cone[p], t1[p]),
                "wall_s_mean": float(np.mean(c["wall_s"][s][p])),
            })
        out[f] = {**fr, "fits": fits, "points": points}
    return out


def _fmt_fit(d: dict | None, key: str) -> str:
    if d is None or "error" in d:
        return "n/a"
    return f"{d[key]:.3g} [{d[key + '_lo']:.3g}, {d[key + '_hi']:.3g}]"


def markdown(summary: dict) -> str:
    fams = summary["families"]
    lines = [
        "# Min et al. at scale: exact cone-entry time t_cone and cos time t_align vs t1",
        "",
        f"Grid: n = {summary['grid']['ns']}, mu = {summary['grid']['mus']}, "
        f"{summary['grid']['seeds']} seeds per point, d = {summary['problem']['d']}, "
        f"h = {summary['problem']['h']}, eps = {summary['problem']['eps']}, delta = "
        f"{summary['problem']['delta']}; wall {summary['wall_s']:.0f} s.",
        "",
        "Every run violates eq. (28) (eps_ok = 0; log eps_max below the log of the smallest "
        "float64): t_cone <= t1 is a test of the bound as a conjecture, outside its hypothesis.",
        "",
        "| family | runs | cone reached | t_cone <= t1 | median t_cone/t1 | max t_cone/t1 "
        "| median t_align/t1 | eps_ok runs | log eps_max range |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f, s in fams.items():
        lines.append(
            f"| {f} | {s['runs']} | {s['cone_reached']} | {100 * s['fraction_cone_le_t1']:.1f}%"
            f" | {s['ratio_cone_t1_median']:.3g} | {s['ratio_cone_t1_max']:.3g} | "
            f"{s['ratio_cos_t1_median']:.3g} | {s['eps_ok_runs']} | "
            f"{s['log_eps_max_range'][0]:.3g} .. {s['log_eps_max_range'][1]:.3g} |"
        )
    lines += [
        "",
        "Fits (95% bootstrap CIs, resampling seeds within grid points). c: t ~ c log n / "
        "mu^p (p = 1/2 headline, p = 5/2 with xi = mu^2); R2 linear / log; power law "
        "t ~ A n^a mu^b.",
        "",
        "| family | time, clock | c (headline) | R2 | R2 log | c (mu^2.5) | R2 | R2 log "
        "| a (n) | b (mu) | R2 log |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f, s in fams.items():
        for key, d in s["fits"].items():
            if "error" in d:
                lines.append(f"| {f} | {key} | {d['error']} |||||||||")
                continue
            h, m, p = d["headline"], d["mu2.5"], d["power"]
            lines.append(
                f"| {f} | {key} | {_fmt_fit(h, 'c')} | {h['r2']:.3f} | {h['r2_log']:.3f} | "
                f"{_fmt_fit(m, 'c')} | {m['r2']:.3f} | {m['r2_log']:.3f} | {_fmt_fit(p, 'a')} "
                f"| {_fmt_fit(p, 'b')} | {(p or {}).get('r2', float('nan')):.3f} |"
            )
    lines += ["", "Per grid point (mean clock; median over seeds, 95% bootstrap CI):", "",
              "| family | n | mu | t_cone | t_align | t1 | t_cone/t1 | wall/run s |",
              "|---|---|---|---|---|---|---|---|"]
    for f, s in fams.items():
        for p in s["points"]:
            lines.append(
                f"| {f} | {p['n']} | {p['mu']:g} | {p['t_cone_mean_median']:.3g} "
                f"[{p['ci'][0]:.3g}, {p['ci'][1]:.3g}] | {p['t_align_mean_median']:.3g} | "
                f"{p['t1_mean_median']:.3g} | {p['ratio_cone_t1_median']:.3g} | "
                f"{p['wall_s_mean']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def figure(c: dict[str, np.ndarray], path: Path) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fam = c["family"].astype(str)
    fams = sorted(set(fam))
    fig, axes = plt.subplots(2, len(fams), figsize=(3.6 * len(fams), 6.4), squeeze=False)
    mus = sorted(set(c["mu"].astype(float)))
    for k, f in enumerate(fams):
        for m_i, m in enumerate(mus):
            s = (fam == f) & (c["mu"] == m)
            ns = sorted(set(c["n"][s].astype(int)))
            med = [np.nanmedian(c["t_cone_mean"][s & (c["n"] == nn)]) for nn in ns]
            cmed = [np.nanmedian(c["t_align_mean"][s & (c["n"] == nn)]) for nn in ns]
            t1 = [np.median(c["bound_t1_mean"][s & (c["n"] == nn)]) for nn in ns]
            col = f"C{m_i}"
            axes[0, k].plot(ns, med, "o-", color=col, label=f"t_cone, mu={m:g}")
            axes[0, k].plot(ns, cmed, "s:", color=col, ms=3)
            axes[1, k].plot(ns, np.asarray(med) / np.asarray(t1), "o-", color=col)
        axes[0, k].set_title(f"{f}", fontsize=9)
        for ax in axes[:, k]:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("n")
        axes[0, k].set_ylabel("median time (mean clock)", fontsize=8)
        axes[1, k].set_ylabel("median t_cone / t1", fontsize=8)
    axes[0, 0].legend(fontsize=6, title="o-: t_cone (exact), s: t_align", title_fontsize=6)
    fig.suptitle(
        "Exact cone-entry time vs Theorem 1's t1 (every run outside eq. (28))", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full")
    ap.add_argument("--ns", type=str, default=None)
    ap.add_argument("--mus", type=str, default=None)
    ap.add_argument("--families", type=str, default=",".join(FAMILY_NAMES))
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--h", type=int, default=20)
    ap.add_argument("--eps", type=float, default=1e-6)
    ap.add_argument("--delta", type=float, default=1e-2)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--t-end", type=float, default=60.0)
    ap.add_argument("--t-max", type=float, default=2000.0)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--out", type=str, default=None)
    args = ap.parse_args(argv)
    pre = PRESETS[args.preset]
    ns = [int(v) for v in args.ns.split(",")] if args.ns else list(pre["ns"])
    mus = [float(v) for v in args.mus.split(",")] if args.mus else list(pre["mus"])
    seeds = args.seeds or pre["seeds"]
    families = args.families.split(",")
    out = Path(args.out) if args.out else RESULTS / (
        "min_scale" if args.preset == "full" else f"min_scale_{args.preset}"
    )
    out.mkdir(parents=True, exist_ok=True)
    problem = AlignmentProblem(
        d=args.d, h=args.h, eps=args.eps, delta=args.delta, rtol=args.rtol,
        t_max=args.t_max, t_end=args.t_end, loss_times=(args.t_end,), n_saves=8,
    )
    grid = {"n": ns, "mu": mus, "family": families}
    t0 = time.perf_counter()
    table = sweep(problem, grid, seeds, strategy="map", out=str(out / "store"),
                  chunk_size=args.chunk_size, progress=False)
    wall = time.perf_counter() - t0
    c = {k: np.asarray(v) for k, v in columns(table).items()}
    summary = {
        "machine": machine_info(),
        "grid": {"ns": ns, "mus": mus, "families": families, "seeds": seeds},
        "problem": problem.config(),
        "wall_s": wall,
        "note": "every run violates eq. (28); t_cone <= t1 tests the bound as a conjecture",
        "families": analyse(c, boot=args.boot),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    (out / "table.md").write_text(markdown(summary))
    figure(c, out / "figure.png")
    print(markdown(summary))
    print(f"wrote {out}/summary.json, table.md, figure.png ({wall:.0f} s)")
    return summary


if __name__ == "__main__":
    main()
