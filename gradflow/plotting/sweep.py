"""Figure of an alignment sweep: measured alignment time vs Min et al.'s log n / sqrt(mu).

matplotlib is imported inside the functions only (``import gradflow`` never imports it).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..sweep.fit import bound_variable, fit_constant, fit_power_law, fraction_under
from ..sweep.store import columns, load_results


def _cols(source) -> dict[str, np.ndarray]:
    if isinstance(source, str | os.PathLike):
        source = load_results(source)
    if isinstance(source, dict):
        return {k: np.asarray(v) for k, v in source.items()}
    return columns(source)


def summarize(source, clock: str = "mean") -> dict[str, Any]:
    """The numbers the figure shows: fits, fraction under the bound, per-point quantiles.

    ``source``: a sweep directory, a ``pyarrow.Table`` or a dict of columns with n, mu,
    t_align_<clock>, bound_t1_<clock> (and optionally family).
    """
    if clock not in ("mean", "sum"):
        raise ValueError(f"clock must be 'mean' or 'sum', got {clock!r}")
    c = _cols(source)
    t = c[f"t_align_{clock}"].astype(float)
    bound = c[f"bound_t1_{clock}"].astype(float)
    n, mu = c["n"].astype(float), c["mu"].astype(float)
    fam = c["family"].astype(str) if "family" in c else np.full(t.size, "-")
    points = []
    for key in sorted(set(zip(fam, n, mu, strict=True))):
        sel = (fam == key[0]) & (n == key[1]) & (mu == key[2])
        ts = t[sel][np.isfinite(t[sel])]
        q = np.quantile(ts, [0.1, 0.5, 0.9]) if ts.size else np.full(3, np.nan)
        points.append(
            {
                "family": key[0],
                "n": int(key[1]),
                "mu": float(key[2]),
                "x": float(bound_variable(key[1], key[2])),
                "q10": float(q[0]),
                "median": float(q[1]),
                "q90": float(q[2]),
                "bound_median": float(np.median(bound[sel])),
                "runs": int(sel.sum()),
                "finite": int(ts.size),
            }
        )
    out: dict[str, Any] = {
        "clock": clock,
        "runs": int(t.size),
        "finite": int(np.isfinite(t).sum()),
        "fraction_under_bound": fraction_under(t, bound),
        "ratio_median": float(np.nanmedian(t / bound)),
        "ratio_max": float(np.nanmax(t / bound)) if np.isfinite(t).any() else float("nan"),
        "const": fit_constant(t, n, mu),
        "bound_const": fit_constant(bound, n, mu),
        "points": points,
    }
    try:
        out["power"] = fit_power_law(t, n, mu)
    except ValueError:
        out["power"] = None
    return out


def plot(source, *, clock: str = "mean", path: str | os.PathLike | None = None):
    """Alignment time vs log n / sqrt(mu): per-seed points, median and 10-90% quantiles per
    grid point, the bound t1, the fitted c log n / sqrt(mu), the power law, and the fraction
    of runs under the bound (in the title). Returns the matplotlib Figure (saved if ``path``).

    >>> fig = plot("runs/a"); fig.savefig("a.png")
    """
    import matplotlib  # noqa: PLC0415

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    c = _cols(source)
    s = summarize(c, clock)
    t = c[f"t_align_{clock}"].astype(float)
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
    xs = np.linspace(px.min() * 0.8, px.max() * 1.05, 100)
    ax.plot(
        xs,
        s["const"].c * xs,
        "C2--",
        label=f"fit t = {s['const'].c:.3g} log n/sqrt(mu)  (R2 {s['const'].r2:.2f})",
    )
    if s["power"] is not None:
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
    ax.set_ylabel(f"alignment time t_align ({clock}-loss clock)")
    ax.set_title(
        f"{s['finite']}/{s['runs']} runs aligned; {100 * s['fraction_under_bound']:.1f}% under "
        f"the bound; median t/t1 = {s['ratio_median']:.2g}"
    )
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
