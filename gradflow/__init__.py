"""gradflow: exact gradient flow of neural networks from small initialisation.

Public API (everything else is private):

>>> import gradflow as gf
>>> model = gf.models.TwoLayerReLU.balanced(d=2, h=50, eps=1e-6, key=jax.random.key(0))
>>> traj = gf.solve_flow(model, gf.data.two_point(0.1), t1=42.0)
"""

from . import data as data, metrics as metrics, models as models, theory as theory
from .data import Dataset as Dataset
from .flow import (
    FlowConfig as FlowConfig,
    Status as Status,
    Stop as Stop,
    Trajectory as Trajectory,
    aligned as aligned,
    gd as gd,
    log_times as log_times,
    loss_below as loss_below,
    solve_flow as solve_flow,
)
from .losses import empirical_loss as empirical_loss

__version__ = "0.1.0"


def __getattr__(name: str):
    # gradflow.sweep imports pyarrow: load it on first use so `import gradflow` stays light.
    if name == "sweep":
        import importlib

        return importlib.import_module(".sweep", __name__)
    raise AttributeError(f"module 'gradflow' has no attribute {name!r}")
