"""Ray's overhead against the local executor: seeds/s of one sweep at 64 seeds.

The standard problem of bench_sweep.py (n=100, d=50, h=20, mu=0.3 cone data, eps=1e-4, mean
exp loss, flow to T from results/bench_sweep_cpu.json, rtol 1e-6), strategy ``map``, chunks
of 8. ``local``: in this process. ``ray``: a local Ray started here on 127.0.0.1 with as many
CPUs as asked (``--cpus``), one worker actor per CPU; each is timed after a warm-up sweep
(compilation in every worker actor, which keeps its kernel), on other seeds; local and ray
sweeps alternate ``--repeat`` times (same load on a shared machine), best of each. Overhead = ray
time / local time - 1: with ``--cpus 1`` it is Ray's own cost (scheduling, pickling, the driver
writing rows); with more CPUs Ray also runs chunks in parallel, which ``local`` does not.
Target: overhead <= 15 % at 64 seeds with one CPU.

    RAY_USAGE_STATS_ENABLED=0 python benchmarks/bench_ray.py [--seeds 64] [--cpus 2]
    # table + results/bench_ray_<cpus>cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
import jax  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info  # noqa: E402
from bench_sweep import Problem  # noqa: E402

import gradflow.sweep as gs  # noqa: E402

OUT = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2, help="alternating local/ray timings")
    args = ap.parse_args()
    import ray

    T = json.loads((OUT / "bench_sweep_cpu.json").read_text())["T_mean_clock"]
    problem = Problem(T, 1e-6)
    kw: dict[str, Any] = dict(strategy="map", chunk_size=args.chunk, progress=False)
    seeds = list(range(1000, 1000 + args.seeds))
    warm = list(range(args.chunk * args.cpus))

    gs.sweep(problem, {"mu": [0.3]}, warm, **kw)
    root = str(Path(__file__).resolve().parents[1])
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, "JAX_PLATFORMS": "cpu"}})
    local_times, ray_times = [], []
    try:
        ex = gs.RayExecutor(num_cpus=1)
        gs.sweep(problem, {"mu": [0.3]}, warm, executor=ex, **kw)  # every worker compiles
        # alternate local / ray so both see the same load on a shared machine; best of each
        for _ in range(args.repeat):
            t = time.perf_counter()
            local = gs.sweep(problem, {"mu": [0.3]}, seeds, **kw)
            local_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            remote = gs.sweep(problem, {"mu": [0.3]}, seeds, executor=ex, **kw)
            ray_times.append(time.perf_counter() - t)
    finally:
        ray.shutdown()
    local_s, ray_s = min(local_times), min(ray_times)
    a, b = local.drop_columns(["wall_s"]), remote.drop_columns(["wall_s"])
    same = a.column_names == b.column_names and all(  # bit for bit, NaN equal to NaN
        np.array_equal(np.asarray(a[k].to_pylist()), np.asarray(b[k].to_pylist()),
                       equal_nan=a[k].type != pa.string())
        for k in a.column_names
    )
    res = {
        "seeds": args.seeds,
        "chunk_size": args.chunk,
        "ray_cpus": args.cpus,
        "local_s": local_s,
        "ray_s": ray_s,
        "local_s_all": local_times,
        "ray_s_all": ray_times,
        "timing": f"best of {args.repeat} alternating local/ray sweeps",
        "local_seeds_per_s": args.seeds / local_s,
        "ray_seeds_per_s": args.seeds / ray_s,
        "ray_time_over_local": ray_s / local_s,
        "overhead": ray_s / local_s - 1,
        "ray_executor": "worker actors (one per CPU, kernel kept), persistent compile cache",
        "rows_identical": bool(same),
        "machine": machine_info(),
    }
    print(f"{'executor':>8} {'seconds':>8} {'seeds/s':>8}")
    print(f"{'local':>8} {local_s:8.2f} {args.seeds / local_s:8.2f}")
    print(f"{'ray':>8} {ray_s:8.2f} {args.seeds / ray_s:8.2f}  ({args.cpus} CPUs)")
    print(f"ray time / local time = {ray_s / local_s:.3f}; rows identical: {same}")
    OUT.mkdir(exist_ok=True)
    (OUT / f"bench_ray_{args.cpus}cpu.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
