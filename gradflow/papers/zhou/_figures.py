"""Figures of Zhou et al.'s kernel-condensation demo.

matplotlib is imported inside each function, never at module import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._plotting import plottable, pyplot, save
from ._metrics import kernel_cosines, order_by_projection


def cosine_strip(ws, ts, direction, path: Path, *, title: str = "") -> Path:
    """Zhou et al.: pairwise |cos| heatmaps of the kernels at chosen times (a strip).

    Args:
        ws: (S, K, p) kernels at S chosen times; ts: (S,) those times.
        direction: (p,) predicted direction; kernels are ordered by their projection on it
            at the LAST time, and kept in that order in every panel (so the block structure
            appearing is the same kernels grouping).
    """
    plt = pyplot()
    ws = np.asarray(ws)
    order = np.asarray(order_by_projection(ws[-1], direction))
    fig, axes = plt.subplots(1, len(ws), figsize=(2.6 * len(ws) + 0.8, 2.8))
    axes = np.atleast_1d(axes)
    im = None
    for ax, w, t in zip(axes, ws, np.asarray(ts), strict=True):
        c = np.asarray(kernel_cosines(w[order]))
        im = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"t = {t:.3g}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="cos(w_k, w_l)")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def _readable_log_ticks(ax) -> None:
    """Label a log time axis at 1, 2, 5 x 10^k (short spans) or 10^k (long spans) only, never
    at every minor tick (matplotlib's default on a span under a decade overlaps)."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if np.log10(hi / lo) < 2.5 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def cos_to_prediction(curves, path: Path, *, title: str = "", clock: str = "mean") -> Path:
    """Mean |cos(w_k, u_1)| over kernels vs flow time, one curve per (label, ts, mean_abs_cos).

    An optional 4th element of a curve is a time to mark (e.g. t_early) with a dotted line.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for curve in curves:
        label, ts, vals = curve[:3]
        ts, vals = plottable(ts, vals)
        (line,) = ax.plot(ts, vals, label=label)
        if len(curve) > 3 and curve[3] is not None:
            ax.axvline(curve[3], color=line.get_color(), ls=":", lw=1)
    ax.set_xscale("log")
    _readable_log_ticks(ax)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"flow time t ({clock}-loss clock)")
    ax.set_ylabel("mean_k |cos(w_k, u_1)|")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return save(fig, path)
