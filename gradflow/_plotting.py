"""What every gradflow figure shares: a lazily imported pyplot, saving, the time filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, imported only when a plot is drawn
    (``import gradflow`` never imports matplotlib)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, *, title: str = "", title_size: float | None = None) -> Path:
    """Set the suptitle (when given), lay out, write ``path`` at 110 dpi, close; return the path."""
    if title:
        fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def plottable(ts, *ys, log_time: bool = True, log_values: bool = False) -> tuple[np.ndarray, ...]:
    """(ts, *ys) restricted to the points a (log-)plot can draw: the one time filter.

    Keeps save slots with a finite time (unused slots hold inf), and ``t > 0`` when
    ``log_time`` (a log time axis); with ``log_values`` also finite, positive ``ys``.

    >>> t, loss = plottable(traj.ts, traj.loss)
    """
    ts = np.asarray(ts, float)
    keep = np.isfinite(ts)
    if log_time:
        keep &= ts > 0
    arrays = tuple(np.asarray(y) for y in ys)
    if log_values:
        for y in arrays:
            keep &= np.isfinite(y) & (y > 0)
    return (ts[keep],) + tuple(y[keep] for y in arrays)
