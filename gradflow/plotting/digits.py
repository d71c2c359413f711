"""Figures on real digits: Min et al. sec. 1b (alignment, loss, stable rank, neuron images) and
Nguyen & Hein (feature rank sweep, wide vs narrow training). matplotlib is imported inside
each function only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._figure import pyplot, save


def _pos(ts, *ys):
    ts = np.asarray(ts, float)
    keep = np.isfinite(ts) & (ts > 0)
    return (ts[keep],) + tuple(np.asarray(y)[keep] for y in ys)


def alignment_figure(ts, cos, loss, srank, path: Path, *, delta: float, title: str = "") -> Path:
    """Three panels against flow time (log axis): cos(w_j, x_sign(v_j)) of every neuron, the
    loss, and the stable rank |W|_F^2 / |W|_2^2.

    Args:
        ts: (T,) save times (mean-loss clock). cos: (T, h). loss, srank: (T,).
        delta: the alignment tolerance, drawn at 1 - delta.
    """
    plt = pyplot()
    t, c, lo, sr = _pos(ts, cos, loss, srank)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(t, c, lw=0.6, alpha=0.6)
    axes[0].axhline(1 - delta, ls="--", color="k", lw=0.8)
    axes[0].set_ylabel("cos(w_j, x_sign(v_j))")
    axes[0].set_title("alignment of each neuron")
    axes[1].plot(t, lo)
    axes[1].set_ylabel("mean exp loss")
    axes[1].set_title("training loss")
    axes[2].plot(t, sr)
    axes[2].set_ylabel("stable rank of W")
    axes[2].set_yscale("log")
    axes[2].set_title("stable rank |W|_F^2 / |W|_2^2")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("flow time t (mean-loss clock)")
    return save(fig, path, title=title)


def neuron_images(w, v, path: Path, *, side: int | None = None, title: str = "") -> Path:
    """First-layer neurons w_j as side x side images (blue frame v_j > 0, red v_j < 0), with
    the largest ones first (|w_j| shown above each)."""
    plt = pyplot()
    w, v = np.asarray(w), np.asarray(v)
    side = int(round(np.sqrt(w.shape[1]))) if side is None else side
    order = np.argsort(-np.linalg.norm(w, axis=1))
    cols = 10
    rows = -(-len(order) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.25))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, j in zip(np.ravel(axes), order, strict=False):
        img = w[j].reshape(side, side)
        m = max(np.abs(img).max(), 1e-300)
        ax.imshow(img, cmap="RdBu_r", vmin=-m, vmax=m)
        ax.set_title(f"{np.linalg.norm(w[j]):.1e}", fontsize=6,
                     color="tab:blue" if v[j] > 0 else "tab:red")
    return save(fig, path, title=title, title_size=9)


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
    axb.semilogy(ns, [r["sigma_min"] for r in rows], "s:", color="tab:red", label="sigma_min")
    axb.set_ylabel("sigma_min(F_1)", color="tab:red")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.set_title(f"random weights, n_1 = {rows[0]['n_k']}")
    for label, ts, loss in curves:
        t, lo = _pos(ts, loss)
        ax2.loglog(t, lo, label=label, ls="-" if "GF" in label else ":")
    ax2.axhline(1e-3, color="gray", lw=0.8, ls="--")
    ax2.set_xlabel("flow time t (mean-loss clock; GD: eta * steps)")
    ax2.set_ylabel("training loss (square)")
    ax2.set_title("wide vs narrow layer")
    ax2.legend(fontsize=7)
    return save(fig, path)
