"""sweep(): every (grid point, seed) of a problem, in chunks, on an executor, into a store.

Which tool serves which case:

- one machine, one device: ``executor="local"`` (the default), strategy ``map`` (CPU) or
  ``vmap`` (GPU);
- one machine, several devices: ``executor="local"``, strategy ``shard_map`` (one compiled
  kernel split over a Mesh of the local devices);
- several machines (or processes): ``executor="ray"`` (or :class:`RayExecutor`): chunks go
  to long-lived Ray worker actors that keep the compiled kernel, retried when a worker dies;
  the driver writes every chunk into the store, so a killed driver resumes on its rerun. Ray
  balances chunks of unequal cost over the cluster;
- one computation too large for one host (a single solve sharded over the devices of many
  hosts): ``jax.distributed`` (:func:`gradflow.sweep.initialize`) and a global Mesh. A sweep
  of independent runs never needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax
import pyarrow as pa

from .._version import __version__
from . import _distributed as distributed
from ._fingerprint import fingerprint
from ._problem import object_ref
from ._progress import Progress
from ._ray import RayExecutor, run_on_ray
from ._run import (
    ProblemFn,
    expand_grid,
    expand_seeds,
    key_of,
    make_table,
    resolve_strategy,
    solve_chunk,
)
from ._store import SweepStore, chunk_name, make_manifest

EXECUTORS = ("local", "ray")
Job = tuple[int, int, list[int]]  # (grid index, chunk index, seeds)


def resolve_executor(executor: str | RayExecutor) -> str | RayExecutor:
    """``"local"``, or a :class:`RayExecutor` (``"ray"`` -> ``RayExecutor()``)."""
    if isinstance(executor, RayExecutor):
        return executor
    if executor == "ray":
        return RayExecutor()
    if executor != "local":
        raise ValueError(f"executor must be one of {EXECUTORS} or a RayExecutor, got {executor!r}")
    return "local"


def _check_problem(problem: ProblemFn, points: list[dict], seed: int) -> None:
    """Build the first seed's run at every grid point (host side, cheap): a bad grid value or
    a broken problem fails here, before any output folder is touched."""
    if not callable(problem):
        raise ValueError(f"problem must be callable as problem(params, key), got {problem!r}")
    for p in points:
        out = problem(dict(p), key_of(seed))
        if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], Mapping)):
            raise ValueError("problem(params, key) must return (model, data, options: dict)")


def _config_of(problem: Any) -> dict:
    cfg: Any = getattr(problem, "config", None)
    return dict(cfg()) if cfg is not None else {}


def sweep(
    problem: ProblemFn,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    seeds: int | Iterable[int],
    *,
    strategy: str = "auto",
    executor: str | RayExecutor = "local",
    out: str | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
) -> pa.Table:
    """Run ``problem`` for every grid point and seed; one row per run (a ``pyarrow.Table``).

    Args:
        problem: ``problem(params, key) -> (model, data, options)`` for ONE run (see
            :class:`gradflow.sweep.Problem`).
        grid: dict of value lists (their product) or a list of parameter dicts.
        seeds: a count (``range(seeds)``) or a list of seeds; the key is ``jax.random.key(seed)``.
        strategy: "auto", "map", "vmap", "shard_map" or "loop" (how a chunk is batched).
        executor: "local" (in this process, default) or "ray" / a :class:`RayExecutor` (chunks on
            Ray worker actors; module doc says which serves which case).
        out: a directory to store rows in as chunks finish (resumes when rerun; see
            :class:`gradflow.sweep.SweepStore`); ``None`` keeps everything in memory. Its
            identity is a fingerprint of the problem by value, grid, seeds, chunk size,
            precision (x64) and gradflow version; another sweep's directory is refused.
        chunk_size: runs solved (and stored) together; default 32 (CPU) / 1024 (GPU/TPU).
        progress: a tqdm bar (runs done, runs/s and ETA without compile time, rows/s).

    Every argument is checked (and the first run of each grid point built) before ``out`` is
    touched. Times in rows are on the clock of the problem's ``reduction`` (mean unless sum).

    >>> table = sweep(problem, {"n": [10, 30], "mu": [0.3]}, 8, strategy="map")
    """
    points = expand_grid(grid)
    seed_list = expand_seeds(seeds)
    strategy = resolve_strategy(strategy)
    executor = resolve_executor(executor)
    if chunk_size is None:
        chunk_size = 32 if jax.default_backend() == "cpu" else 1024
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = min(chunk_size, len(seed_list))
    _check_problem(problem, points, seed_list[0])
    jobs: list[Job] = [
        (g, c, seed_list[c * chunk_size : (c + 1) * chunk_size])
        for g in range(len(points))
        for c in range(-(-len(seed_list) // chunk_size))
    ]
    store = None
    if out is not None:
        manifest = make_manifest(
            problem_fingerprint=fingerprint(problem),
            problem_ref=object_ref(problem),
            grid=points,
            seeds=seed_list,
            chunk_size=chunk_size,
            x64=bool(jax.config.read("jax_enable_x64")),
            gradflow_version=__version__,  # part of a sweep's identity
            config=_config_of(problem),
        )
        store = SweepStore.open(out, manifest)
    done = store.done() if store is not None else set()
    tables: dict[tuple[int, int], pa.Table] = {}

    def sink(job: Job, cols: dict, run_s: float) -> None:
        g, c, s = job
        table = make_table(g, points[g], s, cols, run_s)
        if store is not None:
            store.write(g, c, table)
        else:
            tables[(g, c)] = table

    total = sum(len(j[2]) for j in jobs)
    initial = sum(len(j[2]) for j in jobs if (j[0], j[1]) in done)
    with Progress(total, initial, enabled=progress) as bar:
        todo = [j for j in jobs if (j[0], j[1]) not in done]
        while todo:
            deferred = _run_jobs(problem, points, todo, strategy, chunk_size, executor, store,
                                 sink, bar)
            todo = _wait_for_others(store, deferred)
    if store is not None:
        return store.load()
    return pa.concat_tables([tables[k] for k in sorted(tables)]) if tables else pa.table({})


def _claimer(store: SweepStore | None) -> Callable[[Job], contextlib.AbstractContextManager]:
    """A job's claim: the store's chunk lock (yields False if another driver holds it or the
    chunk is already written), or always True without a store."""

    @contextlib.contextmanager
    def claim(job: Job) -> Iterator[bool]:
        if store is None:
            yield True
            return
        with store.claim(job[0], job[1]) as mine:
            yield mine and not (store.path / chunk_name(job[0], job[1])).exists()

    return claim


def _run_jobs(problem, points, jobs, strategy, chunk_size, executor, store, sink, bar) -> list:
    """Compute every job this driver can claim; return the ones another driver holds."""
    claim = _claimer(store)
    if isinstance(executor, RayExecutor):
        return run_on_ray(executor, problem, points, jobs, strategy, chunk_size, claim, sink, bar)
    mesh = distributed.local_mesh() if strategy == "shard_map" else None
    deferred = []
    for job in jobs:
        g, c, s = job
        with claim(job) as mine:
            if not mine:
                deferred.append(job)
                continue
            bar.start_chunk(len(s))
            cols, run_s, _ = solve_chunk(problem, points[g], s, strategy, chunk_size, mesh)
            sink(job, cols, run_s)
            bar.end_chunk(len(s), run_s)
    return deferred


def _wait_for_others(store: SweepStore | None, deferred: list[Job]) -> list[Job]:
    """Chunks another driver was computing: wait for its claim, keep those it did not write
    (it died), so this driver computes them next."""
    if store is None or not deferred:
        return []
    left = []
    for job in deferred:
        with store.claim(job[0], job[1], blocking=True):
            pass
        if not (store.path / chunk_name(job[0], job[1])).exists():
            left.append(job)
    return left
