"""Figures of Nguyen & Hein's wide-CNN demo: feature rank sweep, wide vs narrow training.

matplotlib is imported inside each function only.
"""

from __future__ import annotations

from pathlib import Path

from ..._plotting import plottable, pyplot, save


def wide_cnn_figure(rows, curves, path: Path) -> Path:
    """Left: rank F_1 and min(N, n_1) against N, sigma_min on a second axis.
    Right: training loss against flow time for each (label, ts, loss) curve."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ns = [r["N"] for r in rows]
    ax1.plot(ns, [r["rank"] for r in rows], "o-", label="numerical rank F_1")
    ax1.plot(ns, [r["full"] for r in rows], "k--", label="min(N, n_1)")
    ax1.set_xlabel("N (samples)")
    ax1.set_ylabel("rank")
    axb = ax1.twinx()
    axb.semilogy(ns, [r["sigma_min"] for r in rows], "s:", color="tab:red",
                 label="sigma_min(F_1) (right axis)")
    axb.set_ylabel("sigma_min(F_1)", color="tab:red")
    handles = ax1.get_legend_handles_labels()[0] + axb.get_legend_handles_labels()[0]
    # below the axes: inside, it would cover a point of one of the two curves
    ax1.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3,
               fontsize=8)
    ax1.set_title(f"random weights, n_1 = {rows[0]['n_k']}")
    for label, ts, loss in curves:
        t, lo = plottable(ts, loss)
        ax2.loglog(t, lo, label=label, ls="-" if "GF" in label else ":")
    ax2.axhline(1e-3, color="gray", lw=0.8, ls="--", label="loss = 1e-3 (reference)")
    ax2.set_xlabel("flow time t (mean-loss clock; GD: eta * steps)")
    ax2.set_ylabel("training loss (square)")
    ax2.set_title("wide vs narrow layer")
    ax2.legend(fontsize=7)
    return save(fig, path)
