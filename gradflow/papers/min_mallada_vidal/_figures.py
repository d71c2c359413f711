"""Figures of Min, Mallada & Vidal: toy loss curves and neuron directions, the digits run
(alignment, loss, stable rank, neuron images) and an alignment sweep (the exact cone-entry
time, or the cos >= 1 - delta time, vs log n/sqrt(mu), against Theorem 1's t1).

matplotlib is imported inside the functions only (``import gradflow`` never imports it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..._plotting import plottable, pyplot, save
from ...sweep import columns, load_results, read_manifest
from ._fit import bootstrap_median, bound_variable, fit_bound_constant, fit_forms, fraction_under


def loss_and_directions(
    curves, toy_model, toy_x, path: Path, *, title: str = "", run: str = ""
) -> Path:
    """Left: loss vs flow time (log axis) for each named curve. Right: neuron directions.

    Args:
        curves: list of (label, ts, loss) with ts on the mean-loss clock. Curves are drawn
            with different line styles and widths (earlier curves wider), so two curves that
            coincide (theta = 0.001 and theta = 0) both stay visible.
        toy_model: a 2-D TwoLayerReLU (w: (h, 2), v: (h,)) at the final time.
        toy_x: (n, 2) inputs drawn as reference directions.
        run: which run the right panel shows (named in its title).
    """
    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = ["-", "--", ":", "-."]
    marks = ["", "s", "x", "^"]
    for k, (label, ts, loss) in enumerate(curves):
        ts, loss = plottable(ts, loss)
        # markers at staggered points, so coinciding curves stay distinguishable
        ax1.plot(ts, loss, label=label, ls=styles[k % 4], lw=max(2.6 - 0.6 * k, 1.0),
                 marker=marks[k % 4], ms=5, markevery=(0.025 * k, 0.075), mfc="none")
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
    ax2.plot([], [], color="tab:blue", label="w_j / |w_j| with v_j > 0")
    ax2.plot([], [], color="tab:red", label="w_j / |w_j| with v_j < 0")
    ax2.legend(fontsize=7, loc="lower left")
    which = f"run {run}" if run else "the run"
    ax2.set_title(f"{which}: directions of w_j at the end (width ~ log|w_j|)", fontsize=9)
    return save(fig, path, title=title)


def alignment_figure(ts, cos, loss, srank, path: Path, *, delta: float, title: str = "") -> Path:
    """Three panels against flow time (log axis): cos(w_j, x_sign(v_j)) of every neuron, the
    loss, and the stable rank |W|_F^2 / |W|_2^2.

    Args:
        ts: (T,) save times (mean-loss clock). cos: (T, h). loss, srank: (T,).
        delta: the alignment tolerance, drawn at 1 - delta.
    """
    plt = pyplot()
    t, c, lo, sr = plottable(ts, cos, loss, srank)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(t, c, lw=0.6, alpha=0.6)
    axes[0].axhline(1 - delta, ls="--", color="k", lw=0.8,
                    label=f"aligned: cos = 1 - delta = {1 - delta:g}")
    axes[0].legend(fontsize=7, loc="lower right")
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
    """First-layer neurons w_j as side x side images, the largest first. Each image is scaled
    to its own largest |pixel| (one diverging colour map, with a colourbar); the title above
    each gives the sign of v_j and |w_j| ("v+ 1.2e-01"), in black, so colour means one thing
    only: the sign of a pixel weight."""
    plt = pyplot()
    w, v = np.asarray(w), np.asarray(v)
    side = int(round(np.sqrt(w.shape[1]))) if side is None else side
    order = np.argsort(-np.linalg.norm(w, axis=1))
    cols = 10
    rows = -(-len(order) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1 + 1.0, rows * 1.25 + 0.3))
    for ax in np.ravel(axes):
        ax.axis("off")
    im = None
    for ax, j in zip(np.ravel(axes), order, strict=False):
        img = w[j].reshape(side, side)
        m = max(np.abs(img).max(), 1e-300)
        im = ax.imshow(img / m, cmap="PuOr_r", vmin=-1, vmax=1)
        ax.set_title(f"v{'+' if v[j] > 0 else '-'} {np.linalg.norm(w[j]):.1e}", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(np.ravel(axes)), shrink=0.6, pad=0.02,
                     label="w_ji / max_i |w_ji| (each neuron)")
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _cols(source, clock: str = "mean", time_col: str = "t_cone") -> dict[str, np.ndarray]:
    where = f"sweep directory {str(source)!r}" if isinstance(source, str | os.PathLike) else ""
    if isinstance(source, str | os.PathLike):
        source = load_results(source)
    cols = (
        {k: np.asarray(v) for k, v in source.items()}
        if isinstance(source, dict)
        else columns(source)
    )
    need = ["n", "mu", f"{time_col}_{clock}", f"bound_t1_{clock}"]
    missing = [k for k in need if k not in cols]
    if missing:
        if not cols or not any(len(v) for v in cols.values()):
            raise ValueError(f"{where or 'the results'} holds no finished runs yet (no chunks)")
        raise ValueError(f"source {where or 'table'} lacks the columns {missing}")
    if not len(cols["n"]):
        raise ValueError(f"source {where or 'table'} holds no runs")
    return cols


_TIMES = {"cone": "t_cone", "cos": "t_align"}
_TIME_LABEL = {
    "cone": "cone-entry time t_cone (exact, switch log)",
    "cos": "cos >= 1 - delta time t_align (exact, event)",
}
OUTSIDE_HYPOTHESIS = (
    "every run violates eq. (28) (no float eps satisfies it): t1 is tested as a conjecture"
)


def summarize(
    source, clock: str = "mean", time: str = "cone", *, boot: int = 1000
) -> dict[str, Any]:
    """The numbers the figure shows: fits, fraction under the bound, per-point quantiles.

    ``time``: "cone" (default; the exact cone-entry time t_cone, the only time Theorem 1
    bounds by t1) or "cos" (the exact cos >= 1 - delta time t_align; no theorem bounds it,
    so its "fraction under" and "ratio" are descriptive only). ``source``: a sweep
    directory, a ``pyarrow.Table`` or a dict of columns with n, mu, t_<time>_<clock>,
    bound_t1_<clock> (and optionally family, eps_ok, log_eps_max).

    Keys: runs, finite, fraction_under_bound (finite t <= t1), ratio_median / ratio_max
    (t / t1), const (the headline-form :class:`ConstantFit`), fits (:func:`fit_forms`: both
    forms and the free power law with bootstrap CIs), power (the power law), eps_ok_runs,
    log_eps_max_max, note, points (per family/n/mu: quantiles, bootstrap CI of the median).
    """
    if clock not in ("mean", "sum"):
        raise ValueError(f"clock must be 'mean' or 'sum', got {clock!r}")
    if time not in _TIMES:
        raise ValueError(f"time must be one of {sorted(_TIMES)}, got {time!r}")
    c = _cols(source, clock, _TIMES[time])
    t = c[f"{_TIMES[time]}_{clock}"].astype(float)
    bound = c[f"bound_t1_{clock}"].astype(float)
    n, mu = c["n"].astype(float), c["mu"].astype(float)
    fam = c["family"].astype(str) if "family" in c else np.full(t.size, "-")
    points = []
    for key in sorted(set(zip(fam, n, mu, strict=True))):
        sel = (fam == key[0]) & (n == key[1]) & (mu == key[2])
        ts = t[sel][np.isfinite(t[sel])]
        q = np.quantile(ts, [0.1, 0.5, 0.9]) if ts.size else np.full(3, np.nan)
        _, lo, hi = bootstrap_median(ts, boot=boot)
        points.append(
            {
                "family": key[0],
                "n": int(key[1]),
                "mu": float(key[2]),
                "x": float(bound_variable(key[1], key[2])),
                "q10": float(q[0]),
                "median": float(q[1]),
                "median_lo": lo,
                "median_hi": hi,
                "q90": float(q[2]),
                "bound_median": float(np.median(bound[sel])),
                "ratio_median": float(np.nanmedian(t[sel] / bound[sel])) if ts.size else np.nan,
                "fraction_under_bound": fraction_under(t[sel], bound[sel]),
                "runs": int(sel.sum()),
                "finite": int(ts.size),
            }
        )
    finite = np.isfinite(t)
    out: dict[str, Any] = {
        "clock": clock,
        "time": time,
        "runs": int(t.size),
        "finite": int(finite.sum()),
        "fraction_under_bound": fraction_under(t, bound),
        "ratio_median": float(np.nanmedian(t / bound)) if finite.any() else float("nan"),
        "ratio_max": float(np.nanmax(t / bound)) if finite.any() else float("nan"),
        "const": fit_bound_constant(t, n, mu) if finite.any() else None,
        "bound_const": fit_bound_constant(bound, n, mu),
        "eps_ok_runs": int(np.sum(c["eps_ok"] > 0)) if "eps_ok" in c else None,
        "log_eps_max_max": float(np.max(c["log_eps_max"])) if "log_eps_max" in c else None,
        "note": OUTSIDE_HYPOTHESIS,
        "points": points,
    }
    try:
        out["fits"] = fit_forms(t, n, mu, boot=boot)
    except ValueError:
        out["fits"] = None
    out["power"] = out["fits"]["power"] if out["fits"] is not None else None
    return out


def _values(a) -> str:
    vals = sorted(set(np.asarray(a).tolist()))
    return ", ".join(f"{x:g}" for x in vals)


def plot(
    source,
    *,
    clock: str = "mean",
    time: str = "cone",
    path: str | os.PathLike | None = None,
    eps: float | None = None,
):
    """Measured time (default: the exact cone-entry time) vs log n / sqrt(mu): per-seed
    points, median and 10-90% quantiles per grid point, the bound t1, the fitted
    c log n / sqrt(mu) and the power law (only when the grid has more than one point), and
    the fraction of runs under t1. The title names the grid (n, mu) and the init scale eps
    (read from a sweep directory's manifest, or ``eps=``) and reminds that every run is
    outside eq. (28). Returns the matplotlib Figure (saved if ``path``).

    >>> fig = plot("runs/a"); fig.savefig("a.png")
    """
    if eps is None and isinstance(source, str | os.PathLike):
        eps = read_manifest(source).get("config", {}).get("eps")
    import matplotlib  # noqa: PLC0415

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    c = _cols(source, clock, _TIMES.get(time, "t_cone"))
    s = summarize(c, clock, time, boot=200)
    t = c[f"{_TIMES[time]}_{clock}"].astype(float)
    n, mu = c["n"].astype(float), c["mu"].astype(float)
    fam = c["family"].astype(str) if "family" in c else np.full(t.size, "-")
    x = bound_variable(n, mu)
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    rng = np.random.default_rng(0)
    markers = {f: m for f, m in zip(sorted(set(fam)), "os^Dv", strict=False)}
    for f in sorted(set(fam)):
        sel = fam == f
        jitter = 1.0 + 0.02 * rng.standard_normal(sel.sum())
        ax.scatter(
            x[sel] * jitter,
            t[sel],
            s=6,
            alpha=0.3,
            marker=markers[f],
            label=f"runs ({f})" if f != "-" else "runs",
        )
    pts = s["points"]
    px = np.array([p["x"] for p in pts])
    med = np.array([p["median"] for p in pts])
    lo, hi = np.array([p["q10"] for p in pts]), np.array([p["q90"] for p in pts])
    ax.errorbar(
        px,
        med,
        yerr=[med - lo, hi - med],
        fmt="k_",
        ms=12,
        capsize=3,
        lw=1,
        label="median, 10-90% quantiles",
    )
    bx = np.array([p["bound_median"] for p in pts])
    ax.scatter(px, bx, marker="x", color="C3", label="bound t1 (Theorem 1), median")
    several = np.unique(px).size > 1  # a fit through one grid point says nothing
    xs = np.linspace(px.min() * 0.8, px.max() * 1.05, 100)
    if s["const"] is not None and several:
        ax.plot(
            xs,
            s["const"].c * xs,
            "C2--",
            label=f"fit t = {s['const'].c:.3g} log n/sqrt(mu)  (R2 {s['const'].r2:.2f})",
        )
    if s["power"] is not None and several:
        pw = s["power"]
        order = np.argsort(px)
        pn = np.array([p["n"] for p in pts])[order]
        pm = np.array([p["mu"] for p in pts])[order]
        ax.plot(
            px[order],
            pw.predict(pn, pm),
            "C4:",
            marker=".",
            label=f"power law {pw.A:.3g} n^{pw.a:.3f} mu^{pw.b:.3f}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("log n / sqrt(mu)")
    ax.set_ylabel(f"{_TIME_LABEL[time]} ({clock}-loss clock)", fontsize=8)
    eps_text = f", eps = {eps:g}" if eps is not None else ""
    ax.set_title(
        f"n in {{{_values(n)}}}, mu in {{{_values(mu)}}}{eps_text}\n"
        f"{s['finite']}/{s['runs']} runs reached; {100 * s['fraction_under_bound']:.1f}% under "
        f"t1; median t/t1 = {s['ratio_median']:.2g} (all runs outside eq. (28)'s "
        f"hypothesis)",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
