"""Filippov sliding motion on kink surfaces for the kink-aware solve (``FlowConfig(sliding=True)``).

On a kink surface z_e(theta) = 0 (unit u on sample i) the one-sided fields f+ (unit on) and
f- (off) may both point INTO the surface: n.f+ < 0 < n.f- with n = grad_theta z_e. Switching
the pattern then only makes the solution chatter (one switch per tiny step). Filippov's
solution slides along the surface with f = alpha f+ + (1 - alpha) f-, alpha = n.f- / (n.f- -
n.f+) in [0, 1], the one convex combination with n.f = 0. For a piecewise-linear unit this is
the network with the unit's slope on that sample set to alpha + (1 - alpha) slope (a
"fractional mask", :attr:`gradflow.models.AbstractKinkModel.fractional_mask`): on z_e = 0 the
outputs of both sides agree and the gradient is affine in the unit's slope.

Up to ``FlowConfig.max_sliding`` surfaces slide at once. A slot is a GROUP of (sample, unit)
entries with the same surface (same normal: duplicated patches of a CNN on repeated patterns all sit
on w_k . b = 0 together); all members share one alpha_g. The alphas solve the small linear
system d/dt mean_{e in g} z_e = 0 for every active slot g, re-solved at every field
evaluation (the Filippov field is a smooth function of theta while the slot set is fixed).
On the surface (z_e = 0) the field is affine in each alpha_m (a path through the network
passes a unit once), so the secant from alpha_m = 1/2 to 1 is its exact derivative, and one
linear solve gives the alphas exactly unless two sliding units of one sample lie on one path
of a deep net (bilinear terms: then it is the linearisation at alpha = 1/2); O(z) drift off
the surface makes it approximate to that order.

Drift: no projection or Baumgarte term. For units whose z is linear in theta (first layer,
conv filters) every Runge-Kutta stage satisfies n.k = 0 with a constant n, so z is conserved
to rounding (a linear invariant of the scheme); for deeper units z drifts by O(rtol) per step,
harmless because the exit is decided by alpha, not by the sign of z.

Checking against the smoothed flow (relu -> softplus(beta z)/beta, beta -> inf): its distance
to this solve falls like 1/beta only once beta is past every DISCONTINUITY of the Filippov flow
the trajectory passes near. At a corner of two kink surfaces of one unit the outcome can
depend on which surface is crossed first (tests/test_kinks_sliding.py, the full Yu set: filter
0 meets z(5,3) = 0 and z(0,1) = 0 1.3e-6 apart in z at t ~ 1.5e-3; with (0,1) off the surface
z(5,3) = 0 repels, so crossing (0,1) first keeps (5,3) off for good). A smoothed flow whose
O(1/beta) state error exceeds that margin lands on the other branch, 4% away by t = 1e-2 at
every beta <= 4e6 (beta eps <= 4000), while from 4.3e6 on it takes this solve's branch at
distance 1.0e4 / beta. A disagreement that does not shrink with beta is therefore first a
question about the reference: restart each solve from the other's state before the split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

_GROUP_RTOL = 1e-8  # entries whose normal fingerprints agree to this are one surface


def slot_counts(group: Int[Array, "n k"], slots: int) -> Int[Array, " S"]:
    """Number of entries in each slot (0: a free slot); O(n k) memory."""
    on = group >= 0
    return jax.ops.segment_sum(
        on.ravel().astype(jnp.int32), jnp.where(on, group, 0).ravel(), num_segments=slots
    )


def soft_mask(
    mask: Bool[Array, "n k"], group: Int[Array, "n k"], alpha: Float[Array, " S"]
) -> Float[Array, "n k"]:
    """The pattern as a float mask: ``mask`` off the sliding slots, alpha_g on slot g."""
    a = alpha[jnp.clip(group, 0, alpha.shape[0] - 1)]
    return jnp.where(group >= 0, a, mask.astype(alpha.dtype))


def filippov(
    field: Callable[[Any, Array], Any],
    pre: Callable[[Any, Array], Array],
    p: Any,
    mask: Bool[Array, "n k"],
    group: Int[Array, "n k"],
    slots: int,
) -> tuple[Any, Float[Array, " S"], Bool[Array, " S"]]:
    """The Filippov field at ``p`` with the slots of ``group`` sliding.

    ``field(p, m)``: -grad L with the float mask m; ``pre(p, m)``: the (n, k) pre-activations.
    Returns (field, alpha (S,), active (S,)); alpha of inactive slots is 0, of active ones
    the solution of d/dt mean_g z = 0 (not clipped: alpha outside [0, 1] means the slot
    leaves the surface, non-finite that the system is singular). The cost is one gradient
    plus one per ACTIVE slot (a loop over the active slots only).
    """
    dtype = jnp.result_type(*[jnp.asarray(a).dtype for a in jax.tree_util.tree_leaves(p)])
    cnt = slot_counts(group, slots)
    active = cnt > 0
    on = (group >= 0).ravel()
    seg = jnp.where(on, group.ravel(), 0)
    centre = jnp.full((slots,), 0.5, dtype)

    def f_of(a):
        return field(p, soft_mask(mask, group, a))

    f_c = f_of(centre)
    m_ref = soft_mask(mask, group, centre)

    def rate(v):  # (S,): d/dt of each slot's mean z along the tangent v
        dz = jax.jvp(lambda q: pre(q, m_ref), (p,), (v,))[1]
        total = jax.ops.segment_sum(jnp.where(on, dz.ravel(), 0.0), seg, num_segments=slots)
        return total / jnp.maximum(cnt, 1).astype(dtype)

    phi_c = rate(f_c)
    order = jnp.argsort(~active, stable=True)  # the active slots first

    def column(j, dj):  # d field / d alpha_m and jac[:, m] for the j-th active slot m
        dirs, jac = dj
        m = order[j]
        # the field is affine in each alpha_m (multi-affine in alpha: a path through the
        # network passes a unit once), so this secant is d field / d alpha_m exactly
        f_m = f_of(centre + 0.5 * jax.nn.one_hot(m, slots, dtype=dtype))
        d = jax.tree_util.tree_map(lambda u, v: 2.0 * (u - v), f_m, f_c)
        dirs = jax.tree_util.tree_map(lambda a, b: a.at[m].set(b), dirs, d)
        return dirs, jac.at[:, m].set(rate(d))

    dirs0 = jax.tree_util.tree_map(lambda a: jnp.zeros((slots,) + a.shape, a.dtype), f_c)
    eye = jnp.eye(slots, dtype=dtype)
    dirs, jac = jax.lax.fori_loop(0, jnp.sum(active), column, (dirs0, eye))
    both = active[:, None] & active[None, :]
    jac = jnp.where(both, jac, eye)
    delta = jnp.linalg.solve(jac, -jnp.where(active, phi_c, 0.0))
    alpha = jnp.where(active, centre + delta, 0.0)
    step = jnp.where(active, delta, 0.0)
    out = jax.tree_util.tree_map(lambda fc, d: fc + jnp.tensordot(step, d, axes=1), f_c, dirs)
    return out, alpha, active


def inside(alpha: Float[Array, " S"], active: Bool[Array, " S"]) -> Bool[Array, " S"]:
    """Active slots whose alpha is a valid convex weight (finite, in [0, 1])."""
    return active & jnp.isfinite(alpha) & (alpha >= 0.0) & (alpha <= 1.0)


def group_fingerprints(
    dpre: Callable[[Any], Array], p: Any, key_seed: int = 0
) -> Float[Array, "2 n k"]:
    """Two random projections of every entry's normal grad_theta z_e (equal normals give
    equal fingerprints): ``dpre(v)`` is the (n, k) derivative of z along the tangent v."""
    leaves, treedef = jax.tree_util.tree_flatten(p)
    keys = jax.random.split(jax.random.key(key_seed), 2 * len(leaves))
    out = []
    for r in range(2):
        tang = [
            jax.random.normal(keys[2 * i + r], jnp.shape(a), jnp.asarray(a).dtype)
            for i, a in enumerate(leaves)
        ]
        out.append(dpre(jax.tree_util.tree_unflatten(treedef, tang)))
    return jnp.stack(out)


def assign_slots(
    cand: Bool[Array, "n k"], group: Int[Array, "n k"], fp: Float[Array, "2 n k"], slots: int
) -> Int[Array, "n k"]:
    """Put the candidate entries into free slots, one slot per surface (equal fingerprints);
    candidates left when every slot is taken keep group -1 (S = ``slots``)."""
    scale = jnp.max(jnp.abs(fp), axis=(1, 2), keepdims=True) + jnp.finfo(fp.dtype).tiny

    def one(m, group):
        left = cand & (group < 0)
        free = ~jnp.any(group == m)
        e0 = jnp.argmax(left.ravel())
        ref = fp.reshape(2, -1)[:, e0][:, None, None]
        same = jnp.all(jnp.abs(fp - ref) <= _GROUP_RTOL * scale, axis=0)
        return jnp.where(jnp.any(left) & free & left & same, m, group)

    return jax.lax.fori_loop(0, slots, one, group)
