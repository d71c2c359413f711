"""Sweeps: one run written for ONE seed, mapped over seeds, grid points and devices.

>>> import gradflow.sweep as gs
>>> table = gs.sweep(problem, {"n": [10, 30], "mu": [0.3]}, seeds=64, out="runs/a")
"""

from .distributed import initialize, local_mesh, shard_runs
from .run import (
    STRATEGIES,
    default_row,
    expand_grid,
    expand_seeds,
    resolve_strategy,
    run_one,
    sweep,
)
from .store import SweepStore, columns, load_results, read_manifest

__all__ = [
    "STRATEGIES",
    "SweepStore",
    "columns",
    "default_row",
    "expand_grid",
    "expand_seeds",
    "initialize",
    "load_results",
    "local_mesh",
    "read_manifest",
    "resolve_strategy",
    "run_one",
    "shard_runs",
    "sweep",
]
