"""Two-layer ReLU network of Min, Mallada & Vidal: f(x) = sum_j v_j relu(w_j . x), no bias."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import integer, positive
from ._kink_protocol import AbstractKinkModel


class TwoLayerReLU(AbstractKinkModel):
    """f(x) = sum_j v_j relu(w_j . x) with first layer ``w`` (h, d) and readout ``v`` (h,).

    Written for ONE example ``x`` of shape (d,); vmap it over data. Both layers are
    trainable. Build it with :meth:`balanced` (Min et al.'s small init) or :meth:`gaussian`.

    >>> model = TwoLayerReLU.balanced(d=2, h=50, eps=1e-6, key=jax.random.key(0))
    >>> model(jnp.array([1.0, 0.0]))
    """

    w: Float[Array, "h d"]
    v: Float[Array, " h"]

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        return jnp.dot(self.v, jax.nn.relu(self.w @ x))

    def preactivations(self, x: Float[Array, " d"]) -> Float[Array, " h"]:
        """Pre-activations z_j = w_j . x of one example (linear in the parameters).

        The kink protocol of ``FlowConfig(kinks="track")``: the loss is smooth except where
        some z_j(x_i) = 0.
        """
        return self.w @ x

    def masked_call(self, x: Float[Array, " d"], mask: Array) -> Float[Array, ""]:
        """f(x) with the activation pattern frozen: sum_j v_j mask_j (w_j . x).

        Equals ``self(x)`` when ``mask == (w @ x > 0)``; smooth in the parameters for a fixed
        ``mask`` (shape (h,), bool, or float in [0, 1]: a fractional slope, used for sliding).
        """
        z = self.w @ x
        return jnp.dot(self.v, jnp.asarray(mask).astype(z.dtype) * z)

    @property
    def fractional_mask(self) -> bool:
        """True: ``masked_call`` is multiplicative in the mask (sliding-mode slopes)."""
        return True

    @property
    def width(self) -> int:
        return self.w.shape[0]

    @classmethod
    def balanced(cls, d: int, h: int, eps: float, *, key: PRNGKeyArray) -> TwoLayerReLU:
        """Balanced small init: w_j = eps * g_j / sqrt(d), g_j ~ N(0, I_d); v_j = s_j |w_j|.

        s_j is a random sign (+1/-1 with probability 1/2), so v_j^2 - |w_j|^2 = 0 for every
        neuron, a quantity exact gradient flow conserves. ``eps`` is the init scale:
        E|w_j|^2 = eps^2.
        """
        d, h = integer("d", d), integer("h", h)
        eps = positive("eps", eps)
        kw, ks = jax.random.split(key)
        w = eps * jax.random.normal(kw, (h, d)) / jnp.sqrt(d)
        s = jnp.where(jax.random.bernoulli(ks, 0.5, (h,)), 1.0, -1.0)
        return cls(w=w, v=s * jnp.linalg.norm(w, axis=1))

    @classmethod
    def gaussian(cls, d: int, h: int, alpha: float, *, key: PRNGKeyArray) -> TwoLayerReLU:
        """Unbalanced Gaussian init as in Min et al.'s experiments: w_ij, v_j ~ N(0, alpha^2)."""
        d, h = integer("d", d), integer("h", h)
        alpha = positive("alpha", alpha)
        kw, kv = jax.random.split(key)
        return cls(
            w=alpha * jax.random.normal(kw, (h, d)),
            v=alpha * jax.random.normal(kv, (h,)),
        )


class Linear(eqx.Module):
    """Linear model f(x) = beta . x (closed-form flows for tests and sanity checks)."""

    beta: Float[Array, " d"]

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        return jnp.dot(self.beta, x)
