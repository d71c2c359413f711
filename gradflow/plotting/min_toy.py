"""Figures of the Min et al. demo: loss curves on a log time axis, neuron directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._figure import pyplot, save


def loss_and_directions(curves, toy_model, toy_x, path: Path, *, title: str = "") -> Path:
    """Left: loss vs flow time (log axis) for each named curve. Right: neuron directions.

    Args:
        curves: list of (label, ts, loss) with ts on the mean-loss clock.
        toy_model: a 2-D TwoLayerReLU (w: (h, 2), v: (h,)) at the final time.
        toy_x: (n, 2) inputs drawn as reference directions.
    """
    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, ts, loss in curves:
        ts, loss = np.asarray(ts), np.asarray(loss)
        keep = np.isfinite(ts) & (ts > 0)
        ax1.plot(ts[keep], loss[keep], label=label)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("flow time t (mean-loss clock)")
    ax1.set_ylabel("training loss")
    ax1.set_title("loss under exact gradient flow")
    ax1.legend(fontsize=8)

    w = np.asarray(toy_model.w)
    v = np.asarray(toy_model.v)
    norms = np.linalg.norm(w, axis=1)
    # unit directions; line width grows with log |w_j| relative to the largest neuron
    rel = np.log10(np.maximum(norms, 1e-300) / max(norms.max(), 1e-300))
    widths = 0.4 + 2.0 * np.clip(1 + rel / 6, 0, 1)
    for j in range(w.shape[0]):
        u = w[j] / max(norms[j], 1e-300)
        ax2.plot([0, u[0]], [0, u[1]], color="tab:blue" if v[j] > 0 else "tab:red",
                 lw=widths[j], alpha=0.7)
    for i, x in enumerate(np.asarray(toy_x)):
        u = x / np.linalg.norm(x)
        ax2.annotate("", xy=u * 1.1, xytext=(0, 0),
                     arrowprops={"arrowstyle": "->", "color": "k", "lw": 2})
        ax2.text(*(u * 1.18), f"x{i + 1}")
    ax2.set_aspect("equal")
    ax2.set_xlim(-1.3, 1.3)
    ax2.set_ylim(-1.3, 1.3)
    ax2.set_title("directions of w_j at t1 (width ~ log|w_j|; blue v>0, red v<0)", fontsize=9)
    return save(fig, path, title=title)
