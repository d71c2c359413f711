"""Sweeps: one run written for ONE seed, mapped over seeds, grid points and devices.

Generic machinery only (a problem is any ``problem(params, key) -> (model, data, options)``);
paper experiments live in ``gradflow.papers``. Imports pyarrow: ``import gradflow`` does not
import this subpackage (use ``import gradflow.sweep``).

>>> import gradflow.sweep as gs
>>> table = gs.sweep(problem, {"n": [10, 30], "mu": [0.3]}, seeds=64, out="runs/a")
"""

from ._distributed import (
    initialize as initialize,
    local_mesh as local_mesh,
    shard_runs as shard_runs,
)
from ._fit import (
    ConstantFit as ConstantFit,
    PowerLawFit as PowerLawFit,
    fit_constant as fit_constant,
    fit_power_law as fit_power_law,
)
from ._run import (
    STRATEGIES as STRATEGIES,
    default_row as default_row,
    expand_grid as expand_grid,
    expand_seeds as expand_seeds,
    resolve_strategy as resolve_strategy,
    run_one as run_one,
    sweep as sweep,
)
from ._store import (
    SweepStore as SweepStore,
    chunk_name as chunk_name,
    columns as columns,
    load_results as load_results,
    make_manifest as make_manifest,
    read_manifest as read_manifest,
)

__all__ = [
    "STRATEGIES",
    "ConstantFit",
    "PowerLawFit",
    "SweepStore",
    "chunk_name",
    "columns",
    "default_row",
    "expand_grid",
    "expand_seeds",
    "fit_constant",
    "fit_power_law",
    "initialize",
    "load_results",
    "local_mesh",
    "make_manifest",
    "read_manifest",
    "resolve_strategy",
    "run_one",
    "shard_runs",
    "sweep",
]
