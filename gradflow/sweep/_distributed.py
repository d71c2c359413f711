"""Many devices of one computation: shard_map over a Mesh; many hosts via jax.distributed.

One device runs a block of seeds (``lax.map`` on CPU, ``vmap`` on accelerators); the Mesh
spreads the blocks over every local device (strategy ``"shard_map"``). Nothing here is a
scheduler: a sweep over several machines uses Ray (``executor="ray"``), which retries lost
tasks and balances chunks of unequal cost. :func:`initialize` (``jax.distributed``) is only
for ONE computation that must span the devices of several hosts (a global Mesh), e.g. a
single very wide solve; independent runs never need it.

Single-host multi-device is tested on CPU by faking devices BEFORE jax is imported::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python -c "import gradflow ..."
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

AXIS = "runs"


def local_mesh(axis: str = AXIS) -> Mesh:
    """A 1-D Mesh over every local device (``jax.local_devices()``), axis name ``axis``."""
    return Mesh(np.asarray(jax.local_devices()), (axis,))


def shard_runs(
    fn: Callable[..., Any], mesh: Mesh, *, inner: str = "map", axis: str = AXIS
) -> Callable[..., Any]:
    """Map ``fn`` (written for ONE run) over a leading batch axis split across ``mesh``.

    Each device gets ``batch / n_devices`` runs and maps ``fn`` over them with ``lax.map``
    (``inner="map"``, right for CPU) or ``vmap`` (``inner="vmap"``, right for GPU/TPU). The
    batch size must be a multiple of the number of devices (the sweep pads chunks).
    ``check_vma=False``: diffrax's ``diffeqsolve`` body does not pass the varying-manual-axes
    check (measured with diffrax 0.7 / jax 0.10).
    """
    if inner not in ("map", "vmap"):
        raise ValueError(f"inner must be 'map' or 'vmap', got {inner!r}")

    def block(*args):
        if inner == "vmap":
            return jax.vmap(fn)(*args)
        return jax.lax.map(lambda a: fn(*a), args)

    spec = PartitionSpec(axis)
    return jax.shard_map(block, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> None:
    """Join a multi-host run: a thin wrapper over ``jax.distributed.initialize``.

    Call it once per process, before any other JAX call; on managed clusters (SLURM, TPU
    pods) the arguments are found automatically and may be left out. For one computation
    spanning hosts only (module doc); to spread a sweep over machines use ``executor="ray"``.
    """
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        **kwargs,
    )
