"""The trajectory file format: one ``.npz`` with every array leaf and a JSON header.

Layout: array ``a{i}`` is the i-th array leaf of the flattened Trajectory (its JAX key path
is recorded in the header), and ``__header__`` is the UTF-8 JSON header (a uint8 array, so
the file loads with ``allow_pickle=False``). Non-array leaves (functions such as
``eqx.nn.MLP``'s activation) cannot be stored in general: their paths are recorded, and a
``like`` template supplies them on load. Also the run descriptions (provenance) that
``solve_flow`` / ``gd`` attach as static :class:`Provenance` records: config fields, loss,
data shapes and a content hash, computed only when the record is first read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .._version import __version__

FORMAT = "gradflow-trajectory"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"
# data at most this many entries (x and y together) is hashed by solve_flow / gd itself
AUTO_HASH_MAX = 2**20


def leaf_name(path: tuple[Any, ...]) -> str:
    """A JAX key path as a dotted name: ``('layers', 0, 'weight')`` -> ``layers.0.weight``."""
    parts = []
    for key in path:
        if isinstance(key, jax.tree_util.GetAttrKey):
            parts.append(key.name)
        elif isinstance(key, jax.tree_util.DictKey):
            parts.append(str(key.key))
        elif isinstance(key, jax.tree_util.SequenceKey):
            parts.append(str(key.idx))
        else:
            parts.append(str(getattr(key, "key", key)))
    return ".".join(parts)


def is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic)


def _concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)  # pyright: ignore[reportAttributeAccessIssue]


def content_hash(*arrays: Any) -> str:
    """``sha256:<hex>`` of the arrays' dtypes, shapes and bytes (C order)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def describe_callable(obj: Any) -> str:
    """A stable one-line name: an Equinox/loss object's repr, a function's qualified name
    (never a memory address, so equal runs give equal descriptions)."""
    if obj is None:
        return "None"
    if isinstance(obj, str):
        return obj
    qual = getattr(obj, "__qualname__", None)
    if qual is not None and callable(obj) and not dataclasses.is_dataclass(obj):
        return f"{getattr(obj, '__module__', '?')}.{qual}"
    text = " ".join(repr(obj).split())
    return text if len(text) <= 300 else text[:297] + "..."


class _LazyHash:
    """:func:`content_hash` of concrete arrays, computed on first call (then the arrays are
    dropped). JAX arrays are immutable, so holding them is enough (no device->host copy
    until the hash is asked for); a NumPy array is copied, since it could change."""

    __slots__ = ("_arrays", "_value")

    def __init__(self, *arrays: Any):
        self._arrays: tuple[Any, ...] | None = tuple(
            np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in arrays
        )
        self._value: str | None = None

    def __call__(self) -> str | None:
        if self._arrays is not None:
            try:
                self._value = content_hash(*self._arrays)
            except RuntimeError:  # a JAX array deleted (donated) since the solve: no hash
                self._value = None
            self._arrays = None
        return self._value


def describe_data(
    data: Any, *, hash_max: int | None = AUTO_HASH_MAX, lazy: bool = False
) -> dict[str, Any]:
    """Shapes and dtypes of ``data.x``/``data.y`` (a Dataset), plus a content hash when the
    arrays are concrete (not traced) and hold at most ``hash_max`` entries (None: always).
    ``lazy``: the hash is a :class:`_LazyHash` that :class:`Provenance` resolves when read."""
    x, y = data.x, data.y
    out: dict[str, Any] = {
        "name": getattr(data, "name", None) or type(data).__name__,
        "x_shape": list(np.shape(x)),
        "x_dtype": str(x.dtype),
        "y_shape": list(np.shape(y)),
        "y_dtype": str(y.dtype),
        "hash": None,
    }
    size = int(np.prod(np.shape(x))) + int(np.prod(np.shape(y)))
    if _concrete(x) and _concrete(y) and (hash_max is None or size <= hash_max):
        out["hash"] = _LazyHash(x, y) if lazy else content_hash(x, y)
    return out


