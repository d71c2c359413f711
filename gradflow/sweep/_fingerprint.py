"""Content fingerprints: a hash of everything that decides a sweep's rows, by value.

A sweep directory is identified by the fingerprint of its problem (not its name): two
lambdas with the same qualname but other constants, closures over other values, or two
instances of one class with other fields get different fingerprints, so they can never share
rows. What is hashed, recursively:

- functions: their code (bytecode, constants, names), defaults, closure cell values and the
  module globals they read (a module or a function of an installed library counts by
  name; the user's own functions are hashed through);
- Equinox modules, dataclasses and plain objects: their type and their fields (``__dict__``);
  classes defined by the user: name and the code of their methods;
- NumPy / JAX arrays: dtype, shape and bytes (PRNG keys through their key data);
- numbers, strings, None, containers: by value.

An object can declare its own identity with a ``sweep_fingerprint()`` method (any
JSON-compatible value), which is then hashed instead. An object that cannot be hashed by
value (e.g. a file handle) raises ``ValueError`` naming it.

>>> fingerprint(lambda p, k: 1) != fingerprint(lambda p, k: 2)
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import sysconfig
import types
from typing import Any

import numpy as np

__all__ = ["fingerprint"]

_LIB_DIRS = tuple(
    os.path.realpath(p)
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _is_library(module_name: str | None) -> bool:
    """True for modules of installed packages / the stdlib / gradflow (hashed by name)."""
    if not module_name or module_name == "__main__":
        return False
    top = module_name.split(".")[0]
    if top in ("gradflow", "builtins") or top in sys.stdlib_module_names:
        return True
    mod = sys.modules.get(top)
    file = getattr(mod, "__file__", None)
    if file is None:
        return mod is not None and not hasattr(mod, "__path__")  # built-in module
    return os.path.realpath(file).startswith(_LIB_DIRS)


class _Hasher:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.seen: dict[int, int] = {}
        self.keep: list[Any] = []  # keep visited objects alive so their ids stay unique

    def put(self, *parts: Any) -> None:
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode()
            self.h.update(len(b).to_bytes(8, "little"))
            self.h.update(b)

    def visit(self, obj: Any, where: str) -> None:  # noqa: C901 - one dispatch table
        if obj is None or isinstance(obj, bool | int | str | bytes):
            self.put(type(obj).__name__, repr(obj))
            return
        if isinstance(obj, float):
            self.put("float", repr(obj) if not math.isnan(obj) else "nan")
            return
        if isinstance(obj, np.generic):
            self.put("np", obj.dtype.str, obj.tobytes())
            return
        if id(obj) in self.seen:  # a cycle or a shared object: a back reference
            self.put("ref", self.seen[id(obj)])
            return
        self.seen[id(obj)] = len(self.seen)
        self.keep.append(obj)
        custom = getattr(obj, "sweep_fingerprint", None)
        if callable(custom) and not isinstance(obj, type):
            self.put("custom", type(obj).__qualname__)
            self.visit(json.loads(json.dumps(custom(), sort_keys=True, default=str)), where)
            return
        if isinstance(obj, list | tuple):
            self.put(type(obj).__name__, len(obj))
            for i, v in enumerate(obj):
                self.visit(v, f"{where}[{i}]")
            return
        if isinstance(obj, dict | types.MappingProxyType):
            self.put("dict", len(obj))
            for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0])):
                self.visit(k, where)
                self.visit(v, f"{where}[{k!r}]")
            return
        if isinstance(obj, set | frozenset):
            self.put("set", len(obj))
            for v in sorted(obj, key=repr):
                self.visit(v, where)
            return
        if isinstance(obj, types.ModuleType):
            self.put("module", obj.__name__)
            return
        if isinstance(obj, np.ndarray) or _is_jax_array(obj):
            self._array(obj)
            return
        if isinstance(obj, types.FunctionType):
            self._function(obj, where)
            return
        named = getattr(obj, "__qualname__", None), getattr(obj, "__module__", None)
        if callable(obj) and isinstance(named[0], str) and _is_library(named[1]):
            self.put("libcallable", named[1], named[0])  # jax.nn.relu, a jitted library fn
            return
        if isinstance(obj, types.MethodType):
            self.put("method")
            self.visit(obj.__func__, where)
            self.visit(obj.__self__, f"{where}.__self__")
            return
        if isinstance(obj, types.BuiltinFunctionType | types.BuiltinMethodType):
            self.put("builtin", getattr(obj, "__module__", None), obj.__qualname__)
            self_ = getattr(obj, "__self__", None)
            if self_ is not None and not isinstance(self_, types.ModuleType):
                self.visit(self_, f"{where}.__self__")
            return
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None and callable(obj) and not isinstance(obj, type):
            self.put("wrapper", type(obj).__qualname__)  # jax.jit(f), functools.wraps
            self.visit(wrapped, f"{where}.__wrapped__")
            return
        if isinstance(obj, type):
            self._type(obj)
            return
        if isinstance(obj, types.CodeType):
            self._code(obj)
            return
        if obj is Ellipsis or isinstance(obj, range | slice | complex):
            self.put("repr", repr(obj))
            return
        if dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
            self._type(type(obj))
            fields = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
            if dataclasses.is_dataclass(obj):
                for f in dataclasses.fields(obj):
                    fields.setdefault(f.name, getattr(obj, f.name))
            self.visit(fields, f"{where}.__dict__")
            return
        if hasattr(obj, "__slots__"):
            self._type(type(obj))
            for s in type(obj).__slots__:
                self.visit(getattr(obj, s, None), f"{where}.{s}")
            return
        text = repr(obj)
        if " at 0x" not in text and not text.startswith("<"):
            self.put("repr", type(obj).__qualname__, text)  # e.g. a PyTreeDef
            return
        raise ValueError(
            f"cannot fingerprint {where} = {type(obj).__name__} by value; give the problem a "
            "sweep_fingerprint() method returning what identifies it"
        )

    def _array(self, obj: Any) -> None:
        import jax  # noqa: PLC0415

        if _is_jax_array(obj) and jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            self.put("key", str(obj.dtype))
            obj = jax.random.key_data(obj)
        a = np.ascontiguousarray(np.asarray(obj))
        if a.dtype == object:
            self.put("objarray", a.shape)
            for i, v in enumerate(a.ravel().tolist()):
                self.visit(v, f"array[{i}]")
            return
        self.put("array", a.dtype.str, a.shape, a.tobytes())

    def _code(self, code: types.CodeType) -> None:
        self.put("code", code.co_name, code.co_argcount, code.co_kwonlyargcount, code.co_flags)
        self.put(code.co_code, code.co_names, code.co_varnames, code.co_freevars)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                self._code(c)
            else:
                self.visit(c, "const")

    def _function(self, fn: types.FunctionType, where: str) -> None:
        if _is_library(fn.__module__):
            self.put("libfunc", fn.__module__, fn.__qualname__)
            return
        self.put("function", fn.__qualname__)
        self._code(fn.__code__)
        self.visit(fn.__defaults__, f"{where}.__defaults__")
        self.visit(fn.__kwdefaults__, f"{where}.__kwdefaults__")
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                value = None
            self.visit(value, f"{where} (closure {name})")
        for name in sorted(_global_names(fn.__code__)):
            if name in fn.__globals__:
                self.visit(fn.__globals__[name], f"{where} (global {name})")

    def _type(self, cls: type) -> None:
        self.put("type", cls.__module__, cls.__qualname__)
        if _is_library(cls.__module__):
            return
        for klass in cls.__mro__:
            if klass is object or _is_library(klass.__module__):
                continue
            for name, v in sorted(vars(klass).items()):
                if isinstance(v, staticmethod | classmethod):
                    v = v.__func__
                if isinstance(v, types.FunctionType):
                    self.put(name)
                    self._code(v.__code__)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _is_jax_array(obj: Any) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(obj, jax.Array)


def fingerprint(obj: Any) -> str:
    """SHA-256 (hex) of ``obj`` by value (module doc): equal for equal behaviour and settings.

    >>> fingerprint(AlignmentProblem(h=20)) == fingerprint(AlignmentProblem(h=20))
    True
    """
    h = _Hasher()
    h.visit(obj, type(obj).__name__)
    return h.h.hexdigest()
