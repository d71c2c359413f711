"""solve_flow: exact gradient flow d(theta)/dt = -grad L(theta) with diffrax."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from .._validate import finite, positive
from ..data import Dataset
from ..losses import AbstractLoss
from ._archive import describe_callable, describe_config, describe_data, provenance
from ._config import FlowConfig
from ._kinkmode import kink_decision
from ._kinks import solve_kinks
from ._precision import check_precision
from ._problem import loss_fn, split, validate_problem
from ._stops import AbstractStop
from ._trajectory import (
    TINY_STEP,
    Status,
    Trajectory,
    all_finite,
    build_trajectory,
    collapse_status,
    make_stats,
)


def log_times(t1: float, num: int = 64, t_min: float | None = None) -> Array:
    """Save times ``[0] + geomspace(t_min, t1, num - 1)`` (default t_min = t1 * 1e-4).

    Small-init flows happen on a log clock: most structure appears at t ~ log(1/eps).
    """
    t1 = positive("t1", t1)
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    t_min = t1 * 1e-4 if t_min is None else positive("t_min", t_min)
    ts = jnp.concatenate([jnp.zeros(1), jnp.geomspace(t_min, t1, num - 1)])
    return jnp.minimum(ts, t1).at[-1].set(t1)


class FailFast(diffrax.AbstractAdaptiveStepSizeController):
    """The engine's PID controller, ended at once when the solve cannot progress.

    After every step it returns ``RESULTS.dt_min_reached`` (which ends diffrax's loop) when
    the accepted state is non-finite, or the next step is non-finite or below
    ``TINY_STEP * max(|t|, 1)`` (the step size collapsed: a blow-up, stiffness, or a dtype
    that cannot resolve rtol). Without it a NaN state shrinks the step 5x a step and runs
    all ``max_steps``. :func:`_diffrax_code` reads the cause.
    """

    pid: diffrax.PIDController

    @property
    def rtol(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.pid.rtol

    @property
    def atol(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.pid.atol

    @property
    def norm(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.pid.norm

    def wrap(self, direction):
        return FailFast(self.pid.wrap(direction))  # pyright: ignore[reportCallIssue]

    def init(self, terms, t0, t1, y0, dt0, args, func, error_order):
        return self.pid.init(terms, t0, t1, y0, dt0, args, func, error_order)

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order, state):
        keep, next_t0, next_t1, jump, state, result = self.pid.adapt_step_size(
            t0, t1, y0, y1_candidate, args, y_error, error_order, state
        )
        dt = next_t1 - next_t0
        tiny = ~jnp.isfinite(dt) | (dt <= TINY_STEP * jnp.maximum(jnp.abs(next_t0), 1.0))
        stuck = tiny | ~all_finite(y0)
        result = diffrax.RESULTS.where(stuck, diffrax.RESULTS.dt_min_reached, result)
        return keep, next_t0, next_t1, jump, state, result


def _diffrax_code(result, had_event, collapsed: Status) -> Array:
    """Map diffrax's result (and whether the event fired) to a :class:`Status` code; a
    collapsed step (``dt_min_reached`` from :class:`FailFast`) becomes ``collapsed``
    (STIFF or PRECISION; :func:`status_code` turns it into NONFINITE for a non-finite
    state, loss or gradient)."""
    R = diffrax.RESULTS
    code = jnp.where(
        result == R.successful,
        Status.SUCCESS,
        jnp.where(
            result == R.event_occurred,
            Status.EVENT,
            jnp.where(
                result == R.max_steps_reached,
                Status.MAX_STEPS,
                jnp.where(result == R.dt_min_reached, collapsed, Status.FAILED),
            ),
        ),
    )
    return jnp.where(had_event & (code == Status.SUCCESS), Status.EVENT, code)


@eqx.filter_jit
def _solve(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config: FlowConfig):
    def value(y, d):
        return loss_fn(y, static, d, loss, reduction)

    grad = jax.grad(value)

    def vector_field(t, y, args):
        return jax.tree_util.tree_map(jnp.negative, grad(y, args))

    def keep(t, y, args):
        return y

    saveat = diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=ts, fn=keep), diffrax.SubSaveAt(t1=True)])
    event = None
    if stop is not None:

        def cond(t, y, args, **kwargs):
            return stop(eqx.combine(y, static), args, value(y, args))

        event = diffrax.Event(
            cond, root_finder=optx.Bisection(rtol=1e-12, atol=1e-12), direction=False
        )
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        config.make_solver(),
        t0=t0,
        t1=t1,
        dt0=config.dt0,
        y0=params,
        args=data,
        saveat=saveat,
        stepsize_controller=FailFast(  # pyright: ignore[reportCallIssue]
            config.make_controller(params)
        ),
        event=event,
        max_steps=config.max_steps,
        throw=False,
        progress_meter=config.make_meter(),
    )
    assert sol.ys is not None and sol.ts is not None  # both SubSaveAts save something
    saved, final_saved = sol.ys
    sub_ts, final_ts = sol.ts
    final = jax.tree_util.tree_map(lambda a: a[0], final_saved)
    had_event = sol.event_mask is not None and jnp.any(
        jnp.stack(jax.tree_util.tree_leaves(sol.event_mask))
    )
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    code = _diffrax_code(sol.result, jnp.asarray(had_event), collapse_status(config.rtol, dtype))
    # a collapse at a finite state whose gradient is not finite is a blow-up
    code = jnp.where(
        (code == Status.STIFF) | (code == Status.PRECISION),
        jnp.where(all_finite(grad(final, data)), code, Status.NONFINITE),
        code,
    )
    n_steps = sol.stats["num_steps"]
    return build_trajectory(
        ts=sub_ts,
        ys=saved,
        static=static,
        fn=fn,
        loss_of=lambda p: value(p, data),
        final_ys=final,
        t_final=final_ts[0],
        t_event=jnp.where(code == Status.EVENT, final_ts[0], jnp.nan),
        code=code,
        stats=make_stats(
            n_steps, sol.stats["num_accepted_steps"], config.evals_per_step * n_steps + 2
        ),
        clock=reduction,
        method="gf",
        mode="bare",
    )


def _as_times(saveat, t0: float, t1: float) -> Array:
    if saveat is None:
        return log_times(t1) if t0 == 0 else jnp.linspace(t0, t1, 64)
    if isinstance(saveat, int) and not isinstance(saveat, bool):
        return log_times(t1, num=saveat) if t0 == 0 else jnp.linspace(t0, t1, saveat)
    ts = np.asarray(saveat, dtype=float)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError(f"saveat must be an int or a 1-D array of times, got shape {ts.shape}")
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) < 0):
        raise ValueError("saveat times must be finite and non-decreasing")
    if ts[0] < t0 or ts[-1] > t1:
        raise ValueError(f"saveat times must lie in [t0, t1] = [{t0}, {t1}]")
    return jnp.asarray(ts)


def _check_summary(fn, model, t0: float) -> None:
    """``fn(t, model)`` must return a pytree of arrays (numbers), checked on shapes only."""
    try:
        out = eqx.filter_eval_shape(fn, jnp.asarray(t0), model)
    except Exception as e:  # noqa: BLE001 - re-raised as a clear message
        raise ValueError(f"fn(t, model) failed on the initial model: {e}") from None
    for leaf in jax.tree_util.tree_leaves(out):
        if not isinstance(leaf, jax.ShapeDtypeStruct | int | float | complex | bool):
            raise ValueError(
                f"fn(t, model) must return a pytree of arrays or numbers, got a leaf "
                f"{leaf!r} ({type(leaf).__name__})"
            )


def solve_flow(
    model: Any,
    data: Dataset,
    *,
    loss: str | AbstractLoss | Callable[[Any, Any], Array] = "exp",
    reduction: str = "mean",
    t1: float,
    t0: float = 0.0,
    saveat: int | Sequence[float] | Float[Array, " T"] | None = None,
    fn: Callable[[Array, Any], Any] | None = None,
    stop: AbstractStop | None = None,
    config: FlowConfig = FlowConfig(),
    trainable: Any = None,
) -> Trajectory:
    """Integrate exact gradient flow d(theta)/dt = -grad L(theta) from ``model`` to ``t1``.

    L(theta) = reduce_i loss(f_theta(x_i), y_i), reduce = mean (default; time on the
    mean-loss clock) or sum (t_sum = t_mean / n). theta is the model's trainable float
    leaves (``eqx.partition``); functions and frozen leaves stay fixed. Solved with diffrax
    (Dopri5 + PID controller, atol scaled with the init scale, see :class:`FlowConfig`);
    compiled once per model structure, config, loss and stop (all compared by value), so it
    can be ``eqx.filter_vmap``-ed over seeds.

    Args:
        model: any Equinox module written for ONE example (``eqx.nn.MLP`` included),
            returning a scalar or an array that the loss takes.
        data: a :class:`~gradflow.data.Dataset`.
        loss: a loss object (:mod:`gradflow.losses`), a name ("exp", "logistic" with labels
            +-1, "square", "cross_entropy") or any ``loss(output, target) -> scalar``.
        reduction: "mean" or "sum" (the flow's clock).
        t1: end time (> 0). t0: start time.
        saveat: number of log-spaced save times (default 64) or an array of times.
        fn: optional ``fn(t, model) -> pytree`` saved instead of the full model.
        stop: optional stop (``loss_below``, ``aligned``, an :class:`AbstractStop`).
        config: solver settings. trainable: optional eqx filter pytree.

    Raises:
        ValueError: on bad input, and when ``config.rtol`` is below what the parameters'
            float type resolves (float32: rtol < 1e-5, which includes the default 1e-6):
            enable float64 (``jax.config.update("jax_enable_x64", True)``) or raise rtol.

    Returns:
        :class:`Trajectory` with ``status``; a run that did not reach t1 says so.

    >>> traj = solve_flow(TwoLayerReLU.balanced(2, 50, 1e-6, key=k), two_point(0.1), t1=42.0)
    >>> traj.status, traj.loss[-1]
    """
    t1 = positive("t1", t1)
    t0 = finite("t0", t0)
    if t0 >= t1:
        raise ValueError(f"t0 must be < t1, got t0={t0}, t1={t1}")
    if fn is not None and not callable(fn):
        raise ValueError(f"fn must be a function fn(t, model) -> pytree, got {type(fn).__name__}")
    if not isinstance(config, FlowConfig):
        raise ValueError(f"config must be a FlowConfig, got {type(config).__name__}")
    loss_obj = validate_problem(model, data, loss, reduction)
    if stop is not None and not isinstance(stop, AbstractStop):
        raise ValueError(
            f"stop must be a gradflow stop (loss_below, aligned, an AbstractStop subclass or "
            f"Stop(fn)), got {type(stop).__name__}"
        )
    ts = _as_times(saveat, t0, t1)
    params, static = split(model, trainable)
    check_precision(params, config.rtol)  # float32 cannot resolve rtol < 1e-5: say so, early
    if fn is not None:
        _check_summary(fn, model, t0)
    t0a, t1a = jnp.asarray(t0, dtype=ts.dtype), jnp.asarray(t1, dtype=ts.dtype)
    track, why = kink_decision(config, model)
    solve = solve_kinks if track else _solve
    traj = solve(params, static, data, ts, t0a, t1a, stop, fn, loss_obj, reduction, config)
    about = provenance(
        config=describe_config(config),
        loss=describe_callable(loss_obj),
        reduction=reduction,
        data=describe_data(data, lazy=True),
        t0=t0,
        t1=t1,
        saves=int(ts.shape[0]),
        stop=describe_callable(stop),
        fn=describe_callable(fn),
    )
    return dataclasses.replace(traj, mode_reason=why, _provenance=about)
