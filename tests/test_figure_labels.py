"""Figures say what they show: the sweep plot's title names the grid and eps, and it draws no
fitted line through a single grid point."""

import numpy as np

from gradflow.papers.min_mallada_vidal import plot


def _columns(ns, mus):
    ns, mus = np.repeat(ns, 3).astype(float), np.repeat(mus, 3).astype(float)
    t = 5.0 + 0.1 * np.arange(ns.size)
    return {"n": ns, "mu": mus, "t_align_mean": t, "t_cone_mean": 0.5 * t, "bound_t1_mean": 1e3 * t,
            "family": np.array(["cone"] * ns.size)}


def _labels(fig):
    return [line.get_label() for ax in fig.axes for line in ax.get_lines()]


def test_sweep_plot_title_names_grid_and_eps():
    fig = plot(_columns([10, 30, 30], [0.3, 0.3, 0.7]), eps=1e-6)
    title = fig.axes[0].get_title()
    assert "n in {10, 30}" in title and "mu in {0.3, 0.7}" in title and "eps = 1e-06" in title
    assert any(label.startswith("fit t =") for label in _labels(fig))


def test_sweep_plot_fits_no_line_through_one_grid_point():
    fig = plot(_columns([10], [0.3]))
    labels = _labels(fig)
    assert not any(label.startswith(("fit t =", "power law")) for label in labels), labels
    assert "eps" not in fig.axes[0].get_title()  # unknown eps is not invented