def describe_config(config: Any) -> dict[str, Any]:
    """The fields of a frozen config object (FlowConfig) as JSON-ready values."""
    if not dataclasses.is_dataclass(config):
        return {"repr": describe_callable(config)}
    return {f.name: _jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if is_array(value) and _concrete(value) and np.ndim(value) == 0:
        return np.asarray(value).item()
    return describe_callable(value)


def _to_json(value: Any) -> Any:
    return value() if isinstance(value, _LazyHash) else repr(value)


class Provenance:
    """The run description a Trajectory carries (static, so it survives jit/vmap): a JSON
    string with sorted keys, built on first read (:attr:`text`). Until then it holds the
    items, with any :class:`_LazyHash` of the data unresolved, so a solve never hashes its
    data (nor copies it to the host) unless the description is read.

    Compared and hashed by its text (equal runs are equal; a plain ``str`` of the same text
    is equal too); comparing or hashing it resolves it, except for comparing it with itself.
    """

    __slots__ = ("_items", "_text")

    def __init__(self, items: dict[str, Any] | None = None, *, text: str | None = None):
        self._items = items
        self._text = text if items is None else None
        if items is None and text is None:
            self._text = ""

    @property
    def text(self) -> str:
        """The JSON string ("" for an empty record)."""
        if self._text is None:
            self._text = json.dumps(self._items, sort_keys=True, default=_to_json)
            self._items = None  # drop the data held for the hash
        return self._text

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, Provenance):
            return self.text == other.text
        if isinstance(other, str):
            return self.text == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return repr(self.text)

    def __reduce__(self):  # pickle the text, never the data arrays
        return (_provenance_from_text, (self.text,))


def _provenance_from_text(text: str) -> Provenance:
    return Provenance(text=text)


def as_provenance(value: Any) -> Provenance:
    """A :class:`Provenance` from one (unchanged) or from its JSON text (a ``str``)."""
    if isinstance(value, Provenance):
        return value
    if isinstance(value, str):
        return Provenance(text=value)
    raise ValueError(f"provenance must be a JSON string, got {type(value).__name__}")


def provenance(**items: Any) -> Provenance:
    """The record a Trajectory carries (sorted keys, so equal runs are equal); pass
    ``data=describe_data(data, lazy=True)`` to defer the data's hash until it is read."""
    return Provenance({"gradflow_version": __version__, **items})


def _atomic_write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # pyright: ignore[reportArgumentType]
    os.replace(tmp, path)


def write(path: str | os.PathLike, tree: Any, header: dict[str, Any]) -> Path:
    """Write every array leaf of ``tree`` and ``header`` (+ the leaf paths) to ``path``."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"trajectory files end in .npz, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"cannot save trajectory to {str(path)!r}: no folder {str(path.parent)!r}")
    arrays: dict[str, np.ndarray] = {}
    leaves = []
    for keypath, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = leaf_name(keypath)
        if is_array(leaf):
            if not _concrete(leaf):
                raise ValueError("cannot save a traced Trajectory (inside jit/vmap): save outside")
            key = f"a{len(arrays)}"
            arrays[key] = np.asarray(leaf)
            leaves.append({"path": name, "array": key})
        else:
            leaves.append({"path": name, "object": type(leaf).__name__})
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **header, "leaves": leaves}
    text = json.dumps(full, sort_keys=True, default=repr)
    arrays[HEADER_KEY] = np.frombuffer(text.encode(), dtype=np.uint8)
    _atomic_write(path, arrays)
    return path


def read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(header, arrays)`` of a trajectory file; one clear error line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        raw = arrays.pop(HEADER_KEY, None)
        header = None if raw is None else json.loads(bytes(raw).decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ValueError(
            f"{str(path)!r} is not a readable gradflow trajectory file ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a gradflow trajectory file (no {FORMAT} header)")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written by a newer gradflow (format "
            f"{header.get('format_version')} > {FORMAT_VERSION}); upgrade gradflow"
        )
    missing = [e["array"] for e in header["leaves"] if "array" in e and e["array"] not in arrays]
    if missing:
        raise ValueError(f"{str(path)!r} is corrupt: arrays {missing[:3]} are missing")
    return header, arrays
