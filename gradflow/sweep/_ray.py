"""The Ray executor: chunks of a sweep run on long-lived Ray actors that keep the compiled kernel.

The driver (the process that calls :func:`gradflow.sweep.sweep`) starts a pool of worker
actors (one per ``num_cpus`` CPUs, or ``num_gpus`` GPU share, free in the cluster), claims a
chunk, sends it to the least busy actor (two in flight per actor, so none waits for the
driver) with small arguments (the problem once via the object store, the grid point, the
seeds), and writes the columns it returns into the sweep's store (atomic), so the store
lives where the driver runs and needs no shared file system.

Why actors and not one Ray task per chunk: a kernel is traced and compiled once per process
(~15-40 s for a kink-aware solve). Ray recycles idle task workers, and each task
deserialises the problem anew (a row function hashed by identity then misses the kernel
cache), so per-chunk tasks recompiled often (measured 4.6x slower than local at 64 seeds).
An actor keeps its process, its deserialised problem (cached by fingerprint) and its
compiled kernels for the whole sweep and for later sweeps of this driver. Every actor also
uses JAX's persistent compilation cache (``compilation_cache``), so an actor that restarts
loads its executables from disk instead of compiling them again.

An actor whose process or node dies is restarted by Ray and its chunks in flight are retried
(``max_retries``); a killed driver loses only its chunks in flight, and its rerun resumes.
Ray is optional (``pip install gradflow[ray]``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["RayExecutor"]


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    """Run a sweep's chunks on long-lived Ray worker actors (module doc).

    Attributes:
        address: the cluster to join (``"auto"``, ``"10.0.0.1:6379"``, ``"ray://..."``);
            ``None`` joins the Ray already initialised in this process, else starts a
            local one (stopped at the end of the sweep).
        num_cpus: CPUs reserved per task (> 0).
        num_gpus: GPU share per task (0 = CPU only; e.g. 0.25 = four tasks per GPU).
        max_retries: times a task lost with its worker is retried (>= 0).
        max_in_flight: chunks submitted at once (default: 2 per worker actor); each
            in-flight chunk holds its claim in the store.
        workers: worker actors (default: as many as the cluster's free CPUs, or GPUs,
            allow at ``num_cpus`` / ``num_gpus`` each, at most one per chunk).
        compilation_cache: JAX's persistent compilation cache directory on each worker
            node (``"auto"``: ``gradflow-jax-cache`` in the node's temp directory; ``None``:
            off). A restarted worker reads its compiled kernels from it.

    Examples:
        >>> gs.sweep(problem, grid, 1024, executor=RayExecutor(address="auto"), out="runs/a")
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = 3
    max_in_flight: int | None = None
    workers: int | None = None
    compilation_cache: str | None = "auto"

    def __post_init__(self):
        if not (isinstance(self.num_cpus, int | float) and self.num_cpus > 0):
            raise ValueError(f"num_cpus must be > 0, got {self.num_cpus!r}")
        if not (isinstance(self.num_gpus, int | float) and self.num_gpus >= 0):
            raise ValueError(f"num_gpus must be >= 0, got {self.num_gpus!r}")
        if not (isinstance(self.max_retries, int) and self.max_retries >= 0):
            raise ValueError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        if self.max_in_flight is not None and not (
            isinstance(self.max_in_flight, int) and self.max_in_flight >= 1
        ):
            raise ValueError(f"max_in_flight must be None or >= 1, got {self.max_in_flight!r}")
        if self.workers is not None and not (
            isinstance(self.workers, int) and not isinstance(self.workers, bool)
            and self.workers >= 1
        ):
            raise ValueError(f"workers must be None or an integer >= 1, got {self.workers!r}")
        if self.compilation_cache is not None and not isinstance(self.compilation_cache, str):
            raise ValueError(
                f"compilation_cache must be a directory, 'auto' or None, got "
                f"{self.compilation_cache!r}"
            )


def _import_ray() -> Any:
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise ValueError(
            "executor='ray' needs Ray: pip install 'gradflow[ray]' (or pip install ray)"
        ) from None
    return ray


class _Worker:
    """A Ray actor: runs chunks in one long-lived process, keeping problems and kernels."""

    def __init__(self, x64: bool, cache: str | None):
        import jax  # noqa: PLC0415

        jax.config.update("jax_enable_x64", x64)
        if cache is not None:
            if cache == "auto":
                cache = os.path.join(tempfile.gettempdir(), "gradflow-jax-cache")
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        self.problems: dict[str, Any] = {}

    def run(self, key, boxed_ref, params, seeds, strategy, chunk_size):
        """One chunk: its columns, run seconds, compile seconds (0 when the kernel is cached)."""
        import ray  # noqa: PLC0415

        from . import _distributed as distributed  # noqa: PLC0415
        from ._run import solve_chunk  # noqa: PLC0415

        if key not in self.problems:
            self.problems = {key: ray.get(boxed_ref[0])}  # the latest problem only
        mesh = distributed.local_mesh() if strategy == "shard_map" else None
        return solve_chunk(self.problems[key], params, seeds, strategy, chunk_size, mesh)


