"""Sweep progress: a tqdm bar that moves per finished run, with compile time kept apart.

The compiled kernel calls :func:`tick` (``jax.debug.callback``) after each run of a
``lax.map`` chunk, so the bar moves per run on CPU; strategies that run a chunk in lockstep
(``vmap``) or chunks that finish on a Ray worker move it per chunk, by that chunk's runs.
Compilation is timed apart (ahead-of-time compile) and taken out of the bar's clock, so
runs/s and the ETA are those of solving; the bar's postfix shows the compile seconds and
rows/s so far.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_ACTIVE: list[Progress] = []
_LOCK = threading.Lock()


def tick(status: Any = None) -> None:
    """One (or, for a batched ``status``, ``status.size``) run finished: move the active bar."""
    if _ACTIVE:
        _ACTIVE[-1].tick(1 if status is None else max(int(np.size(status)), 1))


def compiled(seconds: float) -> None:
    """A kernel was just compiled in this process: take ``seconds`` off the active bar's clock."""
    if _ACTIVE:
        _ACTIVE[-1].compiled(seconds)


class Progress:
    """Runs done of ``total`` (``initial`` already done), as a tqdm bar when ``enabled``."""

    def __init__(self, total: int, initial: int, *, enabled: bool, desc: str = "sweep"):
        self.total, self.done = total, initial
        self.compile_s = 0.0
        self.run_s = 0.0
        self.rows = 0
        self._left = 0
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm  # noqa: PLC0415 - only when asked

            self.bar = tqdm(total=total, initial=initial, unit="run", desc=desc, smoothing=0.1)

    def __enter__(self) -> Progress:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)
        if self.bar is not None:
            self.bar.close()

    def start_chunk(self, runs: int) -> None:
        with _LOCK:
            self._left = runs

    def tick(self, k: int = 1) -> None:
        with _LOCK:
            k = min(k, self._left)  # padding runs of a chunk tick too: ignore them
            self._left -= k
            self.done += k
        if k and self.bar is not None:
            self.bar.update(k)

    def compiled(self, seconds: float) -> None:
        self.compile_s += seconds
        if self.bar is not None:
            self.bar.start_t += seconds  # the average rate and ETA leave compilation out
            self.bar.unpause()  # and so does the smoothed rate

    def end_chunk(self, runs: int, run_s: float, compile_s: float = 0.0) -> None:
        """A chunk of ``runs`` finished: count runs not ticked yet; ``compile_s``: compile time
        spent elsewhere (a Ray worker), shown apart."""
        with _LOCK:
            k, self._left = self._left, 0
            self.done += k
            self.rows += runs
            self.run_s += run_s
            self.compile_s += compile_s
        if self.bar is None:
            return
        self.bar.update(k)
        rate = self.rows / self.run_s if self.run_s > 0 else float("nan")
        self.bar.set_postfix_str(f"compile {self.compile_s:.1f}s, {rate:.3g} rows/s", False)

    def chunk_arrived(self, runs: int, run_s: float, compile_s: float) -> None:
        """A chunk computed elsewhere (on a Ray worker) arrived: move by its runs."""
        self.start_chunk(runs)
        self.end_chunk(runs, run_s, compile_s)
