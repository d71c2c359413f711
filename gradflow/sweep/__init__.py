"""Sweeps: one run written for ONE seed, mapped over seeds, grid points, devices and machines.

Generic machinery only (a problem is any ``problem(params, key) -> (model, data, options)``,
or a :class:`Problem` subclass that also gives its CLI grid, summary and figures); paper
experiments live in ``gradflow.papers``. Executors: ``"local"`` (default) and ``"ray"``
(:class:`RayExecutor`, optional extra ``gradflow[ray]``). Imports pyarrow: ``import gradflow``
does not import this subpackage (use ``import gradflow.sweep``).

>>> import gradflow.sweep as gs
>>> table = gs.sweep(problem, {"n": [10, 30], "mu": [0.3]}, seeds=64, out="runs/a")
"""

from ._distributed import (
    initialize as initialize,
    local_mesh as local_mesh,
    shard_runs as shard_runs,
)
from ._fingerprint import fingerprint as fingerprint
from ._fit import (
    ConstantFit as ConstantFit,
    PowerLawFit as PowerLawFit,
    fit_constant as fit_constant,
    fit_power_law as fit_power_law,
)
from ._problem import (
    Problem as Problem,
    load_object as load_object,
    parse_value as parse_value,
    problem_from_manifest as problem_from_manifest,
)
from ._ray import RayExecutor as RayExecutor
from ._run import (
    STRATEGIES as STRATEGIES,
    default_row as default_row,
    expand_grid as expand_grid,
    expand_seeds as expand_seeds,
    resolve_strategy as resolve_strategy,
    run_one as run_one,
)
from ._store import (
    FIGURES as FIGURES,
    SweepStore as SweepStore,
    chunk_name as chunk_name,
    columns as columns,
    load_results as load_results,
    make_manifest as make_manifest,
    open_existing as open_existing,
    read_manifest as read_manifest,
)
from ._sweep import EXECUTORS as EXECUTORS, sweep as sweep

__all__ = [
    "EXECUTORS",
    "FIGURES",
    "STRATEGIES",
    "ConstantFit",
    "PowerLawFit",
    "Problem",
    "RayExecutor",
    "SweepStore",
    "chunk_name",
    "columns",
    "default_row",
    "expand_grid",
    "expand_seeds",
    "fingerprint",
    "fit_constant",
    "fit_power_law",
    "initialize",
    "load_object",
    "load_results",
    "local_mesh",
    "make_manifest",
    "open_existing",
    "parse_value",
    "problem_from_manifest",
    "read_manifest",
    "resolve_strategy",
    "run_one",
    "shard_runs",
    "sweep",
]
