"""Closed-form population loss of Du, Lee & Tian's one-filter ConvNet for Gaussian inputs.

Kernel (Cho & Saul's degree-1 arc-cosine kernel; Du et al. arXiv 1709.06129, sec. 3): for a
zero-mean bivariate Gaussian (a, b) with std s_a, s_b and covariance c, phi = arccos(c/(s_a s_b)),

    E[relu(a) relu(b)] = s_a s_b (sin phi + (pi - phi) cos phi) / (2 pi).           (K)

With a = w . z, b = w* . z, z ~ N(0, I) this is |w||w*|(sin phi + (pi - phi) cos phi)/(2 pi).

Population loss of f_w(x) = (1/k) sum_i relu(w . Z_i) against the teacher w* (square loss with
the 1/2 of gradflow.losses): L(w) = (1/2) E_x[(f_w(x) - f_{w*}(x))^2] = (1/2)[M(w,w) - 2M(w,w*)
+ M(w*,w*)], M(w, v) = (1/k^2) sum_{i,j} E[relu(w . Z_i) relu(v . Z_j)].

What is exact: when the WHOLE signal x is N(0, I_d), every pair (w . Z_i, v . Z_j) =
((P_i^T w) . x, (P_j^T v) . x) is bivariate Gaussian with std |w|, |v| and covariance
(P_i^T w) . (P_j^T v), so (K) gives M exactly for ANY stride, overlapping patches included.
Non-overlapping patches (stride >= size) have covariance 0 for i != j, and M reduces to Du et
al.'s form (1/k) K(w, v) + ((k-1)/k) |w||v| / (2 pi). Nothing here is exact for non-Gaussian
inputs (uniform, Laplace, mixtures): use the empirical loss there (``solve_flow`` on data from
:func:`gradflow.papers.du.teacher_data`).

Gradient flow of L through ``solve_flow``: :class:`DuPopulation` is a model whose output on a
single dummy example is sqrt(1 + 2 L(w)); with ``loss="square"`` and label 0 the engine's loss
is (1/2)(1 + 2L) = L + 1/2, whose gradient is exactly grad L (no singularity at L = 0, unlike
sqrt(2L)). :func:`population_flow` does this and subtracts the constant 1/2 from the saved
losses. Time is the flow time of L itself (there is one "sample": mean and sum clocks agree).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...data import Dataset
from ...flow import FlowConfig, Trajectory, solve_flow
from ...models import ConvFilter

POPULATION_OFFSET = 0.5  # the engine's loss minus L(w) for DuPopulation (see module docstring)


@jax.custom_jvp
def _h(u: Array) -> Array:
    """h(u) = sqrt(1 - u^2) + (pi - arccos u) u = sin phi + (pi - phi) cos phi, u = cos phi."""
    u = jnp.clip(u, -1.0, 1.0)
    return jnp.sqrt(jnp.maximum(1.0 - u * u, 0.0)) + (jnp.pi - jnp.arccos(u)) * u


@_h.defjvp
def _h_jvp(primals, tangents):
    # h'(u) = pi - arccos(u): finite at u = +-1 (autodiff of the sqrt would give inf - inf).
    (u,), (du,) = primals, tangents
    return _h(u), (jnp.pi - jnp.arccos(jnp.clip(u, -1.0, 1.0))) * du


def _safe_norm(w: Array) -> Array:
    sq = jnp.sum(w * w, axis=-1)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def relu_kernel_cov(s_a: Array, s_b: Array, c: Array) -> Array:
    """E[relu(a) relu(b)] for zero-mean Gaussian (a, b), std s_a, s_b, covariance c (eq. K)."""
    prod = s_a * s_b
    pos = prod > 0
    u = jnp.where(pos, c / jnp.where(pos, prod, 1.0), 0.0)
    return jnp.where(pos, prod * _h(u) / (2 * jnp.pi), 0.0)


def relu_kernel(w: Float[Array, " p"], v: Float[Array, " p"]) -> Float[Array, ""]:
    """E_{z~N(0,I)}[relu(w.z) relu(v.z)] = |w||v|(sin phi + (pi - phi) cos phi)/(2 pi).

    >>> relu_kernel(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]))   # 1/(2 pi)
    """
    return relu_kernel_cov(_safe_norm(w), _safe_norm(v), jnp.dot(w, v))


def _cross_moment(ew: Float[Array, "k d"], ev: Float[Array, "k d"]) -> Float[Array, ""]:
    """M = (1/k^2) sum_ij K(rows i of ew, rows j of ev) for x ~ N(0, I_d) (exact)."""
    cov = ew @ ev.T
    s_w = _safe_norm(ew)[:, None]
    s_v = _safe_norm(ev)[None, :]
    return jnp.mean(relu_kernel_cov(s_w, s_v, cov))


def population_loss(
    w: Float[Array, " p"], w_star: Float[Array, " p"], *, d: int, stride: int
) -> Float[Array, ""]:
    """L(w) = (1/2) E_{x~N(0,I_d)}[(f_w(x) - f_{w*}(x))^2] in closed form, any stride (exact).

    >>> population_loss(w, w_star, d=16, stride=4)   # k = 4 non-overlapping patches of 4
    """
    student = ConvFilter.from_filter(w, d=d, stride=stride)
    ew, es = student.embedded(w), student.embedded(w_star)
    return 0.5 * (_cross_moment(ew, ew) - 2 * _cross_moment(ew, es) + _cross_moment(es, es))


def population_loss_nonoverlap(
    w: Float[Array, " p"], w_star: Float[Array, " p"], k: int
) -> Float[Array, ""]:
    """Du et al.'s form for k non-overlapping patches: M(w,v) = K(w,v)/k + (k-1)|w||v|/(2 pi k)."""

    def m(a, b):
        return relu_kernel(a, b) / k + (k - 1) * _safe_norm(a) * _safe_norm(b) / (2 * jnp.pi * k)

    return 0.5 * (m(w, w) - 2 * m(w, w_star) + m(w_star, w_star))


