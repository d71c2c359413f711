"""Sweep results on disk: a manifest, a schema, and one Parquet file per finished chunk.

Layout of a sweep directory::

    DIR/manifest.json                  the sweep's identity (written once, under a lock):
                                       fingerprint of the problem by value, grid, seeds,
                                       chunk size, precision, gradflow version
    DIR/schema.json                    column names and types (written with the first chunk)
    DIR/chunk-g0003-c00012.parquet     rows of grid point 3, seeds of chunk 12; its Parquet
                                       metadata carries the sweep's fingerprint
    DIR/figures/                       reserved for ``gradflow plot`` (never read as rows)
    DIR/.lock, DIR/.claims/            lock files (``fcntl.flock``; released when a process dies)

A chunk is written to a hidden temporary file and moved into place with ``os.replace``
(atomic on POSIX), so a sweep killed at any moment (SIGKILL included) leaves only complete
chunk files; a temporary left by a killed writer is deleted when the directory is next
opened. Every chunk read is checked in full: the sweep fingerprint in its metadata, its
schema against ``schema.json``, and its grid index and seeds against its name; a foreign,
partial or other-precision chunk is refused with a ``ValueError`` naming the file.

Concurrency: creating the manifest happens under an exclusive lock on ``DIR/.lock``, so of
two drivers opening one fresh folder for different sweeps exactly one wins and the other is
refused. A driver computes a chunk only while holding that chunk's claim lock
(``DIR/.claims/<chunk>.lock``), so two drivers of the same sweep share the chunks instead of
both computing every one. Locks need a file system with working ``flock`` (local disks, NFSv4).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMAT = "gradflow-sweep"
VERSION = 2
MANIFEST = "manifest.json"
SCHEMA = "schema.json"
FIGURES = "figures"
_LOCK = ".lock"
_CLAIMS = ".claims"
_RESERVED = {MANIFEST, SCHEMA, FIGURES}
_CHUNK = re.compile(r"^chunk-g(\d{4,})-c(\d{5,})\.parquet$")
_TMP = re.compile(r"^\.(chunk-g\d{4,}-c\d{5,}\.parquet|schema\.json|manifest\.json)\.tmp-")
_IDENTITY = (
    "fingerprint",
    "problem_fingerprint",
    "grid",
    "seeds",
    "chunk_size",
    "x64",
    "gradflow_version",
)
META_KEY = b"gradflow.fingerprint"


def chunk_name(grid_index: int, chunk_index: int) -> str:
    return f"chunk-g{grid_index:04d}-c{chunk_index:05d}.parquet"


def _jsonable(obj: Any, *, lenient: bool = False) -> Any:
    """Round-trip through JSON so comparisons see what a rerun will read back (``lenient``:
    an object JSON cannot hold is recorded by its repr, for readers only)."""
    default = (lambda o: _default(o) if hasattr(o, "item") or hasattr(o, "tolist") else repr(o))
    return json.loads(json.dumps(obj, sort_keys=True, default=default if lenient else _default))


def _default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / jax scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in a sweep manifest: {o!r}")


def make_manifest(
    *,
    problem_fingerprint: str,
    grid: list[dict],
    seeds: list[int],
    chunk_size: int,
    x64: bool,
    gradflow_version: str,
    problem_ref: str = "",
    config: dict | None = None,
) -> dict:
    """The manifest of a sweep (JSON-compatible; what a rerun must match).

    ``problem_fingerprint``: :func:`gradflow.sweep.fingerprint` of the problem. Recorded for
    readers but not part of the identity: ``problem_ref`` (``module:qualname``, what
    ``gradflow plot`` rebuilds the problem from) and ``config`` (its settings, already in its
    fingerprint). The manifest's own ``fingerprint`` hashes every identity field; every
    chunk carries it.
    """
    import hashlib  # noqa: PLC0415

    body = _jsonable(
        {
            "problem_fingerprint": problem_fingerprint,
            "grid": grid,
            "seeds": [int(s) for s in seeds],
            "chunk_size": int(chunk_size),
            "x64": bool(x64),
            "gradflow_version": gradflow_version,
        }
    )
    fp = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": fp,
        **body,
        "problem_ref": problem_ref,
        "config": _jsonable(config or {}, lenient=True),
    }


def read_manifest(path: str | os.PathLike) -> dict:
    """Read and check ``DIR/manifest.json``; ``ValueError`` if missing or corrupt."""
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        raise ValueError(f"{path} is not a gradflow sweep directory: no {MANIFEST}")
    try:
        manifest = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"corrupt sweep manifest {file}: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{file} is not a gradflow sweep manifest (format != {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"{file} has manifest version {manifest.get('version')!r}; this gradflow reads "
            f"version {VERSION}"
        )
    missing = [k for k in _IDENTITY if k not in manifest]
    if missing:
        raise ValueError(f"corrupt sweep manifest {file}: missing keys {missing}")
    return manifest


def _atomic_write_bytes(file: Path, data: bytes) -> None:
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def _flock(file: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``file`` (created); yields False if not blocking and busy."""
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _schema_of(table: pa.Table) -> list[list[str]]:
    return [[f.name, str(f.type)] for f in table.schema]


