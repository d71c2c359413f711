"""The gradient-flow engine: solve_flow, FlowConfig, Trajectory, the GD baseline, events."""

from .config import FlowConfig as FlowConfig
from .events import Stop as Stop, aligned as aligned, loss_below as loss_below
from .gd import gd as gd
from .solve import log_times as log_times, solve_flow as solve_flow
from .trajectory import Status as Status, Trajectory as Trajectory
