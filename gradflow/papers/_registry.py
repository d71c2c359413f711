"""The demo registry: ONE table of short runnable versions of each paper's experiment.

``gradflow demo --paper NAME`` and its help text read :data:`DEMOS`. Each demo module
exposes ``run(out: pathlib.Path, **kw) -> DemoResult``; it prints nothing itself, announces
each stage with :func:`stage` (the CLI prints "stage i/N: ..." with the elapsed time; silent
elsewhere), and writes its figures under ``out``. Modules are named by their import path and
imported only when the demo runs. ``runtime`` is measured (see DemoSpec).
"""

from __future__ import annotations

import contextvars
import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path

_PROGRESS: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "gradflow_demo_progress", default=None
)


def stage(i: int, n: int, what: str) -> None:
    """A demo announces that its stage ``i`` of ``n`` begins (``what``: a few words).

    Passed to the ``progress`` callback of :func:`run_demo` as ``"stage i/n: what"``; a no-op
    when the demo runs without one (tests, notebooks)."""
    report = _PROGRESS.get()
    if report is not None:
        report(f"stage {i}/{n}: {what}")


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """One row of the registry: the module holding ``run``, a one-line description, and its
    measured runtime: ``gradflow demo --paper NAME`` (float64) on the 2-core development
    machine, 2026-12-01, as CPU time (user + sys, about the wall time on an idle machine,
    compilation included) and the wall time seen with the machine shared (load average
    ~11-20 on 2 cores)."""

    module: str
    description: str
    runtime: str


@dataclasses.dataclass
class DemoResult:
    """What a demo reports: a printable table/summary, the figures written, and whether
    every solve reached its end time (``ok``)."""

    text: str
    figures: list[Path]
    ok: bool = True


DEMOS: dict[str, DemoSpec] = {
    "min": DemoSpec(
        "gradflow.papers.min_mallada_vidal._demo",
        "Min et al.: two-point toy + mu-separated set (the default)",
        "62 s CPU; 3.7 min wall on a busy 2-core box",
    ),
    "digits": DemoSpec(
        "gradflow.papers.min_mallada_vidal._digits_demo",
        "Min et al. on real digits (sec. 1b): early alignment, then low rank",
        "40 s CPU; 2.8 min wall on a busy 2-core box",
    ),
    "yu": DemoSpec(
        "gradflow.papers.yu._demo",
        "Yu et al.: key-pattern CNN",
        "31 s CPU; 1.3 min wall on a busy 2-core box",
    ),
    "zhou": DemoSpec(
        "gradflow.papers.zhou._demo",
        "Zhou et al.: kernel condensation",
        "36 s CPU; 1.5 min wall on a busy 2-core box",
    ),
    "du": DemoSpec(
        "gradflow.papers.du._demo",
        "Du et al.: conv filter teacher-student",
        "43 s CPU; 2.2 min wall on a busy 2-core box",
    ),
    "nguyen-hein": DemoSpec(
        "gradflow.papers.nguyen_hein._demo",
        "Nguyen & Hein: wide CNN feature rank",
        "55 s CPU; 3.0 min wall on a busy 2-core box",
    ),
}


# `gradflow sweep NAME`: sweep problems (gradflow.sweep.Problem subclasses) by import path
PROBLEMS: dict[str, str] = {
    "alignment": "gradflow.papers.min_mallada_vidal:AlignmentProblem",
    "du": "gradflow.papers.du:TimeToLearnProblem",
}


def demo_help() -> str:
    """One line per demo (name, description, rough runtime), for the CLI's help text."""
    return "; ".join(f"{name}: {s.description} ({s.runtime})" for name, s in DEMOS.items())


def run_demo(
    name: str, out: Path, *, progress: Callable[[str], None] | None = None, **kwargs
) -> DemoResult:
    """Import and run one demo by name (raises ValueError for an unknown or missing one).

    ``progress``: called with one line per stage the demo announces (:func:`stage`)."""
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose one of {sorted(DEMOS)}")
    try:
        module = importlib.import_module(DEMOS[name].module)
    except ModuleNotFoundError as e:
        raise ValueError(f"demo {name!r} is not available in this version ({e})") from None
    out.mkdir(parents=True, exist_ok=True)
    token = _PROGRESS.set(progress)
    try:
        return module.run(out, **kwargs)
    finally:
        _PROGRESS.reset(token)
