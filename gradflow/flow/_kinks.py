"""Kink-aware exact integration of ReLU gradient flow (``FlowConfig(kinks="track")``).

A ReLU network's gradient-flow vector field is smooth except on the hyperplanes
z_ij = w_j . x_i = 0 where neuron j switches on or off for sample i. Here the activation
pattern M (n, h) is held FIXED within a segment (relu(z) -> M * z, a smooth field), an
adaptive Runge-Kutta solver (diffrax's stepper, our own step loop) integrates the segment at
full order, and a real-valued event c_ij = s_ij z_ij + o_ij (s_ij = +1 on, -1 off; o_ij a tiny
re-arming offset of entries that sat at zero at the segment start) stops it where a
pre-activation changes sign. The crossing time is root-found on the solver's dense interpolant
of z (to ~machine precision), the pattern is updated and integration continues, all
in ONE compiled ``lax.while_loop`` (jit- and vmap-able; different seeds switch at different
times).

Model protocol: the model subclasses :class:`gradflow.models.AbstractKinkModel` (an abstract
class, see there): ``preactivations(x) -> (k,)`` of all k kinked units, ``masked_call(x, mask)``
with the pattern frozen, and, for units past the first layer, ``masked_preactivations(x, mask)``
and ``kink_degree`` (the degree of z in the parameters for a fixed mask: 1 for a first layer or
conv filters, l for the l-th hidden layer of an MLP). A "neuron" j of the event log is the flat
unit index of ``preactivations`` (a (filter, patch) pair for a CNN, (layer, unit) for an MLP).
Every accepted step looks for the FIRST root of each entry inside the step (a pre-activation
can dip through zero and back within one step), on the exact polynomial of z along the
solver's interpolant: ``_kinkroots.py``.

Ties and degenerate contacts: at a stop, every entry with c_ij below a tolerance (1e-12 of the
neuron's largest |z|) is "at zero"; its new side is the sign of dz_ij/dt under the field that
brought it there (dz = 0, a dead neuron, stays off, as with jax's relu'(0) = 0). An entry that
was just switched and crosses back (both sides push into z = 0) enters SLIDING when its
Filippov slope alpha is in [0, 1] (``FlowConfig.sliding``, models with ``fractional_mask``;
see ``_sliding.py``): it is then held on the surface by the Filippov field and leaves where
alpha leaves [0, 1] (bisection on the interpolant). Other wrong choices (grazing contacts,
sliding beyond ``max_sliding`` slots) re-trigger within a tolerance; every switch, sliding
entry and exit counts toward ``FlowConfig.max_events`` and the solve ends with
``Status.MAX_EVENTS``, never a hang.

Merged switches (``FlowConfig.merge_switches``, default on): a step whose crossings are all
plain (each entry crosses once, clear of zero) is not cut at its first switch; the switches are
applied at once with a second-order correction when its error estimates allow (``_kinkmerge.py``).

The choice of mode (``auto``) and the switch log live in ``_kinkmode.py``.
"""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from ..losses import per_example, reduce
from . import _kinkmerge as mg, _sliding as sl
from ._kinkmode import SwitchLog
from ._kinkroots import RootSearch, when
from ._problem import loss_fn
from ._trajectory import (
    TINY_STEP,
    Status,
    Trajectory,
    all_finite as _all_finite,
    build_trajectory,
    collapse_status,
    make_stats,
)

_ZREL = 1e-12  # "at zero": |z_ij| below this fraction of max_i |z_ij| (per neuron), float64;
# at least 100 machine epsilons of the dtype (1.2e-5 in float32), the rounding level of w . x
_BISECT = 64  # bisection iterations of the stop-condition root (resolution 2^-64 of a step)
_BISECT_EXIT = 48  # bisection iterations of a sliding exit (alpha leaving [0, 1])
_AWAY = 16  # an entry re-armed with offset o is "away from zero" once s_ij z_ij > _AWAY o
_RUNNING = -1


def _tmap(f, *trees):
    return jax.tree_util.tree_map(f, *trees)


