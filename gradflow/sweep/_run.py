"""The sweep kernel: one gradient-flow run written for ONE seed, mapped over a chunk of seeds.

A *problem* is ``problem(params, key) -> (model, data, options)`` for one run: ``params`` is
one grid point (a dict such as ``{"n": 30, "mu": 0.3}``), ``key`` a PRNG key made from the
seed. ``options`` holds :func:`gradflow.solve_flow` keyword arguments (``t1``, ``loss``,
``reduction``, ``saveat`` (an int or a tuple of times), ``stop``, ``fn``, ``config``) plus two
optional entries:

- ``"row"``: ``row(traj, model, data) -> {name: scalar array}``, traced inside the compiled
  kernel (it may run further solves); the summaries of a run that go into its row;
- ``"extra"``: ``{name: float}`` computed on the host by the problem (e.g. a bound).

Options other than ``extra`` must not depend on the key (build ``stop``/``row``/``config``
once, outside the problem, so the compiled kernel is reused across grid points).

The sweep builds each chunk of runs on the host (cheap: data and init), stacks them, and
solves them with ONE compiled kernel per shape: every row holds the grid values, the seed,
the row summaries, ``status`` (:class:`gradflow.Status` code and name), the solver stats and
the wall time (amortised over the chunk). Only summaries leave the kernel, so 10^4 seeds fit
in memory.

Strategies:
    ``"map"``: ``lax.map`` over the runs of a chunk (one at a time, each at its own step
    count). Right on CPU: adaptive steps differ by seed and ``vmap`` would run every seed at
    the slowest one's steps.
    ``"vmap"``: all runs of a chunk in lockstep. Right on GPU/TPU (wide parallel hardware).
    ``"shard_map"``: the chunk split over every local device (a Mesh), each device running
    ``map`` (CPU) or ``vmap`` (accelerators). Several machines: ``executor="ray"`` (chunks
    on Ray worker actors, see :func:`gradflow.sweep.sweep`).
    ``"loop"``: a Python loop of single compiled solves (the baseline of the benchmarks).
    ``"auto"``: ``shard_map`` when more than one local device, else ``map`` on CPU and
    ``vmap`` on GPU/TPU (measured: benchmarks/results/bench_sweep_*.json).
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from .._validate import integer
from ..flow import Status, solve_flow
from ..losses import empirical_loss
from . import _distributed as distributed
from ._progress import compiled as report_compiled, tick

STRATEGIES = ("auto", "map", "vmap", "shard_map", "loop")
ProblemFn = Callable[..., tuple[Any, Any, dict]]
_SOLVE_KEYS = ("loss", "reduction", "t1", "t0", "saveat", "fn", "stop", "config", "trainable")
_STAT_KEYS = ("num_steps", "num_accepted", "num_rejected", "grad_evals")


# --------------------------------------------------------------------------- grid and seeds
def expand_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list[dict]:
    """``{"n": [10, 30], "mu": [.1, .3]}`` -> the 4 points of the product (n slowest);
    a list of dicts is taken as is. Values must be numbers, strings or bools."""
    if isinstance(grid, Mapping):
        if not grid:
            raise ValueError("grid must name at least one parameter, got {}")
        # a 1-D NumPy/JAX array of values is a list of values
        grid = {
            k: (np.asarray(v).tolist() if getattr(v, "ndim", None) == 1 else v)
            for k, v in grid.items()
        }
        keys = list(grid)
        for k in keys:
            vals = grid[k]
            if isinstance(vals, str | bytes) or not isinstance(vals, Sequence) or not vals:
                raise ValueError(f"grid[{k!r}] must be a non-empty list of values, got {vals!r}")
        points = [
            dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())
        ]
    else:
        points = [dict(p) for p in grid]
        if not points:
            raise ValueError("grid must hold at least one point")
    for p in points:
        for k, v in p.items():
            if not isinstance(v, int | float | str | bool | np.integer | np.floating):
                raise ValueError(f"grid value {k}={v!r} must be a number, string or bool")
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in p.items()} for p in points
    ]


def expand_seeds(seeds: int | Iterable[int]) -> list[int]:
    """``64`` -> ``[0, ..., 63]``; an iterable of distinct non-negative ints is kept in order."""
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        return list(range(integer("seeds", seeds)))
    if not isinstance(seeds, Iterable) or isinstance(seeds, str | bytes):
        raise ValueError(f"seeds must be a count or a list of seeds, got {seeds!r}")
    out = [integer("seed", s, 0) for s in seeds]
    if not out:
        raise ValueError("seeds must hold at least one seed")
    if len(set(out)) != len(out):
        raise ValueError("seeds must be distinct")
    if min(out) < 0:
        raise ValueError("seeds must be non-negative")
    return out


def key_of(seed: int) -> jax.Array:
    """The PRNG key of a seed (the same for every grid point: common random numbers)."""
    return jax.random.key(seed)


# --------------------------------------------------------------------------- the kernel
def default_row(traj, model, data, loss: str = "exp", reduction: str = "mean") -> dict:
    """Row summaries of a plain run: t_event, t_final and the loss at t_final."""
    final_loss = empirical_loss(traj.final, data.x, data.y, loss, reduction)
    return {"t_event": traj.t_event, "t_final": traj.t_final, "loss_final": final_loss}


def _split_options(options: Mapping[str, Any]) -> tuple[dict, Callable | None, dict]:
    options = dict(options)
    row = options.pop("row", None)
    extra = dict(options.pop("extra", None) or {})
    unknown = set(options) - set(_SOLVE_KEYS)
    if unknown:
        raise ValueError(
            f"unknown solve option(s) {sorted(unknown)}; allowed: {list(_SOLVE_KEYS)}, "
            "'row', 'extra'"
        )
    if "t1" not in options:
        raise ValueError("the problem's options must give t1 (the end time of the solve)")
    sv = options.get("saveat")
    if sv is not None and not isinstance(sv, int):
        options["saveat"] = tuple(float(t) for t in np.asarray(sv).ravel())
    return options, row, extra


def _one(model, data, solve_opts: dict, row: Callable | None) -> dict[str, jax.Array]:
    """One run -> its row of scalars (traced; the unit every strategy maps)."""
    traj = solve_flow(model, data, **solve_opts)
    if row is None:
        summary = default_row(
            traj, model, data, solve_opts.get("loss", "exp"), solve_opts.get("reduction", "mean")
        )
    else:
        summary = row(traj, model, data)
    out = {k: jnp.asarray(v) for k, v in summary.items()}
    out["status"] = traj.result
    for k in _STAT_KEYS:
        out[k] = jnp.asarray(traj.stats[k])
    return out


@eqx.filter_jit
def _one_jit(model, data, solve_opts, row):
    return _one(model, data, solve_opts, row)


@eqx.filter_jit
def _batch(models, datas, solve_opts, row, strategy, mesh):
    # map over the arrays only: a model's functions (eqx.nn.MLP's activation) stay static
    dyn, static = eqx.partition(models, eqx.is_array)

    def fn(m, d):
        return _one(eqx.combine(m, static), d, solve_opts, row)

    if strategy == "vmap":
        return jax.vmap(fn)(dyn, datas)
    def fn_ticking(m, d):  # one progress tick per finished run (lax.map only: vmap unrolls)
        out = fn(m, d)
        jax.debug.callback(tick, out["status"])
        return out

    if strategy == "map":
        return jax.lax.map(lambda md: fn_ticking(*md), (dyn, datas))
    inner = "map" if jax.default_backend() == "cpu" else "vmap"
    fn_dev = fn_ticking if inner == "map" else fn
    return distributed.shard_runs(fn_dev, mesh, inner=inner)(dyn, datas)


_KERNELS: OrderedDict[Any, Any] = OrderedDict()
_MAX_KERNELS = 16


def _compiled_batch(*args) -> tuple[Callable, float]:
    """``_batch`` compiled ahead of time for these arguments' shapes (cached); the seconds the
    compile took (0 on a cache hit), so progress and wall times can leave compilation out."""
    dyn, static = eqx.partition(args, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten(static)
    shapes = tuple((x.shape, str(x.dtype)) for x in jax.tree_util.tree_leaves(dyn))
    key = (treedef, tuple(leaves), shapes, bool(jax.config.read("jax_enable_x64")))
    try:
        hash(key)
    except TypeError:  # an unhashable static leaf: let jit's own cache handle it
        return _batch, 0.0
    if key in _KERNELS:
        _KERNELS.move_to_end(key)
        return _KERNELS[key], 0.0
    start = time.perf_counter()
    compiled = _batch.lower(*args).compile()
    _KERNELS[key] = compiled
    if len(_KERNELS) > _MAX_KERNELS:
        _KERNELS.popitem(last=False)
    seconds = time.perf_counter() - start
    report_compiled(seconds)
    return compiled, seconds


def resolve_strategy(strategy: str) -> str:
    """``auto`` -> a concrete strategy for this backend and device count (see module doc)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy != "auto":
        return strategy
    if jax.local_device_count() > 1:
        return "shard_map"
    return "map" if jax.default_backend() == "cpu" else "vmap"


