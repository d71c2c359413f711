"""Nguyen & Hein's deep CNN (arXiv 1710.10928): shared-weight conv layers, max pooling, dense head.

Layer k (1-based) of an L-layer network maps the previous feature map through
    conv layers:  F_k = pool_k(sigma(W_k * F_{k-1} + b_k))   ('VALID' convolution, stride 1,
                  weights shared over positions; pool_k = non-overlapping max pooling, 1 = none)
    dense layers: F_k = sigma(V_k F_{k-1} + c_k)   (after the convs, on the flattened map)
and the output is f(x) = u . vec(F_L) + u_0 (a scalar). The width of layer k is
n_k = number of entries of F_k (channels x height x width for a conv layer); Nguyen & Hein's
wide-layer condition is n_k >= N (number of training samples).

Kink protocol (relu / leaky_relu; :class:`AbstractKinkModel`): the kinked units are, layer by
layer, every conv pre-activation entry (c, i, j), then (when the layer pools) the max-pool
comparisons, then every dense pre-activation. A p x p max over a window's entries
v_0, ..., v_{p^2-1} (row-major) is written as the chain m_0 = v_0,
m_r = m_{r-1} + relu(v_r - m_{r-1}): p^2 - 1 relu units with pre-activations v_r - m_{r-1}
(always slope 0, whatever the activation). For a fixed pattern the pre-activations of hidden
layer l (conv, its pooling, or dense) are polynomials of degree l in the parameters, so
``kink_degree`` = L.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._validate import integer, positive
from ._activations import ACTIVATIONS, check_activation, kink_slope
from ._kink_protocol import AbstractKinkModel

DEEP_ACTIVATIONS = ("relu", "leaky_relu", "softplus", "sigmoid", "tanh")
#: default negative slope of DeepCNN's leaky_relu (TwoLayerCNN's default is 0.01)
LEAKY_SLOPE = 0.1


class DeepCNN(AbstractKinkModel):
    """Conv (shared weights) + max-pool layers, then dense layers, then a linear scalar head.

    Written for ONE example ``x`` of shape ``in_shape`` (C, H, W) or its flattening (C*H*W,);
    vmap over data. ``leaky_slope`` (static, default 0.1) is the negative slope of
    "leaky_relu". Build it with :meth:`init`.

    With relu / leaky_relu it is an :class:`AbstractKinkModel` (``FlowConfig(kinks="track")``
    integrates its flow exactly across every switch): the kinked units are, layer by layer,
    the conv pre-activation entries (channel-major, C-order), the max-pool comparisons of a
    pooling layer (window-major, p^2 - 1 per window) and the dense pre-activations; a
    ``SwitchLog`` "neuron" is the flat index of :meth:`preactivations`. Max pooling slides
    readily (two entries of a window pushed to equality from both sides; small nets also
    slide at dense units): such a solve stops with ``Status.MAX_EVENTS``, never silently.

    >>> net = DeepCNN.init((1, 8, 8), channels=(16,), pools=(2,), key=jax.random.key(0))
    >>> net.widths        # (n_1,) = (16 * 3 * 3,)
    """

    weights: tuple[Array, ...]  # conv kernels (co, ci, kh, kw) first, then dense (m, n)
    biases: tuple[Array, ...]  # (co,) per conv layer, then (m,) per dense layer
    head_w: Float[Array, " n"]
    head_b: Float[Array, ""]
    in_shape: tuple[int, int, int] = eqx.field(static=True)
    pools: tuple[int, ...] = eqx.field(static=True)
    activation: str = eqx.field(static=True, default="softplus")
    leaky_slope: float = eqx.field(static=True, default=LEAKY_SLOPE)

    # One tuple for all layers (never empty): diffrax's solver buffers reject empty tuples.
    @property
    def n_conv(self) -> int:
        return len(self.pools)

    @property
    def depth(self) -> int:
        """Number of hidden layers L (conv + dense); features exist for layers 1..L."""
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_1, ..., n_L): the number of features of every hidden layer."""
        shapes = jax.eval_shape(lambda x: self.layers(x), jnp.zeros(self.in_shape))
        return tuple(int(np.prod(s.shape)) for s in shapes)

    def layers(self, x: Float[Array, "..."]) -> list[Array]:
        """[F_1, ..., F_L] for one example (conv maps keep their (C, H, W) shape)."""
        fn, slope = ACTIVATIONS[self.activation].fn, self.leaky_slope
        act = lambda z: fn(z, slope)
        h = jnp.reshape(x, self.in_shape)
        out = []
        nc = self.n_conv
        for w, b, p in zip(self.weights[:nc], self.biases[:nc], self.pools, strict=True):
            z = jax.lax.conv_general_dilated(h[None], w, (1, 1), "VALID")[0]
            h = act(z + b[:, None, None])
            if p > 1:
                h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, p, p), (1, p, p), "VALID")
            out.append(h)
        h = jnp.ravel(h)
        for w, b in zip(self.weights[nc:], self.biases[nc:], strict=True):
            h = act(w @ h + b)
            out.append(h)
        return out

    @property
    def has_kinks(self) -> bool:
        """True for relu / leaky_relu (piecewise linear): ``kinks="track"`` applies."""
        return kink_slope(self.activation, self.leaky_slope) is not None

    @property
    def kink_degree(self) -> int:
        """Pre-activations of hidden layer l have degree l in the parameters: L."""
        return self.depth

    def _forward(self, x: Array, mask: Array | None) -> tuple[Array, Array]:
        """Output and the flat kinked pre-activations; ``mask`` None: the true pattern."""
        slope = kink_slope(self.activation, self.leaky_slope)
        if slope is None:
            raise ValueError(
                f"DeepCNN's kink protocol needs activation 'relu' or 'leaky_relu', got "
                f"{self.activation!r}"
            )
        zs: list[Array] = []
        start = 0

        def frozen(shape):  # the slice of ``mask`` for the next group of units
            assert mask is not None
            return jnp.reshape(mask[start : start + int(np.prod(shape))], shape)

        def gate(z):  # one group of kinked units: its pattern (true or frozen)
            nonlocal start
            on = z > 0 if mask is None else frozen(z.shape)
            zs.append(z)
            start += z.size
            return on

        h = jnp.reshape(x, self.in_shape)
        nc = self.n_conv
        for w, b, p in zip(self.weights[:nc], self.biases[:nc], self.pools, strict=True):
            z = jax.lax.conv_general_dilated(h[None], w, (1, 1), "VALID")[0] + b[:, None, None]
            h = jnp.where(gate(z), z, slope * z)
            if p > 1:  # max over p x p windows as a chain of p^2 - 1 relu units
                c, hh, ww = h.shape
                hp, wp = hh // p, ww // p
                v = h[:, : hp * p, : wp * p].reshape(c, hp, p, wp, p)
                v = v.transpose(0, 1, 3, 2, 4).reshape(c, hp, wp, p * p)
                on = None if mask is None else frozen((c, hp, wp, p * p - 1))
                m, diffs = v[..., 0], []
                for r in range(1, p * p):
                    diffs.append(v[..., r] - m)
                    m = jnp.where(diffs[-1] > 0 if on is None else on[..., r - 1], v[..., r], m)
                zs.append(jnp.stack(diffs, axis=-1))
                start += zs[-1].size
                h = m
        h = jnp.ravel(h)
        for w, b in zip(self.weights[nc:], self.biases[nc:], strict=True):
            z = w @ h + b
            h = jnp.where(gate(z), z, slope * z)
        out = jnp.dot(self.head_w, h) + self.head_b
        return out, jnp.concatenate([jnp.ravel(z) for z in zs])

    def preactivations(self, x: Float[Array, "..."]) -> Float[Array, " k"]:
        """The k kinked pre-activations of one example (conv entries, pool comparisons and
        dense units, layer by layer; relu / leaky_relu only)."""
        return self._forward(x, None)[1]

    def masked_call(self, x: Float[Array, "..."], mask: Bool[Array, " k"]) -> Float[Array, ""]:
        """f(x) with every kinked unit's side frozen at ``mask`` (k,); equals ``self(x)`` when
        ``mask == (preactivations(x) > 0)``."""
        return self._forward(x, mask)[0]

    def masked_preactivations(self, x: Float[Array, "..."], mask: Bool[Array, " k"]) -> Array:
        """The k pre-activations of the network frozen at ``mask``."""
        return self._forward(x, mask)[1]

    def features(self, x: Float[Array, "..."], layer: int) -> Float[Array, " n_k"]:
        """vec(F_layer) for one example, ``layer`` in 1..L (``feature_matrix`` stacks them)."""
        if not 1 <= layer <= self.depth:
            raise ValueError(f"layer must be in 1..{self.depth}, got {layer!r}")
        return jnp.ravel(self.layers(x)[layer - 1])

    def __call__(self, x: Float[Array, "..."]) -> Float[Array, ""]:
        return jnp.dot(self.head_w, jnp.ravel(self.layers(x)[-1])) + self.head_b

    @classmethod
    def init(
        cls,
        in_shape: Sequence[int],
        channels: Sequence[int],
        *,
        kernel: int = 3,
        pools: Sequence[int] | None = None,
        dense: Sequence[int] = (),
        activation: str = "softplus",
        leaky_slope: float = LEAKY_SLOPE,
        scale: float = 1.0,
        bias_scale: float = 0.1,
        key: PRNGKeyArray,
    ) -> DeepCNN:
        """Random init: weights N(0, scale^2 / fan_in), biases N(0, bias_scale^2).

        Args:
            in_shape: (C, H, W) of one input (flattened inputs are reshaped to it).
            channels: output channels of each conv layer (their widths, with the pooling).
            kernel: square kernel size of every conv layer. pools: max-pool size per conv
                layer (1 = none; default none). dense: widths of dense layers after the convs.
            activation: one of "relu", "leaky_relu", "softplus", "sigmoid", "tanh".
            leaky_slope: negative slope of "leaky_relu" (default 0.1; TwoLayerCNN's is 0.01).
            scale: init scale of all weights (small init: scale << 1).
        """
        in_shape = tuple(integer("in_shape entry", s) for s in in_shape)
        if len(in_shape) != 3:
            raise ValueError(f"in_shape must be (C, H, W), got {in_shape}")
        channels = tuple(integer("channels entry", c) for c in channels)
        pools = (1,) * len(channels) if pools is None else tuple(
            integer("pools entry", p) for p in pools
        )
        if len(pools) != len(channels):
            raise ValueError(f"pools needs one entry per conv layer ({len(channels)}), got {pools}")
        dense = tuple(integer("dense entry", m) for m in dense)
        if not channels and not dense:
            raise ValueError("the network needs at least one conv or dense layer")
        kernel = integer("kernel", kernel)
        check_activation(activation, DEEP_ACTIVATIONS)
        scale = positive("scale", scale)
        if not bias_scale >= 0:
            raise ValueError(f"bias_scale must be >= 0, got {bias_scale!r}")
        keys = iter(jax.random.split(key, 2 * (len(channels) + len(dense)) + 2))
        c, hgt, wid = in_shape
        conv_w, conv_b = [], []
        for co, p in zip(channels, pools, strict=True):
            hgt, wid = hgt - kernel + 1, wid - kernel + 1
            if hgt < 1 or wid < 1:
                raise ValueError(
                    f"input {in_shape} too small for {len(channels)} convs of {kernel}"
                )
            fan = c * kernel * kernel
            conv_w.append(scale * jax.random.normal(next(keys), (co, c, kernel, kernel)) / fan**0.5)
            conv_b.append(bias_scale * jax.random.normal(next(keys), (co,)))
            hgt, wid, c = hgt // p, wid // p, co
            if hgt < 1 or wid < 1:
                raise ValueError(f"pooling {p} leaves an empty map for input {in_shape}")
        n = c * hgt * wid
        dense_w, dense_b = [], []
        for m in dense:
            dense_w.append(scale * jax.random.normal(next(keys), (m, n)) / n**0.5)
            dense_b.append(bias_scale * jax.random.normal(next(keys), (m,)))
            n = m
        head_w = scale * jax.random.normal(next(keys), (n,)) / n**0.5
        head_b = jnp.zeros(())
        return cls(
            weights=tuple(conv_w + dense_w), biases=tuple(conv_b + dense_b), head_w=head_w,
            head_b=head_b, in_shape=in_shape, pools=pools, activation=activation,
            leaky_slope=float(leaky_slope),
        )

    def num_params(self) -> int:
        """Number of trainable scalars."""
        leaves = jax.tree_util.tree_leaves(eqx.filter(self, eqx.is_array))
        return sum(int(np.size(a)) for a in leaves)