class DuPopulation(eqx.Module):
    """A model whose engine loss is the population loss: output sqrt(1 + 2 L(w)) (ignores x).

    Train it with ``solve_flow(..., loss="square", data=population_data())``: the engine's
    loss is L(w) + 1/2, its gradient exactly grad L. The teacher ``w_star`` is held fixed
    (``stop_gradient``). Prefer :func:`population_flow`, which does this for you.
    """

    w: Float[Array, " p"]
    w_star: Float[Array, " p"]
    d: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def loss(self) -> Float[Array, ""]:
        """The population loss L(w) (no offset)."""
        return population_loss(self.w, jax.lax.stop_gradient(self.w_star), d=self.d,
                               stride=self.stride)

    def __call__(self, x: Float[Array, " 1"]) -> Float[Array, ""]:
        del x
        return jnp.sqrt(1.0 + 2.0 * self.loss())


def population_data() -> Dataset:
    """The single dummy example (x = [0], y = 0) that :class:`DuPopulation` is trained on."""
    return Dataset(jnp.zeros((1, 1)), jnp.zeros(1))


def population_flow(
    student: ConvFilter,
    w_star: Float[Array, " p"],
    *,
    t1: float,
    saveat: Any = None,
    config: FlowConfig = FlowConfig(),
) -> Trajectory:
    """Exact gradient flow dw/dt = -grad L(w) of the Gaussian population loss, via solve_flow.

    Returns the engine's Trajectory with ``loss`` = L(w(t)) (offset removed, so resolved only
    down to ~1e-16 in float64; ``traj.final.loss()`` evaluates L directly) and ``model`` /
    ``final`` of type :class:`DuPopulation` (read ``.w``). Time: flow time of L.

    >>> traj = population_flow(ConvFilter.gaussian(16, 4, 4, key=k0), w_star, t1=400.0)
    >>> jnp.linalg.norm(traj.final.w - w_star)
    """
    model = DuPopulation(
        w=student.w, w_star=jnp.asarray(w_star, student.w.dtype), d=student.d,
        stride=student.stride,
    )
    spec = eqx.tree_at(lambda m: m.w, jax.tree_util.tree_map(lambda _: False, model), True)
    traj = solve_flow(
        model, population_data(), loss="square", reduction="mean", t1=t1, saveat=saveat,
        config=config, trainable=spec,
    )
    return eqx.tree_at(lambda tr: tr.loss, traj, traj.loss - POPULATION_OFFSET)
