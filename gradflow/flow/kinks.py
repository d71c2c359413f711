"""Kink-aware exact integration of ReLU gradient flow (``FlowConfig(kinks="track")``).

A ReLU network's gradient-flow vector field is smooth except on the hyperplanes
z_ij = w_j . x_i = 0 where neuron j switches on or off for sample i. Here the activation
pattern M (n, h) is held FIXED within a segment (relu(z) -> M * z, a smooth field), an
adaptive Runge-Kutta solver (diffrax's stepper, our own step loop) integrates the segment at
full order, and a real-valued event c_ij = s_ij z_ij + o_ij (s_ij = +1 on, -1 off; o_ij a tiny
re-arming offset of entries that sat at zero at the segment start) stops it where a
pre-activation changes sign. The crossing time is root-found by bisection on the solver's dense
interpolant of z (to ~machine precision), the pattern is updated and integration continues, all
in ONE compiled ``lax.while_loop`` (jit- and vmap-able; different seeds switch at different
times).

Model protocol (a model with ReLU kinks implements both):
    ``preactivations(x) -> (h,)``: the pre-activations of one example, LINEAR in the trainable
        parameters (true for a first layer, w . x, or conv filters on patches, filter . patch;
        a CNN flattens its (K, P) array, so "neuron" j is then a (filter, patch) pair);
    ``masked_call(x, mask) -> scalar``: the output with relu(z) replaced by mask * z
        (leaky relu: where(mask, z, slope * z));
    optional ``has_kinks`` (default True): False makes the model count as smooth (a CNN with
        tanh / x*sigmoid): "track" then raises ValueError and "auto" solves bare.

Ties and degenerate contacts: at a stop, every entry with c_ij below a tolerance (1e-12 of the
neuron's largest |z|) is "at zero"; its new side is the sign of dz_ij/dt under the field that
brought it there (dz = 0, a dead neuron, stays off, as with jax's relu'(0) = 0). A wrong choice
(sliding / grazing / chattering contact) re-triggers within a tolerance; every switch counts
toward ``FlowConfig.max_events`` and the solve ends with ``Status.MAX_EVENTS``, never a hang.

``auto`` mode: tracks kinks when the model implements the protocol and rtol < ``AUTO_RTOL`` =
3e-5, from benchmarks/bench_kinks.py (n=100, d=50, h=20, ~1000 switches, CPU): the kink-aware
solve reaches error ~rtol for ~0.4-0.6 s/seed at every rtol (one restart per switch dominates);
the bare solve needs rtol 1e-8 (1.0 s) for error 1.7e-5 and rtol 1e-10 (4 s) for 1.1e-7, but is
cheaper for errors >= ~5e-5 (rtol 1e-7: 6e-5 in 0.2 s; rtol 1e-4: 2.4e-3 in 6 ms).
"""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ..losses import PER_SAMPLE, empirical_loss, reduce
from .trajectory import Status, Trajectory

AUTO_RTOL = 3e-5
_ZREL = 1e-12  # "at zero": |z_ij| below this fraction of max_i |z_ij| (per neuron), float64;
# at least 100 machine epsilons of the dtype (1.2e-5 in float32), the rounding level of w . x
_BISECT = 64  # bisection iterations of the stop-condition root (resolution 2^-64 of a step)
_NEWTON = 10  # safeguarded Newton iterations per crossed entry on the interpolant of z
_RUNNING = -1


class SwitchLog(eqx.Module):
    """Event log of activation switches (one row per switch, in time order).

    Fields (E = ``FlowConfig.max_events``; rows past ``count`` are padding, t = inf):
        t: (E,) switch times on the loss clock of the trajectory.
        neuron: (E,) index j. sample: (E,) index i.
        direction: (E,) +1 when z_ij = w_j . x_i became > 0 (switch on), -1 when it turned off.
        count: number of switches that occurred (> E only when the cap stopped the solve).
        initial: (n, h) activation pattern at t0 (``initial[i, j]``: neuron j on for sample i).
    """

    t: Float[Array, " E"]
    neuron: Int[Array, " E"]
    sample: Int[Array, " E"]
    direction: Int[Array, " E"]
    count: Int[Array, ""]
    initial: Bool[Array, "n h"]


