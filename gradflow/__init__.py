"""gradflow: exact gradient flow of neural networks from small initialisation.

Public API (implementation files are private). Subpackages: ``gradflow.models``,
``gradflow.data``, ``gradflow.metrics`` (imported here), ``gradflow.sweep`` (imports pyarrow:
``import gradflow.sweep``), and the papers (``gradflow.papers.min_mallada_vidal``, ``.yu``,
``.zhou``, ``.du``, ``.nguyen_hein``).

Examples:
    >>> import gradflow as gf
    >>> model = gf.models.TwoLayerReLU.balanced(d=2, h=50, eps=1e-6, key=jax.random.key(0))
    >>> traj = gf.solve_flow(model, data, t1=42.0, stop=gf.aligned(1e-2))
"""

import importlib

from . import data as data, losses as losses, metrics as metrics, models as models
from ._version import __version__ as __version__
from .data import Dataset as Dataset
from .flow import (
    AbstractStop as AbstractStop,
    FlowConfig as FlowConfig,
    LossBelow as LossBelow,
    Status as Status,
    Stop as Stop,
    SwitchLog as SwitchLog,
    Trajectory as Trajectory,
    gd as gd,
    load_trajectory as load_trajectory,
    log_times as log_times,
    loss_below as loss_below,
    solve_flow as solve_flow,
    supports_kinks as supports_kinks,
)
from .losses import empirical_loss as empirical_loss
from .metrics import Aligned as Aligned, aligned as aligned

__all__ = [
    "AbstractStop",
    "Aligned",
    "Dataset",
    "FlowConfig",
    "LossBelow",
    "Status",
    "Stop",
    "SwitchLog",
    "Trajectory",
    "aligned",
    "data",
    "empirical_loss",
    "losses",
    "gd",
    "load_trajectory",
    "log_times",
    "loss_below",
    "metrics",
    "models",
    "solve_flow",
    "supports_kinks",
]


def __getattr__(name: str):
    # gradflow.sweep imports pyarrow: loaded on first use so `import gradflow` stays light.
    if name == "sweep":
        return importlib.import_module(".sweep", __name__)
    raise AttributeError(f"module 'gradflow' has no attribute {name!r}")

