"""Which mode ``solve_flow`` runs (bare or kink-aware) and why, and the switch log type.

``auto`` mode: tracks kinks when the model implements the protocol and rtol < ``AUTO_RTOL`` =
2e-4, from benchmarks/bench_kinks_switch.py (two-layer net, n=100, d=50, h=20, ~1100
switches, 4 seeds, CPU) with merged switches: the kink-aware solve reaches error 1.6e-4 at
rtol 1e-4 (918 gradient evaluations) and 4.9e-5 at rtol 3e-5 (1,355), the bare solve needs
rtol 1e-6 (2,452) for 1.6e-4 and rtol 3e-7 (4,577) for 4.5e-5; above ~3e-4 the bare solve is
cheaper (rtol 1e-5: error 3.0e-4 in 642 evaluations; kink-aware rtol 3e-4: 4.2e-4 in 954).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Bool, Float, Int

from ..models import AbstractKinkModel

AUTO_RTOL = 2e-4


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
