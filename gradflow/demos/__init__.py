"""Short runnable versions of each paper's experiment, used by ``gradflow demo --paper NAME``.

Each module here exposes ``run(out: pathlib.Path) -> DemoResult``; it must finish in well
under a minute on 2 CPU cores, print nothing itself, and write its figures under ``out``.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

DEMOS: dict[str, str] = {
    "min": "gradflow.demos.min_toy",  # Min et al. two-point toy + mu-separated (the default)
    "digits": "gradflow.demos.digits",  # Min et al. on real digits (sec. 1b)
    "yu": "gradflow.demos.yu",  # Yu et al. key-pattern CNN
    "zhou": "gradflow.demos.zhou",  # Zhou et al. kernel condensation
    "du": "gradflow.demos.du",  # Du et al. conv filter teacher-student
    "nguyen-hein": "gradflow.demos.nguyen_hein",  # wide CNN feature rank
}


@dataclasses.dataclass
class DemoResult:
    """What a demo reports: a printable table/summary, the figures written, and whether
    every solve reached its end time (``ok``)."""

    text: str
    figures: list[Path]
    ok: bool = True


def run_demo(name: str, out: Path, **kwargs) -> DemoResult:
    """Import and run one demo by name (raises ValueError for an unknown or missing one)."""
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose one of {sorted(DEMOS)}")
    try:
        module = importlib.import_module(DEMOS[name])
    except ModuleNotFoundError as e:
        raise ValueError(f"demo {name!r} is not available in this version ({e})") from None
    out.mkdir(parents=True, exist_ok=True)
    return module.run(out, **kwargs)
