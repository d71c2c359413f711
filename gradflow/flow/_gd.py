"""Discrete gradient descent on the same model and loss, returned as a Trajectory.

GD with step eta for k steps approximates gradient flow at t = eta * k (for a schedule
eta_k, at t = sum_{i<k} eta_i), so ``gd`` and ``solve_flow`` results compare directly.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._validate import finite_array, integer, positive
from ..data import Dataset
from ..losses import AbstractLoss
from ._archive import describe_callable, describe_data, provenance
from ._problem import loss_fn, split, validate_problem
from ._trajectory import Status, Trajectory, build_trajectory, make_stats


@eqx.filter_jit
def _run(params, static, data, opt, lrs, every, n_saves, fn, loss, reduction):
    grad = jax.grad(loss_fn)
    opt_state = opt.init(params)

    def one(carry, _):
        p, s = carry
        updates, s = opt.update(grad(p, static, data, loss, reduction), s, p)
        return (optax.apply_updates(p, updates), s), None

    def block(carry, _):
        carry, _ = jax.lax.scan(one, carry, None, length=every)
        return carry, carry[0]

    (final_p, _), ps = jax.lax.scan(block, (params, opt_state), None, length=n_saves)
    ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), params, ps)
    steps = jnp.arange(0, n_saves + 1) * every
    ts = jnp.concatenate([jnp.zeros(1), jnp.cumsum(lrs)])[steps]
    n = jnp.asarray(lrs.shape[0])
    return build_trajectory(
        ts=ts,
        ys=ys,
        static=static,
        fn=fn,
        loss_of=lambda p: loss_fn(p, static, data, loss, reduction),
        final_ys=final_p,
        t_final=ts[-1],
        t_event=jnp.asarray(jnp.nan, ts.dtype),
        code=jnp.asarray(Status.SUCCESS),
        stats=make_stats(n, n, n),
        clock=reduction,
        method="gd",
        mode="gd",
    )


@functools.lru_cache(maxsize=64)
def _make_optimizer(optimizer, eta) -> optax.GradientTransformation:
    """One optimizer object per (factory, eta): the compiled GD loop is keyed on its
    functions' identity, so rebuilding it every call would recompile every call."""
    return optimizer(eta)


def gd(
    model: Any,
    data: Dataset,
    *,
    eta: float | optax.Schedule,
    steps: int,
    optimizer: Callable[..., optax.GradientTransformation] = optax.sgd,
    loss: str | AbstractLoss | Callable[[Any, Any], Any] = "exp",
    reduction: str = "mean",
    saves: int = 64,
    fn: Callable[[Any, Any], Any] | None = None,
    trainable: Any = None,
) -> Trajectory:
    """Run ``steps`` optimizer steps (default plain GD, ``optax.sgd(eta)``) as a Trajectory.

    theta_{k+1} = theta_k - eta_k grad L(theta_k); saved ``saves + 1`` times, evenly in k, at
    flow time t_k = sum_{i<k} eta_i on the clock of ``reduction`` (same as ``solve_flow``).

    Args:
        eta: a step size > 0 or an optax schedule ``k -> eta_k`` (e.g. two-stage:
            ``optax.piecewise_constant_schedule``).
        steps: number of steps (must be a multiple of ``saves``; rounded up if not).
        optimizer: an optax factory called as ``optimizer(eta)``.

    >>> traj = gd(model, data, eta=2e-3, steps=21_000)   # flow time 42
    """
    steps = integer("steps", steps)
    saves = integer("saves", saves)
    if not callable(optimizer):
        raise ValueError(f"optimizer must be an optax factory, got {type(optimizer).__name__}")
    if fn is not None and not callable(fn):
        raise ValueError(f"fn must be a function fn(t, model) -> pytree, got {type(fn).__name__}")
    loss_obj = validate_problem(model, data, loss, reduction)
    saves = min(saves, steps)
    every = -(-steps // saves)
    total = every * saves
    if callable(eta):
        lrs_np = finite_array("eta", [eta(k) for k in range(total)], dtype=jnp.result_type(float))
        if np.any(lrs_np <= 0):
            k = int(np.argmax(lrs_np <= 0))
            raise ValueError(
                f"eta schedule must be > 0 at every step, got eta({k}) = {lrs_np[k]:g}"
            )
        lrs = jnp.asarray(lrs_np)
    else:
        eta = positive("eta", eta)
        lrs = jnp.full((total,), eta)
    opt = _make_optimizer(optimizer, eta)
    params, static = split(model, trainable)
    traj = _run(params, static, data, opt, lrs, every, saves, fn, loss_obj, reduction)
    about = provenance(
        optimizer=describe_callable(optimizer),
        eta=float(eta) if not callable(eta) else describe_callable(eta),
        steps=total,
        loss=describe_callable(loss_obj),
        reduction=reduction,
        data=describe_data(data, lazy=True),
        saves=saves + 1,
        fn=describe_callable(fn),
    )
    return dataclasses.replace(traj, _provenance=about)