@eqx.filter_jit
def _solve_kinks(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config):
    x, lab = data.x, data.y
    solver = config.make_solver()
    E = config.max_events
    T = ts.shape[0]

    def model_of(p):
        return eqx.combine(p, static)

    def pre(p, mask):  # (n, k): pre-activations of the network frozen at mask
        return jax.vmap(model_of(p).masked_preactivations)(x, mask)

    def dpre(p, mask, f):  # (n, k): their derivative along the field f
        return jax.jvp(lambda q: pre(q, mask), (p,), (f,))[1]

    roots = RootSearch(config.solver, model_of(params).kink_degree, ts.dtype)

    def masked_value(p, mask):
        pred = jax.vmap(model_of(p).masked_call)(x, mask)
        return reduce(per_example(loss, pred, lab), reduction)

    grad = jax.grad(masked_value)

    def plain_field(p, mask):
        return _tmap(jnp.negative, grad(p, mask))

    # Filippov sliding (see _sliding.py): a static choice, so a model without fractional
    # masks (or sliding=False) traces exactly the pattern-only solve
    slide = bool(config.sliding) and bool(model_of(params).fractional_mask)
    S = config.max_sliding

    def slide_field(p, args):  # (field, alpha, active) with the sliding slots of args
        mask, group = args
        return sl.filippov(plain_field, pre, p, mask, group, S)

    def vf(t, p, args):
        mask, group = args
        if not slide:
            return plain_field(p, mask)

        # not lax.cond: under vmap it evaluates both branches (the Filippov field with its
        # max_sliding slots at every evaluation of every seed); `when` runs it only while
        # some seed slides (one plain gradient more per evaluation then)
        # (p and args travel through when's carry: read from the closure, XLA may hoist the
        # Filippov solve out of the loop under vmap)
        def slid(c):
            return slide_field(c[1], c[2])[0], c[1], c[2]

        return when(jnp.any(group >= 0), slid, (plain_field(p, mask), p, args))[0]

    # merged switches need fractional masks; the frozen field at the step's ends is the
    # solver's first and last stage for FSAL tableaus whose last stage sits at the step end
    merge_on = bool(config.merge_switches) and bool(model_of(params).fractional_mask)
    fsal_end = config.solver in ("dopri5", "tsit5")

    def ends(y0, y1, mask, dense, dt):
        if fsal_end:
            return _tmap(lambda k: k[0] / dt, dense["k"]), _tmap(lambda k: k[-1] / dt, dense["k"])
        return plain_field(y0, mask), plain_field(y1, mask)

    def alpha_out(p, args):  # active slots whose alpha left [0, 1] at p
        _, alpha, active = slide_field(p, args)
        return active & ~sl.inside(alpha, active), alpha

    term = diffrax.ODETerm(vf)

    def value(p):
        return loss_fn(p, static, data, loss, reduction)

    def stop_value(p):
        return stop(model_of(p), data, value(p))

    zrel = max(_ZREL, 100 * float(jnp.finfo(ts.dtype).eps))

    def ztol_of(z):
        return zrel * jnp.max(jnp.abs(z), axis=0, keepdims=True) + jnp.finfo(ts.dtype).tiny

    controller = config.make_controller(params)  # the engine's one controller
    error_order = solver.error_order(term)

    # initial pattern; entries exactly at zero take the side their derivative points to
    z0 = jax.vmap(model_of(params).preactivations)(x)
    mask = z0 > 0
    group0 = jnp.full(z0.shape, -1, jnp.int32)
    f0 = plain_field(params, mask)
    dz0 = dpre(params, mask, f0)
    zt = ztol_of(z0)
    at0 = jnp.abs(z0) <= zt
    mask = jnp.where(at0, dz0 > 0, mask)
    sgn = jnp.where(mask, 1.0, -1.0)
    offset = jnp.where(at0, jnp.maximum(0.0, -sgn * z0) + zt, 0.0)

    # initial step: the controller's own rule (Hairer & Wanner, 2 gradient evaluations)
    plain_term = diffrax.ODETerm(lambda t, p, args: plain_field(p, args[0]))
    t_first, cstate0 = controller.init(  # nothing slides at t0: the plain field
        plain_term, t0, t1, params, config.dt0, (mask, group0), solver.func, error_order
    )
    dt = jnp.minimum(t_first - t0, t1 - t0)
    meter = config.make_meter()

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

    def write_log(log, pos, t_sw, new):
        """Log rows ``pos`` (flat entry order; E = dropped): time(s) ``t_sw``, the entry's
        unit and sample, direction from its new side ``new`` (n, k)."""
        t_l, j_l, i_l, d_l = log
        return (
            t_l.at[pos].set(t_sw, mode="drop"),
            j_l.at[pos].set(jj.ravel().astype(jnp.int32), mode="drop"),
            i_l.at[pos].set(ii.ravel().astype(jnp.int32), mode="drop"),
            d_l.at[pos].set(jnp.where(new, 1, -1).astype(jnp.int32).ravel(), mode="drop"),
        )

    carry0: dict[str, Any] = dict(
        t=t0,
        y=params,
        z=z0,
        mask=mask,
        group=group0,
        offset=offset,
        dt=dt,
        cstate=cstate0,
        meter=meter.init(),
        sstate=solver.init(term, t0, t1, params, (mask, group0)),
        jump=jnp.array(False),
        g=g0,
        k=k0,
        buf=buf,
        log=log0,
        count=jnp.asarray(0),
        stops=jnp.asarray(0),
        slides=jnp.asarray(0),
        exits=jnp.asarray(0),
        slide_evals=jnp.asarray(0),
        peak=jnp.asarray(0),
        steps=jnp.asarray(0),
        accepted=jnp.asarray(0),
        extra=jnp.asarray(4 if config.dt0 is None else 2),  # dz0, 2 for dt0, solver FSAL
        merged=jnp.asarray(0),
        attempts=jnp.asarray(0),
        backoff=jnp.asarray(0),
        wait=jnp.asarray(0),
        status=jnp.asarray(_RUNNING),
        t_event=jnp.asarray(jnp.nan, ts.dtype),
    )

    def cond(c):
        return c["status"] == _RUNNING

    def body(c: dict[str, Any]) -> dict[str, Any]:
        t, y, mask, group = c["t"], c["y"], c["mask"], c["group"]
        args = (mask, group)
        free = group < 0  # entries not on a sliding surface (those are not crossing tests)
        sliding = jnp.any(~free)
        sgn = jnp.where(mask, 1.0, -1.0)
        last = c["dt"] >= (t1 - t) * (1 - 1e-12)
        tb = jnp.where(last, t1, t + c["dt"])
        dtu = tb - t
        y1, yerr, dense, sstate1, _ = solver.step(term, t, tb, y, args, c["sstate"], c["jump"])
        keep, next_t0, next_t1, _, cstate1, _ = controller.adapt_step_size(
            t, tb, y, y1, args, yerr, error_order, c["cstate"]
        )
        ok = _all_finite(y1) & _all_finite(yerr) & jnp.isfinite(next_t1 - next_t0)
        accept = ok & keep
        dt_next = jnp.where(ok, next_t1 - next_t0, controller.factormin * dtu)
        interp = solver.interpolation_cls(t0=t, t1=tb, **dense)

        # kink: some c_ij = s_ij z_ij + o_ij < 0 somewhere on the step, at its end or inside
        # (a pre-activation that dips through zero and back within one step has the same
        # sign at both ends: the test runs on the interpolant's polynomial, not the end values)
        z1 = pre(y1, mask)
        off = c["offset"]
        c0, c1 = sgn * c["z"] + off, sgn * z1 + off

        def kink_theta(_):
            # z on the step as a polynomial in theta in [0, 1]: the dense interpolant is a
            # polynomial of degree p in theta and z one of degree kink_degree in the state,
            # so z sampled at degree + 1 Chebyshev nodes determines it exactly.
            zs = jax.vmap(lambda th: pre(interp.evaluate(t + th * dtu), mask))(roots.nodes[1:-1])
            coef = roots.coefficients(jnp.concatenate([c["z"][None], zs, z1[None]]))
            cross, th = roots.first_root(coef, sgn, off, free, c0, c1)
            th_min = jnp.min(th)
            # dz/dtheta of every entry at the crossing, from the same exact polynomial: the
            # side an entry at zero takes (no extra gradient evaluation at the switch)
            dzk = roots.slope(coef, jnp.full_like(th, th_min))
            return jnp.any(cross), th_min, dzk, cross, th, roots.slope(coef, th)

        none_z = jnp.zeros_like(c["z"])
        crossed, th_k, dz_k, cross_e, th_e, dz_e = when(
            accept,
            kink_theta,
            (jnp.array(False), jnp.ones((), ts.dtype), none_z, none_z > 0, none_z + 1.0, none_z),
        )
        crossed = accept & crossed

        if slide:
            # a sliding slot leaves its surface where its alpha leaves [0, 1]: alpha at the
            # step end, then bisection on the interpolant (alpha is not a polynomial in
            # theta); ONE loop, so the Filippov solve is traced once here
            none_out = (jnp.zeros((S,), bool), jnp.zeros((S,), ts.dtype))

            def exit_search(_):
                def cond(e):
                    return (e[0] == 0) | (e[3] & (e[0] <= _BISECT_EXIT))

                def bis(e):
                    i, lo, hi, lv, o, a = e
                    th = jnp.where(i == 0, 1.0, 0.5 * (lo + hi))
                    out_v, al = alpha_out(interp.evaluate(t + th * dtu), args)
                    out = jnp.any(out_v)
                    lv = jnp.where(i == 0, out, lv)
                    lo = jnp.where(out | (i == 0), lo, th)
                    hi = jnp.where(out, th, hi)
                    o, a = jnp.where(out, out_v, o), jnp.where(out, al, a)
                    return i + 1, lo, hi, lv, o, a

                zero, one = jnp.zeros((), ts.dtype), jnp.ones((), ts.dtype)
                init = (jnp.asarray(0), zero, one, jnp.array(False)) + none_out
                _, _, hi, lv, o, a = jax.lax.while_loop(cond, bis, init)
                return lv, hi, o, a

            leaving, th_x, out_x, alpha_x = when(
                accept & sliding,
                exit_search,
                (jnp.array(False), jnp.ones((), ts.dtype)) + none_out,
            )
        else:
            leaving = jnp.array(False)
            th_x = jnp.ones((), ts.dtype)

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

            th_s = when(hit, stop_theta, jnp.ones((), ts.dtype))
        else:
            g1 = c["g"]
            hit = jnp.array(False)
            th_s = jnp.ones((), ts.dtype)

        if merge_on:
            # merge the step's switches (see _kinkmerge.py) when it is a plain one: every
            # crossing entry ends on its new side and sits clear of zero (not re-armed),
            # nothing slides, leaves, stops or is saved inside the step
            next_save = ts[jnp.minimum(c["k"], T - 1)]
            clear = jnp.abs(z1) > ztol_of(z1)
            eligible = (
                crossed
                & ~sliding
                & ~leaving
                & ~hit
                & ((c["k"] >= T) | (next_save > tb))
                & jnp.all(~cross_e | ((c1 < 0) & free & (off == 0) & clear))
                & (jnp.sum(cross_e) >= 2)  # one switch: a stop costs about what a merge does
            )
            # after a hopeless merge (one that would need a step < MIN_FACTOR of this one),
            # the next 1, 3, 7, ... (up to 63) steps with switches stop without trying (a
            # refused try costs 4 gradient evaluations)
            waiting = c["wait"] > 0
            c_wait = jnp.where(crossed, jnp.maximum(c["wait"] - 1, 0), c["wait"])
            eligible = eligible & ~waiting

            def try_merge(_):
                f0, f1 = ends(y, y1, mask, dense, dtu)
                return mg.merge(
                    plain_field,
                    pre,
                    controller,
                    y,
                    y1,
                    f0,
                    f1,
                    dtu,
                    mask,
                    cross_e,
                    th_e,
                    dz_e,
                    free,
                )

            ratio, y_m, z_m, signs_ok = when(
                eligible, try_merge, (jnp.asarray(jnp.inf, ts.dtype), y1, z1, jnp.array(False))
            )
            merged = eligible & signs_ok & (ratio <= 1.0)
            # the next step is shrunk to what a merge would allow (half when the signs came
            # out wrong), unless that is a small fraction of this one: then switches stop
            # the steps one by one as without merging
            factor = jnp.where(signs_ok, mg.step_factor(ratio), 0.5)
            shrink = eligible & (factor > mg.MIN_FACTOR)
            dt_next = jnp.where(shrink, jnp.minimum(dt_next, dtu * factor), dt_next)
            refused = eligible & ~merged & ~shrink
            crossed = crossed & ~merged
            backoff = jnp.where(
                merged, 0, jnp.where(refused, jnp.minimum(2 * c["backoff"] + 1, 63), c["backoff"])
            )
            wait = jnp.where(refused, backoff, c_wait)
        else:
            eligible = merged = jnp.array(False)
            backoff, wait = c["backoff"], c["wait"]
            y_m, z_m = y1, z1
        th_k = jnp.where(crossed, th_k, 1.0)
        th_x = jnp.where(leaving, th_x, 1.0)
        is_stop = hit & ((~crossed & ~leaving) | (th_s < jnp.minimum(th_k, th_x)))
        is_kink = crossed & ~is_stop & (th_k <= th_x)
        is_exit = leaving & ~is_stop & ~is_kink
        th = jnp.where(is_stop, th_s, jnp.where(is_kink, th_k, jnp.where(is_exit, th_x, 1.0)))
        t_end = jnp.where(th >= 1.0, tb, t + th * dtu)
        y1m = _tmap(lambda a, b: jnp.where(merged, a, b), y_m, y1)
        y_end = jax.lax.cond(th >= 1.0, lambda: y1m, lambda: interp.evaluate(t_end))
        k, buf = save_upto(c["k"], c["buf"], jnp.where(accept, t_end, -jnp.inf), interp.evaluate)

        # switch: update the pattern of every entry at zero, log the flips; a re-armed entry
        # crossing back (the chatter signature) enters sliding when its Filippov alpha is a
        # convex weight; a slot whose alpha left [0, 1] exits to that side
        def switch(s):
            mask, group, offset, log, count, nslide, nexit = s
            ze = pre(y_end, mask)
            zt = ztol_of(ze)
            at0 = is_kink & (group < 0) & (sgn * ze + offset < zt)
            dz = dz_k  # d z / d theta at the crossing (same sign as d z / dt)
            new = jnp.where(at0, dz > 0, mask)
            if slide:
                cand = at0 & (new != mask) & (offset > 0)

                def enter(state):
                    g = state[0]
                    fp = sl.group_fingerprints(lambda v: dpre(y_end, mask, v), y_end)
                    g2 = sl.assign_slots(cand, g, fp, S)
                    _, alpha, active = slide_field(y_end, (new, g2))
                    fresh = active & (sl.slot_counts(g, S) == 0)
                    bad = fresh & ~sl.inside(alpha, active)
                    g2 = jnp.where((g2 >= 0) & bad[jnp.clip(g2, 0, S - 1)], -1, g2)
                    return g2, jnp.sum(fresh & ~bad)

                g_n, n_in = when(jnp.any(cand), enter, (group, jnp.zeros((), nslide.dtype)))
                entered = (g_n >= 0) & (group < 0)
                new = jnp.where(entered, mask, new)  # a sliding entry keeps its old side

                # the slots whose alpha left [0, 1] at the exit point (from the search)
                gi = jnp.clip(group, 0, S - 1)
                leave = is_exit & (group >= 0) & out_x[gi]
                side = alpha_x[gi] > 0.5  # above 1: on; below 0 (or singular): off
                n_out = is_exit * jnp.sum(out_x)
                new = jnp.where(leave, side, new)
                group = jnp.where(leave, -1, g_n)
                nslide, nexit = nslide + n_in, nexit + n_out
                rearm = at0 | leave
            else:
                rearm = at0
            flips = new != mask
            pos = count + jnp.cumsum(flips.ravel()) - 1
            pos = jnp.where(flips.ravel(), pos, E)  # out of range -> dropped
            log = write_log(log, pos, t_end, new)
            s_new = jnp.where(new, 1.0, -1.0)
            offset = jnp.where(rearm, jnp.maximum(0.0, -s_new * ze) + zt, offset)
            return new, group, offset, log, count + jnp.sum(flips), nslide, nexit

        is_switch = is_kink | is_exit
        mask_n, group_n, offset_n, log_n, count_n, slides_n, exits_n = when(
            is_switch,
            switch,
            (mask, group, c["offset"], c["log"], c["count"], c["slides"], c["exits"]),
        )
        if merge_on:
            # merged switches: each logged at its own time, in time order
            def log_merged(s):
                log, count = s
                flat = cross_e.ravel()
                order = jnp.argsort(jnp.where(flat, th_e.ravel(), jnp.inf))
                rank = jnp.argsort(order)
                pos = jnp.where(flat, count + rank, E)
                log = write_log(log, pos, (t + th_e * dtu).ravel(), ~mask)
                return log, count + jnp.sum(flat)

            log_n, count_n = when(merged, log_merged, (log_n, count_n))
            mask_n = jnp.where(merged, mask ^ cross_e, mask_n)
        # z at the new time (for the next step's polynomial): recomputed after a stop
        z_new = jax.lax.cond(
            th >= 1.0, lambda: jnp.where(merged, z_m, z1), lambda: pre(y_end, mask)
        )
        # a re-arming offset delays the entry's next crossing by o / |dz/dt|: it is dropped
        # once the entry has clearly left zero (a sliding or chattering one never does)
        away = accept & (jnp.where(mask_n, 1.0, -1.0) * z_new > _AWAY * offset_n)
        offset_n = jnp.where(away, 0.0, offset_n)
        if slide:
            # one Filippov solve: a gradient + one more per active slot
            n_act = jnp.sum(sl.slot_counts(group, S) > 0)
            per_alpha = n_act + 1
            slide_evals = (
                c["slide_evals"]
                + config.evals_per_step * (n_act + (n_act > 0))
                + (accept & sliding) * per_alpha
                + leaving * _BISECT_EXIT * per_alpha
                + (slides_n > c["slides"]) * per_alpha
            )
            peak = jnp.maximum(c["peak"], n_act)
        else:
            slide_evals, peak = c["slide_evals"], c["peak"]

        new_t = jnp.where(accept, t_end, t)
        steps = c["steps"] + 1
        status = jnp.where(
            accept & (new_t >= t1),
            Status.SUCCESS,
            jnp.asarray(_RUNNING),
        )
        status = jnp.where(is_stop, Status.EVENT, status)
        stops = c["stops"] + is_switch  # stops without a flip (grazing) also count toward the cap
        status = jnp.where((count_n > E) | (stops > E), Status.MAX_EVENTS, status)
        status = jnp.where(
            (status == _RUNNING) & (steps >= config.max_steps), Status.MAX_STEPS, status
        )
        tiny = dt_next <= TINY_STEP * jnp.maximum(jnp.abs(t), 1.0)
        collapsed = collapse_status(config.rtol, ts.dtype)
        status = jnp.where((status == _RUNNING) & tiny, collapsed, status)
        status = jnp.where((status == _RUNNING) & ~ok & tiny, Status.NONFINITE, status)

        def pick(a, b):
            return _tmap(lambda u, v: jnp.where(accept, u, v), a, b)

        return dict(
            t=new_t,
            y=pick(y_end, y),
            z=jnp.where(accept, z_new, c["z"]),
            mask=mask_n,
            group=group_n,
            offset=offset_n,
            dt=dt_next,
            sstate=pick(sstate1, c["sstate"]),
            cstate=_tmap(lambda u, v: jnp.where(ok, u, v), cstate1, c["cstate"]),
            meter=meter.step(c["meter"], (new_t - t0) / (t1 - t0)),
            jump=jnp.where(accept, is_switch | merged, c["jump"]),
            g=jnp.where(accept, g1, c["g"]),
            k=k,
            buf=buf,
            log=log_n,
            count=count_n,
            stops=stops,
            slides=slides_n,
            exits=exits_n,
            slide_evals=slide_evals,
            peak=peak,
            steps=steps,
            accepted=c["accepted"] + accept,
            extra=c["extra"] + c["jump"] + 4 * eligible,  # 2 fields + a JVP (~2)
            merged=c["merged"] + merged,
            attempts=c["attempts"] + eligible,
            backoff=backoff,
            wait=wait,
            status=status.astype(jnp.asarray(_RUNNING).dtype),
            t_event=jnp.where(is_stop, t_end, c["t_event"]),
        )

    c: dict[str, Any] = jax.lax.while_loop(cond, body, carry0)

    meter.close(c["meter"])
    filled = jnp.arange(T) < c["k"]
    steps = c["steps"]
    t_l, j_l, i_l, d_l = c["log"]
    return build_trajectory(
        ts=jnp.where(filled, ts, jnp.inf),
        ys=c["buf"],
        static=static,
        fn=fn,
        loss_of=value,
        final_ys=c["y"],
        t_final=c["t"],
        t_event=c["t_event"],
        code=c["status"],
        stats=make_stats(
            steps,
            c["accepted"],
            config.evals_per_step * steps + c["extra"] + c["slide_evals"],
            num_switches=c["count"],
            num_kink_stops=c["stops"],
            num_slides=c["slides"],
            num_slide_exits=c["exits"],
            peak_sliding=c["peak"],
            num_merged_steps=c["merged"],
            num_merge_attempts=c["attempts"],
        ),
        events=SwitchLog(
            t=t_l, neuron=j_l, sample=i_l, direction=d_l, count=c["count"], initial=mask
        ),
        clock=reduction,
        method="gf",
        mode="kinks",
    )


def solve_kinks(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config) -> Trajectory:
    """Kink-aware solve (``solve_flow`` with ``FlowConfig(kinks="track")``): same arguments
    and result as the bare solve; the Trajectory also carries ``events``, a
    :class:`SwitchLog`, and ``stats["num_switches"]``."""
    return _solve_kinks(params, static, data, ts, t0, t1, stop, fn, loss, reduction, config)
