"""Two-layer CNN of Yu et al. and Zhou et al.: K filters on patches, pooling, a readout.

f(x) = sum_k a_k . pool_q sigma(w_k . X_q),   X = patches(x, size, stride)  (P, p)

pool = mean over the P patches ("mean"), sum ("sum"), or none ("none": a dense readout with
one weight per (filter, position), a (K, P)). The readout is fixed (Yu et al.'s +-1, held
by ``jax.lax.stop_gradient``) or trained. 1-D signals (L,) and 2-D images (H, W).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import integer, positive
from ._activations import ACTIVATIONS, check_activation as _check_activation, kink_slope
from ._kink_protocol import AbstractKinkModel
from ._patches import Size, patch_grid, patches

CNN_ACTIVATIONS = ("relu", "tanh", "xsigmoid", "leaky_relu")
#: default negative slope of TwoLayerCNN's leaky_relu (DeepCNN's default is 0.1)
LEAKY_SLOPE = 0.01
POOLINGS = ("mean", "sum", "none")
READOUTS = ("fixed", "trained")


def check_activation(name: str) -> str:
    return _check_activation(name, CNN_ACTIVATIONS)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


class TwoLayerCNN(AbstractKinkModel):
    """f(x) = sum_k a_k . pool_q sigma(w_k . X_q) for ONE signal (L,) or image (H, W).

    Build it with :meth:`gaussian` or :meth:`balanced` (small init of scale eps).

    Attributes:
        w: (K, p) filters, flattened row-major (p = prod(size)).
        a: (K,) readout for pooling "mean"/"sum", (K, P) for "none".
        signal_shape: shape of one input signal, (L,) or (H, W) (static).
        size: filter size per axis (static).
        stride: filter stride per axis (static).
        activation: the nonlinearity sigma, "relu", "tanh", "xsigmoid" or "leaky_relu"
            (static).
        pooling: "mean", "sum" or "none" over the P patches (static).
        readout: "fixed": ``a`` does not train, gradient flow sees ``stop_gradient(a)``;
            "trained": both layers train (static).
        leaky_slope: negative slope of "leaky_relu", default 0.01; DeepCNN's default is 0.1
            (static).

    Examples:
        >>> m = TwoLayerCNN.gaussian((12,), 3, 8, 1e-3, key=jax.random.key(0))  # 4 patches
        >>> m(jnp.ones(12))
    """

    w: Float[Array, "K p"]
    a: Float[Array, "K ..."]
    signal_shape: tuple[int, ...] = eqx.field(static=True)
    size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    activation: str = eqx.field(static=True, default="relu")
    pooling: str = eqx.field(static=True, default="mean")
    readout: str = eqx.field(static=True, default="fixed")
    leaky_slope: float = eqx.field(static=True, default=LEAKY_SLOPE)

    def __check_init__(self):
        check_activation(self.activation)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("readout", self.readout, READOUTS)
        size, stride, grid = patch_grid(self.signal_shape, self.size, self.stride)
        p, num = int(np.prod(size)), int(np.prod(grid))
        if self.w.ndim != 2 or self.w.shape[1] != p:
            raise ValueError(f"w must have shape (K, {p}) for patches {size}, got {self.w.shape}")
        k = self.w.shape[0]
        want = (k, num) if self.pooling == "none" else (k,)
        if tuple(self.a.shape) != want:
            raise ValueError(
                f"a must have shape {want} for pooling={self.pooling!r}, got {self.a.shape}"
            )

    def __call__(self, x: Float[Array, "*signal"]) -> Float[Array, ""]:
        if tuple(x.shape) != self.signal_shape:
            raise ValueError(
                f"TwoLayerCNN expects ONE signal of shape {self.signal_shape}, got {x.shape}"
                " (vmap over examples)"
            )
        h = self.features(x)
        a = jax.lax.stop_gradient(self.a) if self.readout == "fixed" else self.a
        return jnp.sum(a * h)

    def features(self, x: Float[Array, "*signal"]) -> Float[Array, "K ..."]:
        """Pooled hidden features (K,) ((K, P) for pooling "none") of one example."""
        z = patches(x, self.size, self.stride) @ self.w.T
        act = ACTIVATIONS[self.activation].fn(z, self.leaky_slope)
        if self.pooling == "mean":
            return jnp.mean(act, axis=0)
        if self.pooling == "sum":
            return jnp.sum(act, axis=0)
        return act.T

    @property
    def has_kinks(self) -> bool:
        """True for the piecewise-linear activations (relu, leaky_relu): the kink protocol
        (:meth:`preactivations`, :meth:`masked_call`) of ``FlowConfig(kinks="track")`` applies."""
        return kink_slope(self.activation, self.leaky_slope) is not None

    @property
    def fractional_mask(self) -> bool:
        """True: ``masked_call`` is multiplicative in the mask (sliding-mode slopes)."""
        return True

    def preactivations(self, x: Float[Array, "*signal"]) -> Float[Array, " KP"]:
        """Pre-activations z = w_k . X_q of one example, flattened filter-major (index k*P + q).

        Linear in the parameters (the kink protocol of ``FlowConfig(kinks="track")``; only
        meaningful for relu / leaky_relu, see :attr:`has_kinks`): the loss is smooth except
        where some w_k . X_q(x_i) = 0. In a ``SwitchLog`` the "neuron" is this flat index.
        """
        return jnp.ravel(self.w @ patches(x, self.size, self.stride).T)

    def masked_call(self, x: Float[Array, "*signal"], mask: Array) -> Float[Array, ""]:
        """f(x) with the activation pattern frozen: sigma(z) -> where(mask, z, slope * z).

        ``mask`` has shape (K*P,) (the order of :meth:`preactivations`) or (K, P); slope is 0
        for relu and ``leaky_slope`` for leaky_relu. Equals ``self(x)`` when
        ``mask == (preactivations(x) > 0)``; smooth in the parameters for a fixed mask.
        """
        slope = kink_slope(self.activation, self.leaky_slope)
        if slope is None:
            raise ValueError(
                f"masked_call needs a piecewise-linear activation ['leaky_relu', 'relu'], "
                f"got {self.activation!r}"
            )
        z = self.w @ patches(x, self.size, self.stride).T  # (K, P)
        m = jnp.reshape(jnp.asarray(mask).astype(z.dtype), z.shape)  # float: a slope in [0, 1]
        act = (m + (1.0 - m) * slope) * z
        if self.pooling == "mean":
            h = jnp.mean(act, axis=1)
        elif self.pooling == "sum":
            h = jnp.sum(act, axis=1)
        else:
            h = act
        a = jax.lax.stop_gradient(self.a) if self.readout == "fixed" else self.a
        return jnp.sum(a * h)

    @property
    def num_filters(self) -> int:
        return self.w.shape[0]

    @property
    def num_patches(self) -> int:
        return int(np.prod(patch_grid(self.signal_shape, self.size, self.stride)[2]))

    @property
    def filters(self) -> Array:
        """Filters reshaped to the patch shape, (K, *size)."""
        return self.w.reshape(self.w.shape[:-1] + self.size)

    @classmethod
    def _make(
        cls, signal_shape, size, num_filters, eps, stride, activation, pooling, readout,
        leaky_slope, key,
    ):
        """What :meth:`gaussian` and :meth:`balanced` share: validate the arguments, draw
        w_k = eps g_k / sqrt(p); return (static fields, w, the key left for ``a``, P, eps)."""
        shape = tuple(int(s) for s in signal_shape)
        size_t, stride_t, grid = patch_grid(shape, size, stride)
        integer("num_filters", num_filters)
        check_activation(activation)
        _check_choice("pooling", pooling, POOLINGS)
        _check_choice("readout", readout, READOUTS)
        kw: dict[str, Any] = dict(
            signal_shape=shape,
            size=size_t,
            stride=stride_t,
            activation=activation,
            pooling=pooling,
            readout=readout,
            leaky_slope=float(leaky_slope),
        )
        p = int(np.prod(size_t))
        eps = positive("eps", eps)
        kw_, ka = jax.random.split(key)
        w = eps * jax.random.normal(kw_, (num_filters, p)) / np.sqrt(p)
        return kw, w, ka, int(np.prod(grid)), eps

    @classmethod
    def gaussian(
        cls,
        signal_shape: tuple[int, ...],
        size: Size,
        num_filters: int,
        eps: float,
        *,
        stride: Size | None = None,
        activation: str = "relu",
        pooling: str = "mean",
        readout: str = "fixed",
        leaky_slope: float = LEAKY_SLOPE,
        key: PRNGKeyArray,
    ) -> TwoLayerCNN:
        """Small Gaussian init: w_k = eps g_k / sqrt(p), g_k ~ N(0, I_p), so E|w_k|^2 = eps^2.

        Readout "fixed": a_k = +1 for the first ceil(K/2) filters, -1 for the rest (Yu et
        al.; for pooling "none" the same sign at every position). "trained": a ~ eps N(0, 1)
        (divided by sqrt(P) for pooling "none", so E|a_k|^2 = eps^2 either way).
        ``stride=None`` means non-overlapping patches.
        """
        kw, w, ka, num, eps = cls._make(
            signal_shape, size, num_filters, eps, stride, activation, pooling, readout,
            leaky_slope, key,
        )
        a_shape = (num_filters, num) if pooling == "none" else (num_filters,)
        if readout == "fixed":
            half = -(-num_filters // 2)
            signs = jnp.where(jnp.arange(num_filters) < half, 1.0, -1.0).astype(w.dtype)
            a = signs[:, None] * jnp.ones(a_shape, w.dtype) if pooling == "none" else signs
        else:
            scale = eps / np.sqrt(num) if pooling == "none" else eps
            a = scale * jax.random.normal(ka, a_shape)
        return cls(w=w, a=a, **kw)

    @classmethod
    def balanced(
        cls,
        signal_shape: tuple[int, ...],
        size: Size,
        num_filters: int,
        eps: float,
        *,
        stride: Size | None = None,
        activation: str = "relu",
        pooling: str = "mean",
        leaky_slope: float = LEAKY_SLOPE,
        key: PRNGKeyArray,
    ) -> TwoLayerCNN:
        """Balanced small init, both layers trained: w_k as in :meth:`gaussian`, |a_k| = |w_k|.

        a_k = s_k |w_k| with a random sign s_k (pooling "none": |w_k| times a random unit
        vector of length P), so |a_k|^2 - |w_k|^2 = 0 at t = 0 (conserved by GF for ReLU).
        """
        kw, w, ka, num, _ = cls._make(
            signal_shape, size, num_filters, eps, stride, activation, pooling, "trained",
            leaky_slope, key,
        )
        norms = jnp.linalg.norm(w, axis=1)
        if pooling == "none":
            u = jax.random.normal(ka, (num_filters, num))
            a = norms[:, None] * u / jnp.linalg.norm(u, axis=1, keepdims=True)
        else:
            a = norms * jnp.where(jax.random.bernoulli(ka, 0.5, (num_filters,)), 1.0, -1.0)
        return cls(w=w, a=a, **kw)
