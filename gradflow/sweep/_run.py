"""sweep: one gradient-flow run written for ONE seed, mapped over seeds and grid points.

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
    ``map`` (CPU) or ``vmap`` (accelerators); several hosts via
    :func:`gradflow.sweep.initialize`.
    ``"loop"``: a Python loop of single compiled solves (the baseline of the benchmarks).
    ``"auto"``: ``shard_map`` when more than one local device, else ``map`` on CPU and
    ``vmap`` on GPU/TPU (measured: benchmarks/results/bench_sweep_*.json).
"""

from __future__ import annotations

import itertools
import time
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
from ._store import SweepStore, make_manifest

STRATEGIES = ("auto", "map", "vmap", "shard_map", "loop")
Problem = Callable[..., tuple[Any, Any, dict]]
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
    if strategy == "map":
        return jax.lax.map(lambda md: fn(*md), (dyn, datas))
    inner = "map" if jax.default_backend() == "cpu" else "vmap"
    return distributed.shard_runs(fn, mesh, inner=inner)(dyn, datas)


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


def _build(problem: Problem, params: dict, seeds: Sequence[int]):
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


def run_one(problem: Problem, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
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


def _solve_chunk(problem, params, seeds, strategy, chunk_size, mesh) -> dict[str, np.ndarray]:
    models, datas, extras, solve_opts, row = _build(problem, params, seeds)
    if strategy == "loop":
        outs = [_one_jit(m, d, solve_opts, row) for m, d in zip(models, datas, strict=True)]
        outs = jax.device_get(outs)
        cols = {k: np.stack([np.asarray(o[k]) for o in outs]) for k in outs[0]}
    else:
        size = chunk_size
        if strategy == "shard_map":
            nd = mesh.devices.size
            size = -(-size // nd) * nd
        pad = size - len(seeds)  # pad to a fixed batch so one compiled kernel serves all
        models = models + [models[-1]] * pad
        datas = datas + [datas[-1]] * pad
        out = _batch(_stack(models), _stack(datas), solve_opts, row, strategy, mesh)
        cols = {k: np.asarray(v)[: len(seeds)] for k, v in jax.device_get(out).items()}
    for k in extras[0]:
        cols[k] = np.asarray([float(e[k]) for e in extras])
    return cols


def _table(grid_index, params, seeds, cols, wall) -> pa.Table:
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


# --------------------------------------------------------------------------- the sweep
def _default_name(problem) -> str:
    return getattr(problem, "sweep_name", None) or getattr(
        problem, "__qualname__", type(problem).__name__
    )


def _default_config(problem) -> dict:
    cfg = getattr(problem, "config", None)
    return dict(cfg()) if callable(cfg) else {}  # pyright: ignore[reportCallIssue,reportArgumentType]


def sweep(
    problem: Problem,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    seeds: int | Iterable[int],
    *,
    strategy: str = "auto",
    out: str | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Run ``problem`` for every grid point and seed; one row per run (a ``pyarrow.Table``).

    Args:
        problem: ``problem(params, key) -> (model, data, options)`` for ONE run (module doc).
        grid: dict of value lists (their product) or a list of parameter dicts.
        seeds: a count (``range(seeds)``) or a list of seeds; the key is ``jax.random.key(seed)``.
        strategy: "auto", "map", "vmap", "shard_map" or "loop" (module doc).
        out: a directory to store rows in as chunks finish (resumes when rerun; see
            :class:`gradflow.sweep.SweepStore`); ``None`` keeps everything in memory.
        chunk_size: runs solved (and stored) together; default 32 (CPU) / 1024 (GPU/TPU).
        progress: a tqdm bar (runs done, runs/s, ETA).
        name, config: what identifies the sweep in ``out``'s manifest (default: the
            problem's ``sweep_name`` or qualified name, and its ``config()`` or ``{}``); a
            rerun with another identity is refused.

    Times in rows are on the clock of the problem's ``reduction`` (mean unless it says sum).

    >>> table = sweep(problem, {"n": [10, 30], "mu": [0.3]}, 8, strategy="map")
    """
    points = expand_grid(grid)
    seed_list = expand_seeds(seeds)
    strategy = resolve_strategy(strategy)
    if chunk_size is None:
        chunk_size = 32 if jax.default_backend() == "cpu" else 1024
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = min(chunk_size, len(seed_list))
    mesh = distributed.local_mesh() if strategy == "shard_map" else None
    chunks = [
        (g, c, seed_list[c * chunk_size : (c + 1) * chunk_size])
        for g in range(len(points))
        for c in range(-(-len(seed_list) // chunk_size))
    ]
    proc, nproc = distributed.process_share()
    chunks = [ch for i, ch in enumerate(chunks) if i % nproc == proc]

    store = None
    done: set[tuple[int, int]] = set()
    if out is not None:
        manifest = make_manifest(
            name=name or _default_name(problem),
            grid=points,
            seeds=seed_list,
            chunk_size=chunk_size,
            config=dict(config if config is not None else _default_config(problem)),
        )
        store = SweepStore.open(out, manifest)
        done = store.done()
    todo = [ch for ch in chunks if (ch[0], ch[1]) not in done]
    tables: list[pa.Table] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415 - only when asked

        total = sum(len(ch[2]) for ch in chunks)
        bar = tqdm(
            total=total,
            initial=total - sum(len(ch[2]) for ch in todo),
            unit="run",
            desc="sweep",
            smoothing=0.1,
        )
    try:
        for g, c, chunk_seeds in todo:
            start = time.perf_counter()
            cols = _solve_chunk(problem, points[g], chunk_seeds, strategy, chunk_size, mesh)
            table = _table(g, points[g], chunk_seeds, cols, time.perf_counter() - start)
            if store is not None:
                store.write(g, c, table)
            else:
                tables.append(table)
            if bar is not None:
                bar.update(len(chunk_seeds))
    finally:
        if bar is not None:
            bar.close()
    if store is not None:
        return store.load()
    return pa.concat_tables(tables) if tables else pa.table({})