def supports_kinks(model: Any) -> bool:
    """True when ``model`` implements the kink protocol (preactivations + masked_call).

    A model whose kinks depend on a setting (``TwoLayerCNN``: relu yes, tanh no) also says
    ``has_kinks``; models without that attribute count as kinked when they have the methods.
    """
    return (
        callable(getattr(model, "preactivations", None))
        and callable(getattr(model, "masked_call", None))
        and bool(getattr(model, "has_kinks", True))
    )


def wants_kinks(config: Any, model: Any) -> bool:
    """Whether ``solve_flow`` should use the kink-aware solver for this config and model."""
    if config.kinks == "track":
        if not supports_kinks(model):
            raise ValueError(
                f"kinks='track' needs a model with ReLU-type kinks, preactivations(x) and "
                f"masked_call(x, mask); {type(model).__name__}"
                + (
                    f" with activation {model.activation!r} is smooth (use kinks='off')"
                    if hasattr(model, "activation")
                    else " has not"
                )
            )
        return True
    return config.kinks == "auto" and supports_kinks(model) and config.rtol < AUTO_RTOL


def _when(pred, fn, x):
    """``fn(x) if pred else x`` as a while loop: skipped (even under vmap) when no lane needs it."""
    _, out = jax.lax.while_loop(lambda c: ~c[0], lambda c: (jnp.array(True), fn(c[1])), (~pred, x))
    return out


def _tmap(f, *trees):
    return jax.tree_util.tree_map(f, *trees)


def _rms(tree) -> Array:
    leaves = [jnp.ravel(a) for a in jax.tree_util.tree_leaves(tree)]
    flat = jnp.concatenate(leaves)
    return jnp.sqrt(jnp.mean(flat**2))


def _all_finite(tree) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)]))