# --------------------------------------------------------------------------- building runs
def _stack(trees: list) -> Any:
    dyn0, static0 = eqx.partition(trees[0], eqx.is_array)
    dyns = []
    for t in trees:
        dyn, static = eqx.partition(t, eqx.is_array)
        if jax.tree_util.tree_structure(dyn) != jax.tree_util.tree_structure(dyn0):
            raise ValueError("the problem returned differently structured models/data per seed")
        dyns.append(dyn)
    try:
        stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *dyns)
    except ValueError as e:
        raise ValueError(
            f"runs of one grid point must have equal shapes to be batched: {e}"
        ) from None
    return eqx.combine(stacked, static0)


def _build(problem: ProblemFn, params: dict, seeds: Sequence[int]):
    models, datas, extras = [], [], []
    first = None
    for s in seeds:
        model, data, options = problem(dict(params), key_of(s))
        solve_opts, row, extra = _split_options(options)
        if first is None:
            first = (solve_opts, row)
        models.append(model)
        datas.append(data)
        extras.append(extra)
    assert first is not None
    return models, datas, extras, first[0], first[1]


def run_one(problem: ProblemFn, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """One run of a sweep, solved on its own (the reference every strategy must equal).

    Returns the same row (without grid values and wall time) as the sweep stores.
    """
    model, data, options = problem(dict(params), key_of(seed))
    solve_opts, row, extra = _split_options(options)
    out = jax.device_get(_one_jit(model, data, solve_opts, row))
    res = {"seed": seed, **{k: np.asarray(v).item() for k, v in out.items()}}
    res.update({k: float(v) for k, v in extra.items()})
    res["status_name"] = Status(res["status"]).name.lower()
    return res


def solve_chunk(
    problem, params, seeds, strategy, chunk_size, mesh
) -> tuple[dict[str, np.ndarray], float, float]:
    """Solve one chunk of runs: ``(columns, run seconds, compile seconds)``."""
    start = time.perf_counter()
    compile_s = 0.0
    models, datas, extras, solve_opts, row = _build(problem, params, seeds)
    if strategy == "loop":
        outs = []
        for m, d in zip(models, datas, strict=True):
            outs.append(jax.device_get(_one_jit(m, d, solve_opts, row)))
            tick(1)
        cols = {k: np.stack([np.asarray(o[k]) for o in outs]) for k in outs[0]}
    else:
        size = chunk_size
        if strategy == "shard_map":
            nd = mesh.devices.size
            size = -(-size // nd) * nd
        pad = size - len(seeds)  # pad to a fixed batch so one compiled kernel serves all
        models = models + [models[-1]] * pad
        datas = datas + [datas[-1]] * pad
        args = (_stack(models), _stack(datas), solve_opts, row, strategy, mesh)
        kernel, compile_s = _compiled_batch(*args)
        out = kernel(*args)
        cols = {k: np.asarray(v)[: len(seeds)] for k, v in jax.device_get(out).items()}
    for k in extras[0]:
        cols[k] = np.asarray([float(e[k]) for e in extras])
    return cols, time.perf_counter() - start - compile_s, compile_s


def make_table(grid_index, params, seeds, cols, wall) -> pa.Table:
    """The rows of one chunk: grid index and values, seed, the kernel's columns, wall time."""
    n = len(seeds)
    data: dict[str, Any] = {"grid_index": np.full(n, grid_index, dtype=np.int64)}
    for k, v in params.items():
        if k in cols or k in ("seed", "grid_index", "wall_s", "status_name"):
            raise ValueError(f"grid parameter {k!r} collides with a row column of that name")
        data[k] = [v] * n
    data["seed"] = np.asarray(seeds, dtype=np.int64)
    for k, v in cols.items():
        data[k] = v
    data["status_name"] = [Status(int(c)).name.lower() for c in cols["status"]]
    data["wall_s"] = np.full(n, wall / n)
    return pa.table(data)
