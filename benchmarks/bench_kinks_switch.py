"""Cost of a switch (issue 11, item 3): gradient evaluations of the kink-aware vs the bare
Dopri5 solve at equal error on the two-layer benchmark problem of bench_kinks.py (n=100,
d=50, h=20, eps=1e-4, exp loss, t=60), a few seeds under lax.map, CPU.

    python benchmarks/bench_kinks_switch.py [--seeds 4] [--tag now]

Writes benchmarks/results/kinks_switch_<tag>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np
from bench_kinks import TARGETS, best_at, gf_runner, make_data, row, timed

RTOLS = {
    "kinks": (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7, 1e-8),
    "bare": (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--tag", default="now")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--methods", default="kinks,bare", help="comma-separated subset")
    ap.add_argument("--rtols", default="", help="comma-separated rtols (default: the ladders)")
    args = ap.parse_args()
    data, _ = make_data(jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), args.seeds)
    ref_out, _ = timed(gf_runner(data, "track", 1e-12), keys)
    ref = (np.asarray(ref_out[0]), np.asarray(ref_out[1]))
    rows = []
    for method, kinks in (("kinks", "track"), ("bare", "off")):
        if method not in args.methods.split(","):
            continue
        ladder = [float(r) for r in args.rtols.split(",")] if args.rtols else RTOLS[method]
        for rtol in ladder:
            o, w = timed(gf_runner(data, kinks, rtol), keys)
            r = row(method, rtol, o, w, ref, args.seeds)
            rows.append(r)
            print(
                f"{method:5s} rtol {rtol:.0e}: err {r['err_max']:.2e} steps {r['steps_mean']:.0f}"
                f" evals {r['grad_evals_mean']:.0f} switches {r['switches_mean']:.0f}"
                f" wall/seed {r['wall_per_seed_s']:.3f}s ok {r['all_ok']}",
                flush=True,
            )
    summary = []
    for target in TARGETS:
        k, b = best_at(rows, "kinks", target), best_at(rows, "bare", target)
        ent = {"target": target, "kinks": k, "bare": b}
        if k and b:
            ent["evals_bare_over_kinks"] = b["grad_evals_mean"] / k["grad_evals_mean"]
        summary.append(ent)
        print(
            f"target {target:.0e}: kinks evals "
            f"{k['grad_evals_mean'] if k else float('nan'):.0f}, bare evals "
            f"{b['grad_evals_mean'] if b else float('nan'):.0f}, bare/kinks "
            f"{ent.get('evals_bare_over_kinks', float('nan')):.2f}"
        )
    out = Path(args.out) / f"kinks_switch_{args.tag}.json"
    out.write_text(json.dumps({"seeds": args.seeds, "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
