"""load_trajectory: read back a file written by :meth:`Trajectory.save`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _archive
from ._kinkmode import SwitchLog
from ._trajectory import Trajectory

_SCALARS = ("ts", "loss", "t_final", "t_event", "result", "final_loss")


def load_trajectory(path: str | os.PathLike, *, like: Any = None) -> Trajectory:
    """Read a trajectory written by :meth:`Trajectory.save`.

    The file holds arrays and a JSON header, not Python functions, so the non-array part of
    the model (``eqx.nn.MLP``'s activation, static fields) comes from ``like``, as with
    ``eqx.tree_deserialise_leaves``:

    - ``like=`` a Trajectory of the same structure (e.g. a short solve of the same model,
      config and ``fn``): everything is restored exactly, summaries and event log included.
    - ``like=`` a model of the same architecture (any weights; the saved run's model, or
      one freshly initialised): ``ys``/``final``/``static``/``model`` are modules again;
      the stats dict and event log are restored, a summary pytree comes back as a dict
      ``{leaf name: array}`` (a single array as itself).
    - ``like=None``: arrays and metadata only: ``ys``, ``final`` and ``summary`` are dicts
      ``{leaf name: array}`` (e.g. ``"layers.0.weight"``), ``static`` holds the frozen
      arrays, so ``.model`` is such a dict too; ``to_table``, ``status``, ``metadata``,
      ``loss`` and ``ts`` work as before.

    Batched (vmapped) trajectories keep their leading seed axes. Raises ``FileNotFoundError``
    (no file) or ``ValueError`` (not a trajectory file, corrupt, or a ``like`` whose
    structure or leaf shapes differ), each one line naming the file.

    >>> traj.save("run.npz")
    >>> back = load_trajectory("run.npz", like=model)   # back.model(x) works again
    """
    header, arrays = _archive.read(path)
    name = repr(str(path))
    entries = [(e["path"], arrays[e["array"]] if "array" in e else None) for e in header["leaves"]]
    batch = tuple(header.get("batch_shape", ()))
    if isinstance(like, Trajectory):
        traj = _like_trajectory(entries, like, batch, name)
    else:
        traj = _from_groups(entries, like, batch, name)
    return dataclasses.replace(
        traj,
        clock=header["clock"],
        method=header["method"],
        mode=header["mode"],
        mode_reason=header["mode_reason"],
        _provenance=json.dumps(header["provenance"], sort_keys=True),
    )


def _mismatch(name: str, what: str) -> ValueError:
    return ValueError(f"{name}: the `like` template does not match the saved trajectory: {what}")


def _check_shape(name: str, path: str, saved: np.ndarray, batch: tuple, like_leaf: Any, nb: int):
    want = tuple(np.shape(like_leaf))[nb:]
    got = saved.shape[len(batch) :]
    if got != want:
        raise _mismatch(name, f"leaf {path!r} has shape {got} in the file, {want} in `like`")


def _like_trajectory(entries, like: Trajectory, batch: tuple, name: str) -> Trajectory:
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    mine = [(_archive.leaf_name(p), _archive.is_array(x)) for p, x in flat]
    saved = [(p, a is not None) for p, a in entries]
    if mine != saved:
        diff = next(
            (f"{a} vs {b} in `like`" for a, b in zip(saved, mine, strict=False) if a != b),
            f"{len(saved)} leaves in the file, {len(mine)} in `like`",
        )
        raise _mismatch(name, f"first difference (path, is array): {diff}")
    nb = np.ndim(like.result)
    leaves = []
    for (path, arr), (_, leaf) in zip(entries, flat, strict=True):
        if arr is None:
            leaves.append(leaf)
            continue
        if path.startswith(("final.", "static.")):
            _check_shape(name, path, arr, batch, leaf, nb)
        leaves.append(jnp.asarray(arr))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _from_groups(entries, like: Any, batch: tuple, name: str) -> Trajectory:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for path, arr in entries:
        field, _, sub = path.partition(".")
        if arr is not None:
            groups.setdefault(field, {})[sub] = arr
    for field in _SCALARS:
        if "" not in groups.get(field, {}):
            raise ValueError(f"{name} is corrupt: the array {field!r} is missing")
    trainable = groups.get("ys", {})
    frozen = groups.get("static", {})
    final = groups.get("final", {})
    if like is None:
        ys = {k: jnp.asarray(trainable[k]) if k in trainable else None for k in final}
        static = {k: None if k in trainable else jnp.asarray(a) for k, a in final.items()}
        final_tree: Any = {k: jnp.asarray(a) for k, a in final.items()}
        if not trainable:
            ys = None
    else:
        ys, static, final_tree = _rebuild_model(like, trainable, frozen, final, batch, name)
    summary = groups.get("summary")
    if summary is not None:
        summary = (
            jnp.asarray(summary[""])
            if list(summary) == [""]
            else {k: jnp.asarray(a) for k, a in summary.items()}
        )
    events = groups.get("events")
    if events is not None:
        fields = [f.name for f in dataclasses.fields(SwitchLog)]
        ev = {k: jnp.asarray(a) for k, a in events.items()}
        events = SwitchLog(**ev) if sorted(ev) == sorted(fields) else ev
    scal = {f: jnp.asarray(groups[f][""]) for f in _SCALARS}
    return Trajectory(
        ts=scal["ts"],
        ys=ys,
        summary=summary,
        loss=scal["loss"],
        final=final_tree,
        t_final=scal["t_final"],
        t_event=scal["t_event"],
        result=scal["result"],
        stats={k: jnp.asarray(a) for k, a in groups.get("stats", {}).items()},
        events=events,
        static=static,
        final_loss=scal["final_loss"],
    )


def _rebuild_model(like, trainable, frozen, final, batch: tuple, name: str):
    """``(ys, static, final)`` as modules with ``like``'s structure and the saved arrays."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    paths = [_archive.leaf_name(p) for p, _ in flat]
    arrays_like = [p for p, (_, x) in zip(paths, flat, strict=True) if _archive.is_array(x)]
    if sorted(arrays_like) != sorted(final):
        extra = sorted(set(final) - set(arrays_like))
        lacking = sorted(set(arrays_like) - set(final))
        raise _mismatch(
            name,
            f"array leaves only in the file: {extra[:3]}, only in `like`: {lacking[:3]} "
            "(pass a model of the same architecture, or a Trajectory)",
        )
    for p, (_, leaf) in zip(paths, flat, strict=True):
        if p in final:
            _check_shape(name, "final." + p, final[p], batch, leaf, 0)
    ys_leaves, static_leaves, final_leaves = [], [], []
    for p, (_, leaf) in zip(paths, flat, strict=True):
        final_leaves.append(jnp.asarray(final[p]) if p in final else leaf)
        ys_leaves.append(jnp.asarray(trainable[p]) if p in trainable else None)
        static_leaves.append(
            None if p in trainable else jnp.asarray(frozen[p]) if p in frozen else leaf
        )
    ys = jax.tree_util.tree_unflatten(treedef, ys_leaves) if trainable else None
    static = jax.tree_util.tree_unflatten(treedef, static_leaves)
    return ys, static, jax.tree_util.tree_unflatten(treedef, final_leaves)
