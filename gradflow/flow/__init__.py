"""The gradient-flow engine: solve_flow, FlowConfig, Trajectory, the GD baseline, events."""

from .config import FlowConfig as FlowConfig
from .events import (
    AbstractStop as AbstractStop,
    LossBelow as LossBelow,
    Stop as Stop,
    aligned as aligned,
    loss_below as loss_below,
)
from .gd import gd as gd
from .kinks import SwitchLog as SwitchLog, supports_kinks as supports_kinks
from .solve import log_times as log_times, solve_flow as solve_flow
from .trajectory import Status as Status, Trajectory as Trajectory