@eqx.filter_jit
def _solve_kinks(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config):
    x, lab = data.x, data.y
    solver = config.make_solver()
    E = config.max_events
    T = ts.shape[0]

    def model_of(p):
        return eqx.combine(p, static)

    def pre(p):  # (n, h), linear in p
        return jax.vmap(model_of(p).preactivations)(x)

    def masked_value(p, mask):
        pred = jax.vmap(model_of(p).masked_call)(x, mask)
        return reduce(PER_SAMPLE[loss](pred, lab), reduction)

    grad = jax.grad(masked_value)

    def vf(t, p, mask):
        return _tmap(jnp.negative, grad(p, mask))

    term = diffrax.ODETerm(vf)

    def value(p):
        return empirical_loss(model_of(p), x, lab, loss, reduction)

    def stop_value(p):
        return stop(model_of(p), data, value(p))

    zrel = max(_ZREL, 100 * float(jnp.finfo(ts.dtype).eps))

    def ztol_of(z):
        return zrel * jnp.max(jnp.abs(z), axis=0, keepdims=True) + jnp.finfo(ts.dtype).tiny

    rtol = config.rtol
    scale0 = _rms(params)
    atol = (
        config.atol_factor * rtol * jnp.maximum(scale0, 1e-300)
        if config.atol is None
        else jnp.asarray(config.atol)
    )

    def err_norm(y0, y1, yerr):
        def scaled(a, b, e):
            return e / (atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(b)))

        return _rms(_tmap(scaled, y0, y1, yerr))

    # initial pattern; entries exactly at zero take the side their derivative points to
    z0 = pre(params)
    mask = z0 > 0
    f0 = vf(t0, params, mask)
    dz0 = pre(f0)
    zt = ztol_of(z0)
    at0 = jnp.abs(z0) <= zt
    mask = jnp.where(at0, dz0 > 0, mask)
    sgn = jnp.where(mask, 1.0, -1.0)
    offset = jnp.where(at0, jnp.maximum(0.0, -sgn * z0) + zt, 0.0)

    # initial step (Hairer & Wanner's rule), 2 gradient evaluations incl. f0 above
    if config.dt0 is None:
        sc = _tmap(lambda a: atol + rtol * jnp.abs(a), params)
        d0 = _rms(_tmap(jnp.divide, params, sc))
        d1 = _rms(_tmap(jnp.divide, f0, sc))
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        f1 = vf(t0 + h0, _tmap(lambda a, b: a + h0 * b, params, f0), mask)
        d2 = _rms(_tmap(lambda a, b, s: (a - b) / s, f1, f0, sc)) / h0
        h1 = jnp.where(
            jnp.maximum(d1, d2) <= 1e-15,
            jnp.maximum(1e-6, h0 * 1e-3),
            (0.01 / jnp.maximum(d1, d2)) ** (1.0 / 5.0),
        )
        dt = jnp.minimum(100 * h0, h1)
    else:
        dt = jnp.asarray(config.dt0, dtype=ts.dtype)
    dt = jnp.minimum(dt, t1 - t0)

    # save slots at (or before) t0
    buf = _tmap(lambda a: jnp.full((T,) + a.shape, jnp.inf, a.dtype), params)

    def save_upto(k, buf, t_end, evaluate):
        def cond(c):
            k, _ = c
            return (k < T) & (ts[jnp.minimum(k, T - 1)] <= t_end)

        def body(c):
            k, b = c
            yk = evaluate(ts[k])
            return k + 1, _tmap(lambda bb, v: bb.at[k].set(v), b, yk)

        return jax.lax.while_loop(cond, body, (k, buf))

    k0, buf = save_upto(jnp.asarray(0), buf, t0, lambda _: params)
    g0 = stop_value(params) if stop is not None else jnp.asarray(1.0)

    log0 = (
        jnp.full((E,), jnp.inf, ts.dtype),
        jnp.zeros((E,), jnp.int32),
        jnp.zeros((E,), jnp.int32),
        jnp.zeros((E,), jnp.int32),
    )
    n, h = z0.shape
    ii, jj = jnp.meshgrid(jnp.arange(n), jnp.arange(h), indexing="ij")

    carry0: dict[str, Any] = dict(
        t=t0,
        y=params,
        z=z0,
        mask=mask,
        offset=offset,
        dt=dt,
        sstate=solver.init(term, t0, t1, params, mask),
        jump=jnp.array(False),
        g=g0,
        k=k0,
        buf=buf,
        log=log0,
        count=jnp.asarray(0),
        stops=jnp.asarray(0),
        steps=jnp.asarray(0),
        accepted=jnp.asarray(0),
        extra=jnp.asarray(3 if config.dt0 is None else 2),  # f0, f1 (initial dt), first f0
        status=jnp.asarray(_RUNNING),
        t_event=jnp.asarray(jnp.nan, ts.dtype),
    )

    def cond(c):
        return c["status"] == _RUNNING

    def body(c: dict[str, Any]) -> dict[str, Any]:
        t, y, mask = c["t"], c["y"], c["mask"]
        sgn = jnp.where(mask, 1.0, -1.0)
        last = c["dt"] >= (t1 - t) * (1 - 1e-12)
        tb = jnp.where(last, t1, t + c["dt"])
        dtu = tb - t
        y1, yerr, dense, sstate1, _ = solver.step(term, t, tb, y, mask, c["sstate"], c["jump"])
        err = err_norm(y, y1, yerr)
        ok = jnp.isfinite(err) & _all_finite(y1)
        accept = ok & (err <= 1.0)
        factor = jnp.where(
            ok, jnp.clip(0.9 * jnp.maximum(err, 1e-10) ** (-1.0 / 5.0), 0.2, 10.0), 0.2
        )
        factor = jnp.where(accept, factor, jnp.minimum(factor, 0.9))
        dt_next = dtu * factor
        interp = solver.interpolation_cls(t0=t, t1=tb, **dense)

        # kink: some c_ij = s_ij z_ij + o_ij < 0 at the step end
        z1 = pre(y1)
        crossed = accept & (jnp.min(sgn * z1 + c["offset"]) < 0)

        def kink_theta(_):
            # z on the step, as a polynomial in theta in [0, 1] (z is linear in the state)
            kz = jax.vmap(pre)(dense["k"])
            zint = solver.interpolation_cls(t0=0.0, t1=1.0, y0=c["z"], y1=z1, k=kz)
            off = c["offset"]

            def cval(th):
                return sgn * zint.evaluate(th) + off

            c0, c1 = sgn * c["z"] + off, sgn * z1 + off
            cross = c1 < 0
            th = jnp.where(cross, c0 / jnp.where(cross, c0 - c1, 1.0), 1.0)
            lo, hi = jnp.zeros_like(th), jnp.ones_like(th)
            for _ in range(_NEWTON):  # safeguarded Newton, every crossed entry at once
                val, der = jax.jvp(cval, (th,), (jnp.ones_like(th),))
                neg = val < 0
                lo, hi = jnp.where(neg, lo, th), jnp.where(neg, th, hi)
                step = th - val / jnp.where(der < 0, der, -1.0)
                inside = (der < 0) & (step >= lo) & (step <= hi)
                th = jnp.where(inside, step, 0.5 * (lo + hi))
            return jnp.min(jnp.where(cross, th, 1.0))

        th_k = _when(crossed, kink_theta, jnp.ones((), ts.dtype))

        if stop is not None:
            g1 = stop_value(y1)
            hit = accept & (c["g"] > 0) & (g1 <= 0)

            def stop_theta(_):
                def bis(_, lh):
                    lo, hi = lh
                    mid = 0.5 * (lo + hi)
                    neg = stop_value(interp.evaluate(t + mid * dtu)) <= 0
                    return jnp.where(neg, lo, mid), jnp.where(neg, mid, hi)

                return jax.lax.fori_loop(0, _BISECT, bis, (jnp.zeros(()), jnp.ones(())))[1]

            th_s = _when(hit, stop_theta, jnp.ones((), ts.dtype))
        else:
            g1 = c["g"]
            hit = jnp.array(False)
            th_s = jnp.ones((), ts.dtype)

        is_stop = hit & (~crossed | (th_s < th_k))
        is_kink = crossed & ~is_stop
        th = jnp.where(is_stop, th_s, jnp.where(is_kink, th_k, 1.0))
        t_end = jnp.where(th >= 1.0, tb, t + th * dtu)
        y_end = jax.lax.cond(th >= 1.0, lambda: y1, lambda: interp.evaluate(t_end))
        k, buf = save_upto(
            c["k"], c["buf"], jnp.where(accept, t_end, -jnp.inf), interp.evaluate
        )

        # switch: update the pattern of every entry at zero, log the flips
        def switch(s):
            mask, offset, log, count, z = s
            ze = pre(y_end)
            zt = ztol_of(ze)
            at0 = sgn * ze + offset < zt
            dz = pre(vf(t_end, y_end, mask))
            new = jnp.where(at0, dz > 0, mask)
            flips = new != mask
            pos = count + jnp.cumsum(flips.ravel()) - 1
            pos = jnp.where(flips.ravel(), pos, E)  # out of range -> dropped
            t_l, j_l, i_l, d_l = log
            log = (
                t_l.at[pos].set(t_end, mode="drop"),
                j_l.at[pos].set(jj.ravel().astype(jnp.int32), mode="drop"),
                i_l.at[pos].set(ii.ravel().astype(jnp.int32), mode="drop"),
                d_l.at[pos].set(jnp.where(new, 1, -1).astype(jnp.int32).ravel(), mode="drop"),
            )
            s_new = jnp.where(new, 1.0, -1.0)
            offset = jnp.where(at0, jnp.maximum(0.0, -s_new * ze) + zt, offset)
            return new, offset, log, count + jnp.sum(flips), ze

        z_end = jnp.where(th >= 1.0, z1, c["z"])  # placeholder, replaced on a switch
        mask_n, offset_n, log_n, count_n, z_sw = _when(
            is_kink, switch, (mask, c["offset"], c["log"], c["count"], z_end)
        )
        z_new = jnp.where(is_kink, z_sw, z1)

        new_t = jnp.where(accept, t_end, t)
        steps = c["steps"] + 1
        status = jnp.where(
            accept & (new_t >= t1),
            Status.SUCCESS,
            jnp.asarray(_RUNNING),
        )
        status = jnp.where(is_stop, Status.EVENT, status)
        stops = c["stops"] + is_kink  # stops without a flip (grazing) also count toward the cap
        status = jnp.where((count_n > E) | (stops > E), Status.MAX_EVENTS, status)
        status = jnp.where(
            (status == _RUNNING) & (steps >= config.max_steps), Status.MAX_STEPS, status
        )
        tiny = dt_next <= 1e-14 * jnp.maximum(jnp.abs(t), 1.0)
        status = jnp.where((status == _RUNNING) & tiny, Status.FAILED, status)
        status = jnp.where((status == _RUNNING) & ~ok & tiny, Status.NONFINITE, status)

        def pick(a, b):
            return _tmap(lambda u, v: jnp.where(accept, u, v), a, b)

        return dict(
            t=new_t,
            y=pick(y_end, y),
            z=jnp.where(accept, z_new, c["z"]),
            mask=mask_n,
            offset=offset_n,
            dt=dt_next,
            sstate=pick(sstate1, c["sstate"]),
            jump=jnp.where(accept, is_kink, c["jump"]),
            g=jnp.where(accept, g1, c["g"]),
            k=k,
            buf=buf,
            log=log_n,
            count=count_n,
            stops=stops,
            steps=steps,
            accepted=c["accepted"] + accept,
            extra=c["extra"] + c["jump"] + 2 * is_kink,
            status=status.astype(jnp.asarray(_RUNNING).dtype),
            t_event=jnp.where(is_stop, t_end, c["t_event"]),
        )

    c: dict[str, Any] = jax.lax.while_loop(cond, body, carry0)

    # outputs: saved models / summaries and loss (true relu loss) at the filled slots
    filled = jnp.arange(T) < c["k"]
    ts_out = jnp.where(filled, ts, jnp.inf)

    def view(t, p):
        m = model_of(p)
        return (m if fn is None else fn(t, m)), value(p)

    saved, saved_loss = jax.vmap(view)(ts, c["buf"])
    saved_loss = jnp.where(filled, saved_loss, jnp.inf)
    final = model_of(c["y"])
    final_loss = value(c["y"])
    code = jnp.where(
        jnp.isfinite(final_loss) & _all_finite(c["y"]), c["status"], Status.NONFINITE
    ).astype(jnp.int32)
    steps = c["steps"]
    stats = {
        "num_steps": steps,
        "num_accepted": c["accepted"],
        "num_rejected": steps - c["accepted"],
        "grad_evals": config.evals_per_step * steps + c["extra"],
        "num_switches": c["count"],
        "num_kink_stops": c["stops"],
    }
    t_l, j_l, i_l, d_l = c["log"]
    log = SwitchLog(t=t_l, neuron=j_l, sample=i_l, direction=d_l, count=c["count"], initial=mask)
    if fn is None:
        model_out, summary = saved, None
    else:
        model_out, summary = None, saved
    return Trajectory(
        ts=ts_out,
        model=model_out,
        summary=summary,
        loss=saved_loss,
        final=final,
        t_final=c["t"],
        t_event=c["t_event"],
        result=code,
        stats=stats,
        events=log,
        clock=reduction,
        method="gf",
    )


def solve_kinks(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config) -> Trajectory:
    """Kink-aware solve (called by ``solve_flow`` for ``FlowConfig(kinks="track")``).

    Same arguments and result as the bare solve; the Trajectory also carries ``events``, a
    :class:`SwitchLog`, and ``stats["num_switches"]``. Times are on the clock of
    ``reduction``. ``t0``/``t1`` may be python floats.
    """
    t0a = jnp.asarray(t0, dtype=ts.dtype)
    t1a = jnp.asarray(t1, dtype=ts.dtype)
    return _solve_kinks(params, static, data, ts, t0a, t1a, stop, fn, loss, reduction, config)
