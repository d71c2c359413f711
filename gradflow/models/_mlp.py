"""A multilayer perceptron of any depth with relu / leaky relu units, kink-aware.

f(x) = W_L sigma(... sigma(W_1 x + b_1) ...) + b_L,   sigma(z) = max(z, slope * z)

Every hidden unit is a kinked unit of :class:`AbstractKinkModel`, so
``FlowConfig(kinks="track")`` integrates its gradient flow exactly across every switch of
every layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._validate import integer, positive
from ._kink_protocol import AbstractKinkModel

MLP_ACTIVATIONS = ("relu", "leaky_relu")


class MLP(AbstractKinkModel):
    """f(x) = W_L sigma(... sigma(W_1 x + b_1) ...) + b_L for ONE example x (d,).

    Output: a scalar when out = 1, else (out,).

    Kink protocol: the k = h_1 + ... + h_{L-1} hidden pre-activations, layer by layer
    (unit j of hidden layer l has flat index h_1 + ... + h_{l-1} + j); the pre-activations of
    layer l have degree l in the parameters for a fixed pattern (``kink_degree`` = L - 1).

    Attributes:
        weights: W_1 (h_1, d), ..., W_L (out, h_{L-1}).
        biases: b_1 (h_1,), ..., b_L (out,), or ``None`` (bias-free, positively homogeneous:
            the balancedness |W_l[j, :]|^2 - |W_{l+1}[:, j]|^2 of each hidden unit j is
            conserved by gradient flow).
        activation: "relu" or "leaky_relu" (static).
        leaky_slope: negative slope of leaky_relu, default 0.01 (static).

    Examples:
        >>> m = MLP.gaussian((20, 32, 32, 1), 1e-3, key=jax.random.key(0))
        >>> m(jnp.ones(20)), m.preactivations(jnp.ones(20)).shape  # (), (64,)
    """

    weights: tuple[Float[Array, "o i"], ...]
    biases: tuple[Float[Array, " o"], ...] | None
    activation: str = eqx.field(static=True, default="relu")
    leaky_slope: float = eqx.field(static=True, default=0.01)

    def __check_init__(self):
        if self.activation not in MLP_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {MLP_ACTIVATIONS}, got {self.activation!r}"
            )
        if len(self.weights) < 2:
            raise ValueError(f"an MLP needs >= 2 layers, got {len(self.weights)}")
        for li in range(1, len(self.weights)):
            a, b = self.weights[li - 1], self.weights[li]
            if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
                raise ValueError(f"weights {li - 1} and {li} do not chain: {a.shape}, {b.shape}")
        if self.biases is not None and [b.shape for b in self.biases] != [
            (w.shape[0],) for w in self.weights
        ]:
            raise ValueError("biases must have shapes (out_l,) matching the weights")

    @property
    def widths(self) -> tuple[int, ...]:
        """(d, h_1, ..., h_{L-1}, out)."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def slope(self) -> float:
        return self.leaky_slope if self.activation == "leaky_relu" else 0.0

    @property
    def kink_degree(self) -> int:
        return len(self.weights) - 1

    def _forward(self, x, mask) -> tuple[Array, Array]:
        """Output and flat hidden pre-activations; ``mask`` None: the true activation."""
        h, zs, start = x, [], 0
        for li, w in enumerate(self.weights):
            z = w @ h + (0.0 if self.biases is None else self.biases[li])
            if li == len(self.weights) - 1:
                out = z[0] if z.shape[0] == 1 else z
                return out, jnp.concatenate(zs)
            zs.append(z)
            if mask is None:
                h = jnp.where(z > 0, z, self.slope * z)
            else:  # multiplicative: a float mask m in [0, 1] is the slope m + (1 - m) slope
                m = jnp.asarray(mask[start : start + z.shape[0]]).astype(z.dtype)
                h = (m + (1.0 - m) * self.slope) * z
            start += z.shape[0]
        raise AssertionError  # unreachable: len(weights) >= 2

    def __call__(self, x: Float[Array, " d"]) -> Array:
        return self._forward(x, None)[0]

    def preactivations(self, x: Float[Array, " d"]) -> Float[Array, " k"]:
        """The k hidden pre-activations of one example, layer by layer."""
        return self._forward(x, None)[1]

    def masked_call(
        self, x: Float[Array, " d"], mask: Bool[Array, " k"] | Float[Array, " k"]
    ) -> Array:
        """The output with every hidden unit's side frozen at ``mask`` (k,)."""
        return self._forward(x, mask)[0]

    def masked_preactivations(
        self, x: Float[Array, " d"], mask: Bool[Array, " k"] | Float[Array, " k"]
    ) -> Array:
        """The hidden pre-activations of the network frozen at ``mask``."""
        return self._forward(x, mask)[1]

    @property
    def fractional_mask(self) -> bool:
        """True: the masked methods are multiplicative in the mask (sliding-mode slopes)."""
        return True

    def balancedness(self) -> Float[Array, " k"]:
        """|W_l[j, :]|^2 (+ b_l[j]^2) - |W_{l+1}[:, j]|^2 for every hidden unit (flat, k):
        conserved by gradient flow for a bias-free net (with biases: incoming includes b)."""
        out = []
        for li in range(len(self.weights) - 1):
            inc = jnp.sum(self.weights[li] ** 2, axis=1)
            if self.biases is not None:
                inc = inc + self.biases[li] ** 2
            out.append(inc - jnp.sum(self.weights[li + 1] ** 2, axis=0))
        return jnp.concatenate(out)

    @classmethod
    def gaussian(
        cls,
        widths: Sequence[int],
        eps: float,
        *,
        bias: bool = False,
        activation: str = "relu",
        leaky_slope: float = 0.01,
        key: PRNGKeyArray,
    ) -> MLP:
        """Small Gaussian init: W_l = eps * G / sqrt(fan_in), G ~ N(0, 1); biases eps * N(0, 1)
        / sqrt(fan_in) when ``bias`` (so every row has E|.|^2 ~ eps^2). ``widths`` = (d, h_1,
        ..., out)."""
        ws = [integer(f"widths[{i}]", int(v)) for i, v in enumerate(widths)]
        if len(ws) < 3:
            raise ValueError(f"widths needs (d, h_1, ..., out) with >= 1 hidden layer, got {ws}")
        eps = positive("eps", eps)
        keys = jax.random.split(key, 2 * (len(ws) - 1))
        weights = tuple(
            eps * jax.random.normal(keys[li], (ws[li + 1], ws[li])) / np.sqrt(ws[li])
            for li in range(len(ws) - 1)
        )
        biases = None
        if bias:
            biases = tuple(
                eps * jax.random.normal(keys[len(ws) - 1 + li], (ws[li + 1],)) / np.sqrt(ws[li])
                for li in range(len(ws) - 1)
            )
        return cls(weights, biases, activation, float(leaky_slope))
