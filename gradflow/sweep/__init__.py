"""Sweeps: one run written for ONE seed, mapped over seeds, grid points and devices.

>>> import gradflow.sweep as gs
>>> table = gs.sweep(problem, {"n": [10, 30], "mu": [0.3]}, seeds=64, out="runs/a")
"""

from .distributed import initialize as initialize, local_mesh as local_mesh
from .run import (
    STRATEGIES as STRATEGIES,
    default_row as default_row,
    expand_grid as expand_grid,
    expand_seeds as expand_seeds,
    resolve_strategy as resolve_strategy,
    run_one as run_one,
    sweep as sweep,
)
from .store import (
    SweepStore as SweepStore,
    columns as columns,
    load_results as load_results,
    read_manifest as read_manifest,
)
