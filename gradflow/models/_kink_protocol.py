"""The kink protocol: an abstract class for networks with ReLU-type (piecewise-linear) units.

A model that subclasses :class:`AbstractKinkModel` declares its kinked units, and
``solve_flow(..., config=FlowConfig(kinks="track"))`` integrates its gradient flow exactly
across every activation switch: it holds the activation pattern fixed within a segment (the
loss is then smooth), stops where some pre-activation changes sign and switches that unit.
"""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Bool, Float


class AbstractKinkModel(eqx.Module):
    """A network whose only non-smooth units are piecewise linear: sigma(z) = z for z > 0,
    slope * z for z < 0 (relu: slope 0, leaky relu), each unit u with pre-activation z_u.

    Implement (for ONE example ``x``; vmap over data):
        ``preactivations(x) -> (k,)``: the pre-activations of all k kinked units, flat;
        ``masked_call(x, mask) -> output``: the network with the activation pattern frozen:
            unit u computes ``where(mask[u], z_u, slope_u * z_u)`` (``mask`` shape (k,));
            smooth in the parameters for a fixed mask, equal to ``self(x)`` when
            ``mask == (preactivations(x) > 0)``.
    Override for units past the first layer (their z depends on earlier units' pattern):
        ``masked_preactivations(x, mask)``: the k pre-activations of the frozen-pattern
            network (default: ``preactivations(x)``, right when every z_u is computed from
            ``x`` by trainable parameters alone, e.g. a first layer or conv filters);
        ``kink_degree``: a bound on the polynomial degree of ``masked_preactivations`` in
            the trainable parameters for a fixed mask (default 1: linear, e.g. w . x; the
            l-th hidden layer of an MLP has degree l). The solver samples z on its step
            interpolant at ``kink_degree * p + 1`` points (p: the interpolant's degree) and
            root-finds sign changes on that exact polynomial.
        ``has_kinks``: False when a setting makes the model smooth (a CNN with tanh):
            ``kinks="track"`` then raises and ``kinks="auto"`` solves bare.
        ``fractional_mask``: True when ``masked_call`` and ``masked_preactivations`` also
            accept a float mask m in [0, 1], unit u computing
            ``(m_u + (1 - m_u) * slope_u) * z_u`` (multiplicative, not ``where``): the
            kink-aware solve then continues along a sliding (Filippov) surface z_u = 0 with
            the fractional slope that keeps z_u = 0 (default False: a sliding contact
            chatters until ``FlowConfig.max_events``). Every built-in model sets it.

    >>> class Mine(AbstractKinkModel):
    ...     w: Array
    ...     v: Array
    ...     def __call__(self, x): return self.v @ jax.nn.relu(self.w @ x)
    ...     def preactivations(self, x): return self.w @ x
    ...     def masked_call(self, x, mask): return self.v @ (mask * (self.w @ x))
    ...     fractional_mask = True  # masked_call is multiplicative in the mask
    """

    @abc.abstractmethod
    def preactivations(self, x: Array) -> Float[Array, " k"]:
        """Pre-activations of every kinked unit of one example, flat (k,)."""

    @abc.abstractmethod
    def masked_call(self, x: Array, mask: Bool[Array, " k"] | Float[Array, " k"]) -> Array:
        """The output with every kinked unit's side frozen at ``mask`` (shape (k,))."""

    def masked_preactivations(
        self, x: Array, mask: Bool[Array, " k"] | Float[Array, " k"]
    ) -> Float[Array, " k"]:
        """Pre-activations of the frozen-pattern network (default: ``preactivations(x)``)."""
        del mask
        return self.preactivations(x)

    @property
    def kink_degree(self) -> int:
        """Degree bound of ``masked_preactivations`` in the trainable parameters (default 1)."""
        return 1

    @property
    def has_kinks(self) -> bool:
        """False when the model's current setting is smooth (default True)."""
        return True

    @property
    def fractional_mask(self) -> bool:
        """True when the masked methods take a float mask in [0, 1] multiplicatively (the
        sliding-mode slope); default False."""
        return False
