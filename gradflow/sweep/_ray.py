"""The Ray executor: each chunk of a sweep is a Ray task running the same compiled kernel.

The driver (the process that calls :func:`gradflow.sweep.sweep`) claims a chunk, submits it
as a task with small arguments (the problem object once via the object store, the grid
point, the seeds), and writes the columns the task returns into the sweep's store (atomic),
so the store lives where the driver runs and needs no shared file system. A task whose worker
process or node dies is retried by Ray (``max_retries``); a killed driver loses only its
chunks in flight, and its rerun resumes. Ray is optional (``pip install gradflow[ray]``).

Resources per task: ``num_cpus`` CPUs (default 1: one ``lax.map`` chunk per core), or a
share ``num_gpus`` of a GPU, in which case the worker runs with
``XLA_PYTHON_CLIENT_PREALLOCATE=false`` so several tasks can share the device.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RayExecutor"]


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    """Run a sweep's chunks as Ray tasks.

    Fields:
        address: the cluster to join (``"auto"``, ``"10.0.0.1:6379"``, ``"ray://..."``);
            ``None`` joins the Ray already initialised in this process, else starts a
            local one (stopped at the end of the sweep).
        num_cpus: CPUs reserved per task (> 0).
        num_gpus: GPU share per task (0 = CPU only; e.g. 0.25 = four tasks per GPU).
        max_retries: times a task lost with its worker is retried (>= 0).
        max_in_flight: chunks submitted at once (default: 2 per CPU of the cluster); each
            in-flight chunk holds its claim in the store.

    >>> gs.sweep(problem, grid, 1024, executor=RayExecutor(address="auto"), out="runs/a")
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = 3
    max_in_flight: int | None = None

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


def _import_ray() -> Any:
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise ValueError(
            "executor='ray' needs Ray: pip install 'gradflow[ray]' (or pip install ray)"
        ) from None
    return ray


def _chunk_task(problem, params, seeds, strategy, chunk_size, x64):
    """Body of one Ray task: the chunk's columns, run seconds, compile seconds."""
    import jax  # noqa: PLC0415

    jax.config.update("jax_enable_x64", x64)
    from . import _distributed as distributed  # noqa: PLC0415
    from ._run import solve_chunk  # noqa: PLC0415

    mesh = distributed.local_mesh() if strategy == "shard_map" else None
    return solve_chunk(problem, params, seeds, strategy, chunk_size, mesh)


def _worker_env(ex: RayExecutor, x64: bool) -> dict[str, str]:
    env = {"JAX_ENABLE_X64": "1" if x64 else "0"}
    if ex.num_gpus > 0:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    else:
        env["JAX_PLATFORMS"] = "cpu"
    return env


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
    """Submit the jobs this driver can claim, write each result as it arrives; return the
    jobs another driver holds."""
    import jax  # noqa: PLC0415

    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
        ray.init(address=ex.address, runtime_env={"env_vars": env} if env else None)
        started = ex.address is None
    try:
        x64 = bool(jax.config.read("jax_enable_x64"))
        task = ray.remote(_chunk_task).options(
            num_cpus=ex.num_cpus,
            num_gpus=ex.num_gpus,
            max_retries=ex.max_retries,
            retry_exceptions=False,
            runtime_env={"env_vars": _worker_env(ex, x64)},
        )
        limit = ex.max_in_flight or max(2 * int(ray.cluster_resources().get("CPU", 1)), 1)
        problem_ref = ray.put(problem)
        queue, deferred = list(jobs), []
        inflight: dict[Any, tuple[Any, Any, float]] = {}
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
                    ref = task.remote(problem_ref, points[g], seeds, strategy, chunk_size, x64)
                    inflight[ref] = (job, held, time.perf_counter())
                if not inflight:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    job, held, _t0 = inflight.pop(ref)
                    try:
                        cols, run_s, compile_s = ray.get(ref)
                        sink(job, cols, run_s)
                        bar.chunk_arrived(len(job[2]), run_s, compile_s)
                    finally:
                        held.__exit__(None, None, None)
        finally:
            for ref, (_, held, _t0) in inflight.items():
                ray.cancel(ref)
                held.__exit__(None, None, None)
        return deferred
    finally:
        if started:
            ray.shutdown()
