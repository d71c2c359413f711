"""Which mode ``solve_flow`` runs (bare or kink-aware) and why, and the switch log type.

``auto`` mode: tracks kinks when the model implements the protocol and rtol < ``AUTO_RTOL`` =
3e-5, from benchmarks/bench_kinks.py (n=100, d=50, h=20, ~1000 switches, CPU): the kink-aware
solve reaches error ~rtol for ~0.4-0.6 s/seed at every rtol (one restart per switch dominates);
the bare solve needs rtol 1e-8 (1.0 s) for error 1.7e-5 and rtol 1e-10 (4 s) for 1.1e-7, but is
cheaper for errors >= ~5e-5 (rtol 1e-7: 6e-5 in 0.2 s; rtol 1e-4: 2.4e-3 in 6 ms).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Bool, Float, Int

from ..models import AbstractKinkModel

AUTO_RTOL = 3e-5


class SwitchLog(eqx.Module):
    """Event log of activation switches (one row per switch, in time order).

    Fields (E = ``FlowConfig.max_events``; rows past ``count`` are padding, t = inf):
        t: (E,) switch times on the loss clock of the trajectory.
        neuron: (E,) unit index j (flat index of ``preactivations``). sample: (E,) index i.
        direction: (E,) +1 when z_ij (unit j, sample i) became > 0 (switch on), -1 when it
            turned off.
        count: number of switches that occurred (> E only when the cap stopped the solve).
        initial: (n, k) activation pattern at t0 (``initial[i, j]``: unit j on for sample i).
    """

    t: Float[Array, " E"]
    neuron: Int[Array, " E"]
    sample: Int[Array, " E"]
    direction: Int[Array, " E"]
    count: Int[Array, ""]
    initial: Bool[Array, "n k"]


def supports_kinks(model: Any) -> bool:
    """True when ``model`` declares kinked units: it subclasses
    :class:`gradflow.models.AbstractKinkModel` and its setting has kinks (``has_kinks``;
    ``TwoLayerCNN`` with tanh does not)."""
    return isinstance(model, AbstractKinkModel) and bool(model.has_kinks)


def kink_decision(config: Any, model: Any) -> tuple[bool, str]:
    """Whether ``solve_flow`` uses the kink-aware mode for this config and model, and why
    (the reason is recorded in ``Trajectory.mode_reason``).

    Raises ``ValueError`` (naming the model) for ``kinks="track"`` on a model without
    declared kinks.
    """
    name = type(model).__name__
    if config.kinks == "off":
        return False, "kinks='off'"
    if config.kinks == "track":
        if not supports_kinks(model):
            if isinstance(model, AbstractKinkModel):
                why = f"{name} with activation {getattr(model, 'activation', '?')!r} is smooth"
                raise ValueError(f"kinks='track': {why} (use kinks='off')")
            raise ValueError(
                f"kinks='track' needs a model that declares its kinks: {name} does not subclass "
                "gradflow.models.AbstractKinkModel (preactivations(x), masked_call(x, mask)); "
                "use kinks='off' or 'auto'"
            )
        return True, "kinks='track'"
    if config.solver == "kvaerno5":
        return False, "auto: kvaerno5 is implicit, the kink-aware mode needs an explicit solver"
    if not supports_kinks(model):
        return False, f"auto: {name} declares no kinks (not an AbstractKinkModel with kinks)"
    if config.rtol >= AUTO_RTOL:
        return False, f"auto: rtol {config.rtol:g} >= AUTO_RTOL {AUTO_RTOL:g}, bare is cheaper"
    return True, f"auto: {name} has kinks and rtol {config.rtol:g} < AUTO_RTOL {AUTO_RTOL:g}"


def wants_kinks(config: Any, model: Any) -> bool:
    """Whether ``solve_flow`` uses the kink-aware mode for this config and model."""
    return kink_decision(config, model)[0]
