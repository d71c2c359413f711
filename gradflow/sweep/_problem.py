"""The experiment a sweep runs: :class:`Problem`, and finding one by name or ``module:object``.

A problem describes ONE run: ``problem(params, key) -> (model, data, options)``, with
``params`` one grid point (``{"n": 30, "mu": 0.3}``) and ``key`` the seed's PRNG key;
``options`` are :func:`gradflow.solve_flow` keyword arguments plus ``"row"`` (a traced
``row(traj, model, data) -> {name: scalar}``, the summaries stored per run) and ``"extra"``
(host-side ``{name: float}``). Any callable of that form works with
:func:`gradflow.sweep.sweep`; subclassing :class:`Problem` adds what the command line needs:

- ``default_grid()``: the grid ``gradflow sweep PROBLEM`` uses when no ``--grid`` is given;
- ``summary(table)``: the lines the CLI prints after a sweep;
- ``figures(table, folder, **options)``: the figures ``gradflow plot DIR`` writes;
- ``from_settings({"h": "20"})``: an instance from ``--set h=20`` (dataclass fields).

A sweep directory records the problem's class (``module:qualname``) and its ``config()``, so
``gradflow plot DIR`` rebuilds it without being told which experiment it was.

>>> @dataclasses.dataclass(frozen=True)
... class Decay(Problem):
...     h: int = 8
...     def __call__(self, params, key): ...
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Problem", "load_object", "object_ref", "parse_value"]


class Problem(abc.ABC):
    """A sweep experiment: one run from a grid point and a key (module doc)."""

    @abc.abstractmethod
    def __call__(self, params: dict, key: Any) -> tuple[Any, Any, dict]:
        """``(model, data, options)`` of ONE run."""

    def config(self) -> dict[str, Any]:
        """The fixed settings (dataclass fields by default), recorded in the manifest."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Problem:
        """An instance from ``{field: value}`` (strings are parsed by :func:`parse_value`)."""
        kw = {k: parse_value(v) if isinstance(v, str) else v for k, v in settings.items()}
        if dataclasses.is_dataclass(cls):
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(kw) - names)
            if unknown:
                raise ValueError(
                    f"{cls.__name__} has no setting(s) {unknown}; settings: {sorted(names)}"
                )
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        return cls(**kw)

    def default_grid(self) -> dict[str, list]:
        """The grid of ``gradflow sweep PROBLEM`` without ``--grid`` ({} = one must be given)."""
        return {}

    def summary(self, table: Any, **options: str) -> list[str]:
        """Lines printed after a sweep or a plot (default: runs and solve statuses)."""
        status = np.asarray(table.column("status_name").to_pylist()) if table.num_rows else []
        names, counts = np.unique(status, return_counts=True)
        text = ", ".join(f"{c} {n}" for n, c in zip(names, counts, strict=True))
        return [f"{table.num_rows} runs: {text or 'none finished'}"]

    def figures(self, table: Any, folder: Path, **options: str) -> list[Path]:
        """Write this experiment's figures of ``table`` into ``folder``; the paths written."""
        raise ValueError(f"{type(self).__name__} defines no figures")


def parse_value(text: str) -> Any:
    """``"20"`` -> 20, ``"1e-6"`` -> 1e-6, ``"none"`` -> None, ``"true"`` -> True,
    ``"10,50"`` -> [10, 50], anything else stays a string."""
    t = text.strip()
    if "," in t:
        return [parse_value(v) for v in t.split(",") if v.strip()]
    low = t.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def object_ref(obj: Any) -> str:
    """``module:qualname`` of a problem's class (or of a function problem itself)."""
    target = obj if callable(obj) and hasattr(obj, "__qualname__") else type(obj)
    return f"{target.__module__}:{target.__qualname__}"


def load_object(ref: str, registry: Mapping[str, str] | None = None) -> Any:
    """The object named by ``ref``: a registry name, or ``module:attr.attr``."""
    registry = registry or {}
    if ref in registry:
        ref = registry[ref]
    if ":" not in ref:
        raise ValueError(
            f"unknown problem {ref!r}: give a registered name {sorted(registry)} or "
            "module:object"
        )
    mod_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"cannot import {mod_name!r} for problem {ref!r}: {e}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{mod_name!r} has no {attr!r} (problem {ref!r})")
        obj = getattr(obj, part)
    return obj


def problem_from_manifest(manifest: Mapping[str, Any]) -> Problem | Callable:
    """Rebuild a sweep's problem from its manifest (its class and ``config``)."""
    obj = load_object(manifest["problem_ref"])
    if isinstance(obj, type) and issubclass(obj, Problem):
        return obj.from_settings(manifest.get("config", {}))
    return obj
