"""Figures of the CNN demos (Yu et al. key patterns, Zhou et al. condensation).

matplotlib is imported inside each function, never at module import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._figure import pyplot, save

_COLORS = {0: "tab:red", 1: "tab:blue"}


def _positive_times(ts) -> tuple[np.ndarray, np.ndarray]:
    ts = np.asarray(ts)
    keep = np.isfinite(ts) & (ts > 0)
    return ts, keep


def filter_curves(
    ts, norms, cos, accuracy, ratio, path: Path, *, title: str = "", clock: str = "mean"
) -> Path:
    """Yu et al.: filter norms, cosine to the assigned pattern, accuracy and norm ratio.

    Args:
        ts: (T,) saved times on the ``clock`` of the loss. norms: (T, K) filter norms.
        cos: (T, K, 2 + B) cosines to p_+, p_-, background (a FilterSummary's ``cos``).
        accuracy: (T,). ratio: (T,) key/background norm ratio.
    Filters are coloured by their final assignment: red p_+, blue p_-, grey background (or
    dead: no positive cosine to any pattern; its curve then shows the cosine to p_+).
    """
    plt = pyplot()
    ts, keep = _positive_times(ts)
    norms, cos = np.asarray(norms), np.asarray(cos)
    last = cos[keep][-1]
    final = np.where(np.max(last, axis=-1) > 0, np.argmax(last, axis=-1), -1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for k in range(norms.shape[1]):
        c = _COLORS.get(int(final[k]), "0.6")
        axes[0].plot(ts[keep], norms[keep, k], color=c, lw=1.2)
        axes[1].plot(ts[keep], cos[keep, k, max(int(final[k]), 0)], color=c, lw=1.2)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("filter norm |w_k|")
    axes[1].set_ylabel("cos(w_k, its pattern)")
    axes[1].set_ylim(-1.05, 1.05)
    axes[2].plot(ts[keep], np.asarray(accuracy)[keep], color="k", label="train accuracy")
    axes[2].set_ylabel("train accuracy")
    axes[2].set_ylim(0, 1.05)
    ax_r = axes[2].twinx()
    ax_r.plot(ts[keep], np.asarray(ratio)[keep], color="tab:green", label="key/bg norm ratio")
    ax_r.set_yscale("log")
    ax_r.set_ylabel("key / largest background filter norm", color="tab:green")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel(f"flow time t ({clock}-loss clock)")
    axes[0].set_title("red: p+ filters, blue: p- filters, grey: background/dead", fontsize=10)
    return save(fig, path, title=title)


def cosine_strip(ws, ts, direction, path: Path, *, title: str = "") -> Path:
    """Zhou et al.: pairwise |cos| heatmaps of the kernels at chosen times (a strip).

    Args:
        ws: (S, K, p) kernels at S chosen times; ts: (S,) those times.
        direction: (p,) predicted direction; kernels are ordered by their projection on it
            at the LAST time, and kept in that order in every panel (so the block structure
            appearing is the same kernels grouping).
    """
    from ..metrics.condensation import kernel_cosines, order_by_projection

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


def cos_to_prediction(curves, path: Path, *, title: str = "", clock: str = "mean") -> Path:
    """Mean |cos(w_k, u_1)| over kernels vs flow time, one curve per (label, ts, mean_abs_cos).

    An optional 4th element of a curve is a time to mark (e.g. t_early) with a dotted line.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for curve in curves:
        label, ts, vals = curve[:3]
        ts, keep = _positive_times(ts)
        (line,) = ax.plot(ts[keep], np.asarray(vals)[keep], label=label)
        if len(curve) > 3 and curve[3] is not None:
            ax.axvline(curve[3], color=line.get_color(), ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"flow time t ({clock}-loss clock)")
    ax.set_ylabel("mean_k |cos(w_k, u_1)|")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return save(fig, path)
