"""Figures of the Du et al. filter-learning demo (matplotlib imported inside functions only)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..._plotting import plottable, pyplot, save


def du_figure(
    curves, rows, path: Path, *, learned: float | None = None, t_max: float | None = None
) -> Path:
    """Left: |w(t) - w*| against flow time for each run. Right: time to learn per setting.

    Args:
        curves: list of (label, ts, err) with ts on the mean-loss clock (GD: t = sum eta).
        rows: list of (group, name, t_learn_median, t_learn_per_seed) from the demo.
        learned: the error level that defines t_learn (drawn as a labelled dashed line).
        t_max: right end of the time axis (default: the longest curve).
    """
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    for label, ts, err in curves:
        ts, err = plottable(ts, err, log_time=False, log_values=True)
        ax1.plot(ts, err, label=label, lw=1.4)
    if learned is not None:
        ax1.axhline(learned, ls="--", color="gray", lw=0.8,
                    label=f"learned: |w - w*| = {learned:.2g} (defines t_learn)")
    ax1.set_yscale("log")
    if t_max is not None:
        ax1.set_xlim(0, t_max)
    ax1.set_xlabel("flow time t (mean-loss clock; GD: sum of steps)")
    ax1.set_ylabel("|w - w*|")
    ax1.set_title("filter error under GF and GD")
    ax1.legend(fontsize=7, loc="lower left")  # the lower left is empty: errors fall later

    names = [f"{g}: {n}" for g, n, _, _ in rows]
    vals = [t if not math.isnan(t) else 0.0 for _, _, t, _ in rows]
    colors = {"overlap": "tab:blue", "input law": "tab:green", "closeness": "tab:orange"}
    y = np.arange(len(rows))
    ax2.barh(y, vals, color=[colors.get(g, "gray") for g, _, _, _ in rows])
    for i, (_, _, t, each) in enumerate(rows):
        pts = [x for x in each if not math.isnan(x)]
        ax2.plot(pts, [i] * len(pts), "k.", ms=4)
        if math.isnan(t):
            ax2.text(0, i, " never", va="center", fontsize=7)
    ax2.set_yticks(y, names, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("time to learn (flow time, median; dots = seeds)")
    ax2.set_title("time to learn vs overlap, input law, patch closeness")
    return save(fig, path)


def _groups(table) -> tuple[list[str], list[int], dict]:
    """{(law, stride): t_learn per seed}, laws in first-seen order, strides ascending."""
    cols = table.to_pydict()
    n = table.num_rows
    laws_raw = cols.get("dist", ["gaussian"] * n)
    smooth = cols.get("smoothness")
    close = cols.get("closeness")
    groups: dict[tuple[str, int], list[float]] = {}
    laws: list[str] = []
    for i in range(n):
        law = str(laws_raw[i])
        if smooth is not None and law == "mixture":
            law += f" s={smooth[i]:g}"
        if close is not None and close[i]:
            law += f" rho={close[i]:g}"
        if law not in laws:
            laws.append(law)
        t = cols["t_learn"][i]
        groups.setdefault((law, int(cols["stride"][i])), []).append(
            math.nan if t is None else float(t)
        )
    strides = sorted({s for _, s in groups})
    return laws, strides, groups


def _median_never_inf(vals) -> float:
    """Median with 'never' (NaN) counted as +inf; NaN when the median itself is 'never'."""
    m = float(np.median(np.where(np.isnan(vals), np.inf, vals)))
    return m if math.isfinite(m) else math.nan


def time_to_learn_summary(table, learned: float) -> list[str]:
    """One line per (input law, stride): median time to learn and runs never learned."""
    if not table.num_rows:
        return []
    laws, strides, groups = _groups(table)
    lines = [f"time to learn |w - w*| <= {learned:g}|w*| (median over seeds, mean-loss clock):"]
    for law in laws:
        for s in strides:
            vals = np.asarray(groups.get((law, s), []), float)
            if not vals.size:
                continue
            m = _median_never_inf(vals)
            med = "never" if math.isnan(m) else f"{m:.2f}"
            lines.append(f"  {law:<20} stride {s}: t_learn = {med:>8}  "
                         f"({int(np.isnan(vals).sum())} of {vals.size} never)")
    return lines


def time_to_learn_figure(table, path: Path, *, learned: float | None = None) -> Path:
    """Time to learn against the stride (overlap = size - stride), one line per input law:
    median over seeds (never learned counted as +inf), each seed a dot, the runs never
    learned counted in a label ("2/8 never")."""
    plt = pyplot()
    laws, strides, groups = _groups(table)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    width = 0.6 / max(len(laws), 1)
    for j, law in enumerate(laws):
        off = (j - (len(laws) - 1) / 2) * width
        xs, meds = [], []
        for s in strides:
            vals = np.asarray(groups.get((law, s), []), float)
            if not vals.size:
                continue
            fin = vals[np.isfinite(vals)]
            ax.plot([s + off] * fin.size, fin, ".", ms=4, alpha=0.5, color=f"C{j}")
            xs.append(s + off)
            meds.append(_median_never_inf(vals))
            never = int(np.isnan(vals).sum())
            if never:  # not learned by t1: no dot; counted (and the median counts them +inf)
                top = float(np.max(fin)) if fin.size else 1.0
                ax.annotate(f"{never}/{vals.size} never", (s + off, top), fontsize=7,
                            color=f"C{j}", textcoords="offset points", xytext=(0, 6 + 10 * j),
                            ha="center")
        ax.plot(xs, meds, "o-", color=f"C{j}", label=f"{law} (median)")
    ax.set_xticks(strides, [f"{s}" for s in strides])
    ax.set_xlim(min(strides) - 0.6, max(strides) + 0.6)
    ax.set_xlabel("stride (filter size minus stride = overlap; smaller = more overlap)")
    ax.set_ylabel("time to learn (flow time, mean-loss clock)")
    level = f"{learned:g} " if learned is not None else "level "
    ax.set_title(f"time until |w - w*| <= {level}|w*| (dots: seeds)")
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 1.5)  # room for the "never" labels
    ax.legend(fontsize=8)
    return save(fig, path)