def _worker_env(ex: RayExecutor) -> dict[str, str]:
    env: dict[str, str] = {}
    if ex.num_gpus > 0:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    else:
        env["JAX_PLATFORMS"] = "cpu"
    return env


# the actor pool of this driver, reused by its later sweeps (same job, same settings)
_POOLS: dict[tuple, list] = {}


def _pool(ray, ex: RayExecutor, x64: bool, needed: int) -> list:
    """The worker actors of this executor (started once per Ray job, then reused)."""
    job = ray.get_runtime_context().get_job_id()
    key = (job, ex.num_cpus, ex.num_gpus, ex.max_retries, ex.compilation_cache, x64)
    for k in [k for k in _POOLS if k != key]:  # one pool at a time: free the other's CPUs
        if k[0] == job:  # (a previous ray.init's actors are gone already)
            for actor in _POOLS[k]:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
        del _POOLS[k]
    actors = _POOLS.setdefault(key, [])
    if ex.workers is not None:
        want = ex.workers
    else:
        free = ray.available_resources()
        per, name = (ex.num_gpus, "GPU") if ex.num_gpus > 0 else (ex.num_cpus, "CPU")
        want = len(actors) + int(free.get(name, 0.0) / per + 1e-9)
    want = max(1, min(want, needed))
    if len(actors) < want:
        cls = ray.remote(_Worker).options(
            num_cpus=ex.num_cpus,
            num_gpus=ex.num_gpus,
            max_restarts=-1 if ex.max_retries else 0,
            max_task_retries=ex.max_retries,
            runtime_env={"env_vars": _worker_env(ex)},
        )
        actors += [cls.remote(x64, ex.compilation_cache) for _ in range(want - len(actors))]
    return actors[: max(want, 1)]


def _problem_key(problem, ref) -> str:
    """The problem's fingerprint (same problem by value: same cached object and kernels)."""
    from ._fingerprint import fingerprint  # noqa: PLC0415

    try:
        return fingerprint(problem)
    except ValueError:
        return ref.hex()


def _connect(ray, address: str | None) -> None:
    env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    try:
        ray.init(address=address, runtime_env={"env_vars": env} if env else None)
    except ConnectionError as e:
        raise ValueError(
            f"cannot join the Ray cluster at {address!r}: {str(e).splitlines()[0]}. If the "
            "cluster uses token authentication (Ray >= 2.5x turns it on when "
            "~/.ray/auth_token exists), set RAY_AUTH_MODE=token here too"
        ) from None


def run_on_ray(
    ex: RayExecutor,
    problem,
    points: list[dict],
    jobs: list,
    strategy: str,
    chunk_size: int,
    claim: Callable,
    sink: Callable,
    bar,
) -> list:
    """Send the jobs this driver can claim to the worker actors, write each result as it
    arrives; return the jobs another driver holds."""
    import jax  # noqa: PLC0415

    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        _connect(ray, ex.address)
        started = ex.address is None
    try:
        x64 = bool(jax.config.read("jax_enable_x64"))
        actors = _pool(ray, ex, x64, len(jobs))
        limit = ex.max_in_flight or 2 * len(actors)
        problem_ref = ray.put(problem)
        key = _problem_key(problem, problem_ref)
        load = [0] * len(actors)
        queue, deferred = list(jobs), []
        inflight: dict[Any, tuple[Any, Any, int]] = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < limit:
                    job = queue.pop(0)
                    held = claim(job)
                    if not held.__enter__():
                        held.__exit__(None, None, None)
                        deferred.append(job)
                        continue
                    g, _, seeds = job
                    a = min(range(len(actors)), key=load.__getitem__)
                    ref = actors[a].run.remote(
                        key, [problem_ref], points[g], seeds, strategy, chunk_size
                    )
                    load[a] += 1
                    inflight[ref] = (job, held, a)
                if not inflight:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    job, held, a = inflight.pop(ref)
                    load[a] -= 1
                    try:
                        cols, run_s, compile_s = ray.get(ref)
                        sink(job, cols, run_s)
                        bar.chunk_arrived(len(job[2]), run_s, compile_s)
                    finally:
                        held.__exit__(None, None, None)
        finally:
            for ref, (_, held, _a) in inflight.items():
                with contextlib.suppress(Exception):  # a running actor call cannot be
                    ray.cancel(ref)
                held.__exit__(None, None, None)
        return deferred
    finally:
        if started:
            _POOLS.clear()
            ray.shutdown()
