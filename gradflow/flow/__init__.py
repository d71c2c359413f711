"""The gradient-flow engine: solve_flow, FlowConfig, Trajectory, the GD baseline, stops.

One engine: the bare solve (diffrax straight through kinks), the kink-aware mode and the GD
baseline share the step-size controller and atol rule (:class:`FlowConfig`), the status
mapping, stats and the one Trajectory builder.
"""

from ._config import FlowConfig as FlowConfig
from ._gd import gd as gd
from ._kinkmode import (
    AUTO_RTOL as AUTO_RTOL,
    SwitchLog as SwitchLog,
    kink_decision as kink_decision,
    supports_kinks as supports_kinks,
    wants_kinks as wants_kinks,
)
from ._load import load_trajectory as load_trajectory
from ._problem import trainable_filter as trainable_filter
from ._solve import log_times as log_times, solve_flow as solve_flow
from ._stops import (
    AbstractStop as AbstractStop,
    LossBelow as LossBelow,
    Stop as Stop,
    loss_below as loss_below,
)
from ._trajectory import Status as Status, Trajectory as Trajectory

__all__ = [
    "AUTO_RTOL",
    "AbstractStop",
    "FlowConfig",
    "LossBelow",
    "Status",
    "Stop",
    "SwitchLog",
    "Trajectory",
    "gd",
    "kink_decision",
    "load_trajectory",
    "log_times",
    "loss_below",
    "solve_flow",
    "supports_kinks",
    "trainable_filter",
    "wants_kinks",
]
