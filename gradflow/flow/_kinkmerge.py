"""Merged switches: the kink-aware solve applies the switches inside one accepted step with a
second-order correction instead of stopping at each (``FlowConfig(merge_switches=True)``).

Stopping at every switch costs one Runge-Kutta step (plus a restart) per switch: with ~1000
switches the kink-aware solve needs ~1000 steps whatever the tolerance, while its error
estimate alone would allow a few dozen. A switch of entry e (sample i, unit j) at theta_e in
the step changes the field by the jump D_e(theta) = f(y, M0 with e flipped) - f(y, M0) from
theta_e on; the step integrated the frozen field, so its end state misses

    dt * int_{theta_e}^1 D_e(theta) dtheta
      ~= dt * (1 - theta_e) * [(1 - theta_e) / 2 * D_e(0) + (1 + theta_e) / 2 * D_e(1)]

(the jump linear along the step: exact to second order), plus the state's own response to the
missed part, J c (1 - theta) dt / 2 (one Jacobian-vector product). Built-in models take
fractional masks, and the field is affine in each mask entry to first order, so ONE field
evaluation with the mask M0 + u * (M1 - M0), u_e = 1 - theta_e, at the step's start and one at
its end give B0 = sum_e u_e D_e(0) and B1 = sum_e u_e D_e(1); the correction blends them with
the u-weighted mean theta. Two error estimates, in the step-size controller's norm: the
difference to the first-order correction (all jumps at the step end), and the shift of the
crossings themselves (entry e moves by dz_e / (dz_e/dtheta) when the correction changes z_e by
dz_e, changing the correction by that fraction of its jump). The merge is taken only when both
are <= 1; else the step stops at its first switch as before, and the next step is shrunk to
what a merge would allow (error ~ dt^2), unless that is below a fifth of this one: then merges
pause for 1, 3, 7, ... (up to 63) steps with switches, so a tolerance too tight for merging
costs ~2% more gradient evaluations than never merging.

Only plain steps merge: every crossing entry crosses once (its sign at the step end is the new
side, no dip through zero and back), none sits near zero (re-armed, sliding or sliding
candidates), no stop event or save time falls inside the step, and the corrected end state has
the new pattern's signs, and at least two entries switch (one switch: a stop costs about what a
merge does). Cost: two gradient evaluations and a Jacobian-vector product (counted as two) per
try, plus the restart evaluation any switch costs. The switch log holds every switch, at its
crossing time on the step's frozen interpolant (off by the crossing shift above, of the
order of the tolerance in z).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

_SAFETY = 0.8  # target ratio of the merge error estimate for the next step
MIN_FACTOR = 0.2  # bounds of the step-size factor a merge error imposes
_MAX_FACTOR = 10.0


def _tmap(f, *trees):
    return jax.tree_util.tree_map(f, *trees)


def error_ratio(controller: Any, y0: Any, y1: Any, err: Any) -> Array:
    """``err`` in the step-size controller's norm (diffrax PIDController's scaling): <= 1
    is within tolerance."""

    def scale(a, b, e):
        return e / (controller.atol + jnp.maximum(jnp.abs(a), jnp.abs(b)) * controller.rtol)

    return controller.norm(_tmap(scale, y0, y1, err))


def step_factor(ratio: Array) -> Array:
    """Step-size factor that brings a merge error ratio to ``_SAFETY`` (error ~ dt^2)."""
    f = jnp.sqrt(_SAFETY / jnp.maximum(ratio, 1e-30))
    return jnp.clip(f, MIN_FACTOR, _MAX_FACTOR)


def merge(
    field: Callable[[Any, Array], Any],
    pre: Callable[[Any, Array], Array],
    controller: Any,
    y0: Any,
    y1: Any,
    f0: Any,
    f1: Any,
    dt: Array,
    mask: Bool[Array, "n k"],
    cross: Bool[Array, "n k"],
    theta: Float[Array, "n k"],
    slope: Float[Array, "n k"],
    free: Bool[Array, "n k"],
) -> tuple[Array, Any, Array, Array]:
    """The corrected end state of a step whose ``cross`` entries switch at ``theta``.

    ``field(p, m)``: -grad L with the float mask m; ``pre(p, m)``: (n, k) pre-activations;
    ``f0``, ``f1``: the frozen field at the step's ends (the solver's first and last stage);
    ``slope``: dz/dtheta of each crossing entry at its crossing. Returns (error ratio,
    corrected y1, its pre-activations under the new pattern, whether their signs are the
    new pattern's).
    """
    u = jnp.where(cross, 1.0 - theta, 0.0)
    towards = jnp.where(mask, -1.0, 1.0)  # the flipped mask entry minus the old one
    m_w = mask.astype(u.dtype) + towards * u
    b0 = _tmap(jnp.subtract, field(y0, m_w), f0)
    b1 = _tmap(jnp.subtract, field(y1, m_w), f1)
    tbar = jnp.sum(u * theta) / jnp.maximum(jnp.sum(u), jnp.finfo(u.dtype).tiny)
    w0, w1 = 0.5 * (1.0 - tbar) * dt, 0.5 * (1.0 + tbar) * dt
    c2 = _tmap(lambda a, b: w0 * a + w1 * b, b0, b1)  # second order in the jumps
    # the state's own response to the missed part: d(delta)/dt = J delta + jumps, so
    # delta(1) gains J c (1 - tbar) dt / 2 (one Jacobian-vector product of the field)
    new = mask ^ cross
    new_f = new.astype(u.dtype)
    jc = jax.jvp(lambda p: field(p, new_f), (y1,), (c2,))[1]
    hj = 0.5 * (1.0 - tbar) * dt
    y_new = _tmap(lambda y, a, j: y + a + hj * j, y1, c2, jc)
    # error estimate 1: against the first-order correction (all jumps at the step end)
    err = _tmap(lambda a, b, j: a + hj * j - dt * b, c2, b1, jc)
    ratio = error_ratio(controller, y0, y_new, err)
    # error estimate 2: the merged switches move the crossings themselves; entry e's by
    # about dz_e / (dz_e / dtheta) with dz_e its change from the correction, which changes
    # the correction by that fraction of its jump: relative size sum |dtheta_e| / sum u_e
    z = pre(y_new, new)
    dz = jnp.abs(z - pre(y1, new))
    shift = jnp.where(cross, dz / jnp.maximum(jnp.abs(slope), jnp.finfo(u.dtype).tiny), 0.0)
    rho = jnp.sum(shift) / jnp.maximum(jnp.sum(u), jnp.finfo(u.dtype).tiny)
    ratio = jnp.maximum(ratio, rho * error_ratio(controller, y0, y_new, c2))
    signs_ok = jnp.all(~free | (jnp.where(new, 1.0, -1.0) * z > 0))
    return ratio, y_new, z, signs_ok
