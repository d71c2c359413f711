"""Figures of Yu et al.'s key-pattern CNN demo.

matplotlib is imported inside each function, never at module import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._plotting import plottable, pyplot, save

_COLORS = {0: "tab:red", 1: "tab:blue"}


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
    ts, norms, cos, accuracy, ratio = plottable(ts, norms, cos, accuracy, ratio)
    last = cos[-1]
    final = np.where(np.max(last, axis=-1) > 0, np.argmax(last, axis=-1), -1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for k in range(norms.shape[1]):
        c = _COLORS.get(int(final[k]), "0.6")
        axes[0].plot(ts, norms[:, k], color=c, lw=1.2)
        axes[1].plot(ts, cos[:, k, max(int(final[k]), 0)], color=c, lw=1.2)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("filter norm |w_k|")
    axes[1].set_ylabel("cos(w_k, its pattern)")
    axes[1].set_ylim(-1.05, 1.05)
    axes[2].plot(ts, accuracy, color="k", label="train accuracy")
    axes[2].set_ylabel("train accuracy")
    axes[2].set_ylim(0, 1.05)
    ax_r = axes[2].twinx()
    ax_r.plot(ts, ratio, color="tab:green", label="key/bg norm ratio")
    ax_r.set_yscale("log")
    ax_r.set_ylabel("key / largest background filter norm", color="tab:green")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel(f"flow time t ({clock}-loss clock)")
    axes[0].set_title("red: p+ filters, blue: p- filters, grey: background/dead", fontsize=10)
    return save(fig, path, title=title)
