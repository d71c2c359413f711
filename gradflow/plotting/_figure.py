"""The two steps every gradflow figure shares: a lazily imported pyplot, and saving."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, imported only when a plot is drawn
    (``import gradflow`` never imports matplotlib)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, *, title: str = "", title_size: float | None = None) -> Path:
    """Set the suptitle (when given), lay out, write ``path`` at 110 dpi, close; return the path."""
    if title:
        fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