class SweepStore:
    """A sweep directory opened for one sweep: which chunks are done, claim and write the next.

    >>> store = SweepStore.open("runs/a", manifest)   # creates, or checks it matches
    >>> store.done()                                   # {(grid_index, chunk_index), ...}
    >>> with store.claim(0, 3) as mine:                # no other driver computes chunk (0, 3)
    ...     if mine: store.write(0, 3, table)          # atomic
    """

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, path: str | os.PathLike, manifest: dict) -> SweepStore:
        """Create ``path`` for ``manifest``, or reopen it to resume if the manifests match."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"sweep output {path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        with _flock(path / _LOCK):
            if (path / MANIFEST).exists():
                old = read_manifest(path)
                diff = [k for k in _IDENTITY if old[k] != manifest[k]]
                if diff:
                    raise ValueError(
                        f"{path} holds a different sweep (manifest differs in {diff}); use a "
                        "new --out directory, or delete this one to start over"
                    )
            else:
                foreign = [
                    p.name
                    for p in path.iterdir()
                    if not p.name.startswith(".") and p.name != FIGURES
                ]
                if foreign:
                    raise ValueError(
                        f"{path} is not empty and has no {MANIFEST} (holds {sorted(foreign)[:3]});"
                        " refusing to write a sweep into it"
                    )
                _atomic_write_bytes(
                    path / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode()
                )
        store = cls(path, manifest)
        store.clean_temporaries()
        store.check()
        return store

    def clean_temporaries(self) -> list[Path]:
        """Delete hidden temporaries of killed writers (no live writer holds their lock)."""
        removed = []
        for p in self.path.iterdir():
            m = _TMP.match(p.name)
            if m is None:
                continue
            target = m.group(1)
            lock = self._claim_file(target) if target.startswith("chunk-") else self.path / _LOCK
            with _flock(lock, blocking=False) as free:
                if free:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                        removed.append(p)
        return removed

    # ------------------------------------------------------------------ claims
    def _claim_file(self, name: str) -> Path:
        d = self.path / _CLAIMS
        d.mkdir(exist_ok=True)
        return d / f"{name}.lock"

    @contextlib.contextmanager
    def claim(self, grid_index: int, chunk_index: int, *, blocking: bool = False):
        """Hold chunk ``(g, c)``'s lock: yields True when held (else another driver has it)."""
        with _flock(self._claim_file(chunk_name(grid_index, chunk_index)), blocking=blocking) as ok:
            yield ok

    # ------------------------------------------------------------------ reading
    def _expected_seeds(self, chunk_index: int) -> list[int]:
        cs = self.manifest["chunk_size"]
        return self.manifest["seeds"][chunk_index * cs : (chunk_index + 1) * cs]

    def n_chunks(self) -> int:
        return -(-len(self.manifest["seeds"]) // self.manifest["chunk_size"])

    def all_chunks(self) -> list[tuple[int, int]]:
        return [(g, c) for g in range(len(self.manifest["grid"])) for c in range(self.n_chunks())]

    def chunk_files(self) -> dict[tuple[int, int], Path]:
        """Finished chunk files by (grid_index, chunk_index); stray files are refused."""
        out = {}
        n_grid, n_chunks = len(self.manifest["grid"]), self.n_chunks()
        for p in sorted(self.path.iterdir()):
            if p.name in _RESERVED or p.name.startswith("."):
                continue  # hidden files: locks and temporaries
            m = _CHUNK.match(p.name)
            if m is None:
                raise ValueError(f"unexpected file {p} in sweep directory {self.path}")
            g, c = int(m.group(1)), int(m.group(2))
            if g >= n_grid or c >= n_chunks:
                raise ValueError(
                    f"chunk file {p} does not belong to this sweep ({n_grid} grid points, "
                    f"{n_chunks} chunks)"
                )
            out[(g, c)] = p
        return out

    def schema(self) -> list[list[str]] | None:
        """The column names and types every chunk must have (None before the first chunk)."""
        file = self.path / SCHEMA
        if not file.is_file():
            return None
        try:
            return json.loads(file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"corrupt sweep schema {file}: {e}") from None

    def read_chunk(self, grid_index: int, chunk_index: int, file: Path) -> pa.Table:
        """Read one chunk and check it in full (fingerprint, schema, grid index, seeds)."""
        try:
            table = pq.read_table(file)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types
            raise ValueError(
                f"corrupt chunk file {file} ({type(e).__name__}: {e}); delete it and rerun to "
                "recompute that chunk"
            ) from None
        meta = table.schema.metadata or {}
        if meta.get(META_KEY, b"").decode() != self.manifest["fingerprint"]:
            raise ValueError(
                f"chunk file {file} belongs to another sweep (its fingerprint is not this "
                "manifest's); delete it and rerun"
            )
        table = table.replace_schema_metadata(None)
        expected = self.schema()
        if expected is None or _schema_of(table) != expected:
            raise ValueError(
                f"chunk file {file} has other columns or types than {self.path / SCHEMA}; "
                "delete it and rerun"
            )
        seeds = table.column("seed").to_pylist()
        grid = set(table.column("grid_index").to_pylist())
        if seeds != self._expected_seeds(chunk_index) or grid != {grid_index}:
            raise ValueError(
                f"chunk file {file} holds rows of other runs than its name says; delete it "
                "and rerun"
            )
        return table

    def check(self) -> None:
        """Read every finished chunk once (``ValueError`` on the first bad one)."""
        for (g, c), f in self.chunk_files().items():
            self.read_chunk(g, c, f)

    def done(self) -> set[tuple[int, int]]:
        return set(self.chunk_files())

    def status(self) -> dict[str, list[tuple[int, int]]]:
        """``{"finished": [(g, c), ...], "missing": [...]}`` in chunk order."""
        done = self.done()
        every = self.all_chunks()
        return {
            "finished": [gc for gc in every if gc in done],
            "missing": [gc for gc in every if gc not in done],
        }

    # ------------------------------------------------------------------ writing
    def _ensure_schema(self, table: pa.Table) -> None:
        schema = _schema_of(table)
        with _flock(self.path / _LOCK):
            old = self.schema()
            if old is None:
                _atomic_write_bytes(self.path / SCHEMA, json.dumps(schema, indent=1).encode())
            elif old != schema:
                raise ValueError(
                    f"rows of this run have other columns or types than {self.path / SCHEMA} "
                    f"(this run: {schema}; stored: {old})"
                )

    def write(self, grid_index: int, chunk_index: int, table: pa.Table) -> Path:
        """Write one chunk: to a hidden temporary file, fsync, then atomic rename.

        Call it while holding :meth:`claim` for the chunk (the sweep does).
        """
        table = table.replace_schema_metadata(None)
        self._ensure_schema(table)
        table = table.replace_schema_metadata({META_KEY: self.manifest["fingerprint"].encode()})
        file = self.path / chunk_name(grid_index, chunk_index)
        tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            pq.write_table(table, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, file)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return file

    def load(self) -> pa.Table:
        """All finished rows, sorted by (grid_index, seed order of the manifest)."""
        files = self.chunk_files()
        tables = [self.read_chunk(g, c, files[(g, c)]) for g, c in sorted(files)]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables)


def open_existing(path: str | os.PathLike) -> SweepStore:
    """Open a sweep directory for reading (its own manifest; nothing is written)."""
    return SweepStore(Path(path), read_manifest(path))


def load_results(path: str | os.PathLike) -> pa.Table:
    """Read a sweep directory's rows (finished chunks only, each checked) as a ``pyarrow.Table``.

    >>> table = load_results("runs/a"); cols = table.to_pydict()
    """
    return open_existing(path).load()


def columns(table: pa.Table) -> dict[str, Any]:
    """The table as ``{name: numpy array}`` (strings stay object arrays)."""
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
