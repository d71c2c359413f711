"""solve_flow: exact gradient flow d(theta)/dt = -grad L(theta) with diffrax."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from .._validate import positive
from ..data.dataset import Dataset
from ..losses import CLASSIFICATION_LOSSES, check_loss, empirical_loss
from .config import FlowConfig
from .events import Stop
from .trajectory import Status, Trajectory


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


def trainable_filter(model: Any) -> Any:
    """Default split of trainable leaves: every inexact (float) array of the model.

    A leaf to keep fixed is wrapped in ``jax.lax.stop_gradient`` inside the model's
    ``__call__`` (its gradient is then 0), or pass ``trainable=`` a filter pytree.
    """
    return jax.tree_util.tree_map(eqx.is_inexact_array, model)


def loss_fn(params, static, data: Dataset, loss: str, reduction: str) -> Array:
    """The loss of ``combine(params, static)`` on ``data`` (used by GF and GD alike)."""
    model = eqx.combine(params, static)
    return empirical_loss(model, data.x, data.y, loss, reduction)


def _status_code(result, y_final, loss_final, had_event) -> Array:
    R = diffrax.RESULTS
    finite = jnp.isfinite(loss_final) & jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(y_final)])
    )
    code = jnp.where(
        result == R.successful,
        Status.SUCCESS,
        jnp.where(
            result == R.event_occurred,
            Status.EVENT,
            jnp.where(result == R.max_steps_reached, Status.MAX_STEPS, Status.FAILED),
        ),
    )
    code = jnp.where(had_event & (code == Status.SUCCESS), Status.EVENT, code)
    return jnp.where(finite, code, Status.NONFINITE).astype(jnp.int32)


def _rms(params) -> Array:
    leaves = [jnp.ravel(a) for a in jax.tree_util.tree_leaves(params)]
    flat = jnp.concatenate(leaves)
    return jnp.sqrt(jnp.mean(flat**2))


@eqx.filter_jit
def _solve(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config: FlowConfig):
    def model_of(y):
        return eqx.combine(y, static)

    def value(y, d):
        return loss_fn(y, static, d, loss, reduction)

    grad = jax.grad(value)

    def vector_field(t, y, args):
        return jax.tree_util.tree_map(jnp.negative, grad(y, args))

    scale = _rms(params)
    if config.atol is None:
        atol = config.atol_factor * config.rtol * jnp.maximum(scale, 1e-300)
    else:
        atol = jnp.asarray(config.atol)
    controller = diffrax.PIDController(rtol=config.rtol, atol=atol)

    def save(t, y, args):
        m = model_of(y)
        out = m if fn is None else fn(t, m)
        return out, value(y, args)

    def save_final(t, y, args):
        return model_of(y), value(y, args)

    saveat = diffrax.SaveAt(
        subs=[diffrax.SubSaveAt(ts=ts, fn=save), diffrax.SubSaveAt(t1=True, fn=save_final)]
    )
    event = None
    if stop is not None:

        def cond(t, y, args, **kwargs):
            return stop(model_of(y), args, value(y, args))

        event = diffrax.Event(
            cond,
            root_finder=optx.Bisection(rtol=1e-12, atol=1e-12),
            direction=False,
        )
    meter = diffrax.TqdmProgressMeter() if config.progress else diffrax.NoProgressMeter()
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        config.make_solver(),
        t0=t0,
        t1=t1,
        dt0=config.dt0,
        y0=params,
        args=data,
        saveat=saveat,
        stepsize_controller=controller,
        event=event,
        max_steps=config.max_steps,
        throw=False,
        progress_meter=meter,
    )
    assert sol.ys is not None and sol.ts is not None  # both SubSaveAts save something
    (saved, saved_loss), (final_saved, final_loss) = sol.ys
    sub_ts, final_ts = sol.ts
    t_final = final_ts[0]
    final_model = jax.tree_util.tree_map(lambda a: a[0], final_saved)
    had_event = sol.event_mask is not None and jnp.any(
        jnp.stack(jax.tree_util.tree_leaves(sol.event_mask))
    )
    had_event = jnp.asarray(had_event)
    code = _status_code(sol.result, final_model, final_loss[0], had_event)
    t_event = jnp.where(code == Status.EVENT, t_final, jnp.nan)
    # diffrax marks unused slots with inf; keep the mask on ts and loss.
    unused = ~jnp.isfinite(sub_ts)
    sub_loss = jnp.where(unused, jnp.inf, saved_loss)
    n_steps = sol.stats["num_steps"]
    stats = {
        "num_steps": n_steps,
        "num_accepted": sol.stats["num_accepted_steps"],
        "num_rejected": sol.stats["num_rejected_steps"],
        "grad_evals": config.evals_per_step * n_steps + 2,
    }
    model_out, summary = (saved, None) if fn is None else (None, saved)
    return Trajectory(
        ts=sub_ts,
        model=model_out,
        summary=summary,
        loss=sub_loss,
        final=final_model,
        t_final=t_final,
        t_event=t_event,
        result=code,
        stats=stats,
        clock=reduction,
        method="gf",
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


def validate_problem(model, data, loss: str, reduction: str) -> None:
    """Shared checks of solve_flow and gd: loss names, data type, labels, model output."""
    check_loss(loss, reduction)
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a gradflow.data.Dataset, got {type(data).__name__}")
    if loss in CLASSIFICATION_LOSSES:
        data.check_binary()
    try:
        out = eqx.filter_eval_shape(model, data.x[0])
    except Exception as e:  # noqa: BLE001 - re-raised as a clear message
        raise ValueError(
            f"model cannot be applied to one example of shape {tuple(data.x.shape[1:])}: {e}"
        ) from None
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"model must return a scalar for one example, got shape {getattr(out, 'shape', '?')}"
        )


def solve_flow(
    model: Any,
    data: Dataset,
    *,
    loss: str = "exp",
    reduction: str = "mean",
    t1: float,
    t0: float = 0.0,
    saveat: int | Sequence[float] | Float[Array, " T"] | None = None,
    fn: Callable[[Array, Any], Any] | None = None,
    stop: Stop | None = None,
    config: FlowConfig = FlowConfig(),
    trainable: Any = None,
) -> Trajectory:
    """Integrate exact gradient flow d(theta)/dt = -grad L(theta) from ``model`` to ``t1``.

    L(theta) = reduce_i l(y_i, f_theta(x_i)), reduce = mean (default; time on the mean-loss
    clock) or sum (t_sum = t_mean / n). Solved with diffrax (Dopri5 + PID controller, atol
    scaled with the init scale, see :class:`FlowConfig`); compiled once per model structure
    and config, so it can be ``jax.vmap``-ed over seeds.

    Args:
        model: an Equinox module written for ONE example, returning a scalar.
        data: a :class:`~gradflow.data.Dataset`.
        loss: "exp", "logistic" (labels +-1) or "square".
        reduction: "mean" or "sum" (the flow's clock).
        t1: end time (> 0). t0: start time.
        saveat: number of log-spaced save times (default 64) or an array of times.
        fn: optional ``fn(t, model) -> pytree`` saved instead of the full model.
        stop: optional :class:`Stop` (``loss_below``, ``aligned``) ending the solve early.
        config: solver settings. trainable: optional eqx filter pytree.

    Returns:
        :class:`Trajectory` with ``status``; a run that did not reach t1 says so.

    >>> traj = solve_flow(TwoLayerReLU.balanced(2, 50, 1e-6, key=k), two_point(0.1), t1=42.0)
    >>> traj.status, traj.loss[-1]
    """
    t1 = positive("t1", t1)
    if not np.isfinite(t0) or t0 >= t1:
        raise ValueError(f"t0 must be finite and < t1, got t0={t0}, t1={t1}")
    if not isinstance(config, FlowConfig):
        raise ValueError(f"config must be a FlowConfig, got {type(config).__name__}")
    validate_problem(model, data, loss, reduction)
    ts = _as_times(saveat, t0, t1)
    spec = trainable_filter(model) if trainable is None else trainable
    params, static = eqx.partition(model, spec)
    if config.kinks != "off":
        from .kinks import solve_kinks, wants_kinks  # noqa: PLC0415 - optional mode

    if config.kinks != "off" and wants_kinks(config, model):
        return solve_kinks(
            params, static, data, ts, t0, t1, stop, fn, loss, reduction, config
        )
    t0a, t1a = jnp.asarray(t0, dtype=ts.dtype), jnp.asarray(t1, dtype=ts.dtype)
    return _solve(params, static, data, ts, t0a, t1a, stop, fn, loss, reduction, config)
