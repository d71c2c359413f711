"""Sweep results on disk: a manifest JSON plus one Parquet file per finished chunk.

Layout of a sweep directory::

    DIR/manifest.json                  the sweep's identity: name, grid, seeds, chunk size,
                                       config (written once; a rerun must match it)
    DIR/chunk-g0003-c00012.parquet     rows of grid point 3, seeds of chunk 12

Why Parquet (pyarrow): typed columns (ints stay ints, NaN stays NaN), one file per chunk
reads back in one call, and a half-written file is detectable. A chunk is written to a
temporary file in the same directory and moved into place with ``os.replace`` (atomic on
POSIX), so a sweep killed at any moment (SIGKILL included) leaves only complete chunk files;
it loses at most the chunk in flight. A rerun keeps every finished chunk and computes the
rest, so no row is ever duplicated. A directory whose manifest does not match the requested
sweep, or whose files cannot be read, is refused with a ``ValueError`` saying what is wrong.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMAT = "gradflow-sweep"
VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = re.compile(r"^chunk-g(\d{4,})-c(\d{5,})\.parquet$")
_IDENTITY = ("name", "grid", "seeds", "chunk_size", "config")


def chunk_name(grid_index: int, chunk_index: int) -> str:
    return f"chunk-g{grid_index:04d}-c{chunk_index:05d}.parquet"


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so comparisons see what a rerun will read back."""
    return json.loads(json.dumps(obj, sort_keys=True, default=_default))


def _default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / jax scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in a sweep manifest: {o!r}")


def make_manifest(
    *, name: str, grid: list[dict], seeds: list[int], chunk_size: int, config: dict
) -> dict:
    """The manifest of a sweep (JSON-compatible; what a rerun must match)."""
    return _jsonable(
        {
            "format": FORMAT,
            "version": VERSION,
            "name": name,
            "grid": grid,
            "seeds": [int(s) for s in seeds],
            "chunk_size": int(chunk_size),
            "config": config,
        }
    )


def read_manifest(path: str | os.PathLike) -> dict:
    """Read and check ``DIR/manifest.json``; ``ValueError`` if missing or corrupt."""
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        raise ValueError(f"{path} is not a gradflow sweep directory: no {MANIFEST}")
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
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
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)


class SweepStore:
    """A sweep directory opened for one sweep: which chunks are done, write the next one.

    >>> store = SweepStore.open("runs/a", manifest)   # creates, or checks it matches
    >>> store.done()                                   # {(grid_index, chunk_index), ...}
    >>> store.write(0, 3, table)                       # atomic
    """

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | os.PathLike, manifest: dict) -> SweepStore:
        """Create ``path`` for ``manifest``, or reopen it to resume if the manifests match."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"sweep output {path} exists and is not a directory")
        if (path / MANIFEST).exists():
            old = read_manifest(path)
            diff = [k for k in _IDENTITY if old[k] != manifest[k]]
            if diff:
                raise ValueError(
                    f"{path} holds a different sweep (manifest differs in {diff}); use a new "
                    "--out directory, or delete this one to start over"
                )
        else:
            if path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()):
                raise ValueError(
                    f"{path} is not empty and has no {MANIFEST}; refusing to write a sweep into it"
                )
            path.mkdir(parents=True, exist_ok=True)
            _atomic_write_bytes(
                path / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode()
            )
        store = cls(path, manifest)
        store.check()
        return store

    def _expected_seeds(self, grid_index: int, chunk_index: int) -> list[int]:
        cs = self.manifest["chunk_size"]
        return self.manifest["seeds"][chunk_index * cs : (chunk_index + 1) * cs]

    def chunk_files(self) -> dict[tuple[int, int], Path]:
        """Finished chunk files by (grid_index, chunk_index); stray files are refused."""
        out = {}
        n_grid = len(self.manifest["grid"])
        cs = self.manifest["chunk_size"]
        n_chunks = -(-len(self.manifest["seeds"]) // cs)
        for p in sorted(self.path.iterdir()):
            if p.name == MANIFEST or p.name.startswith("."):
                continue  # hidden files: temporaries of a killed writer
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

    def read_chunk(self, grid_index: int, chunk_index: int, file: Path) -> pa.Table:
        try:
            table = pq.read_table(file)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types
            raise ValueError(
                f"corrupt chunk file {file} ({type(e).__name__}: {e}); delete it and rerun to "
                "recompute that chunk"
            ) from None
        if "seed" not in table.column_names or "grid_index" not in table.column_names:
            raise ValueError(f"corrupt chunk file {file}: no seed/grid_index column")
        seeds = table.column("seed").to_pylist()
        grid = set(table.column("grid_index").to_pylist())
        if seeds != self._expected_seeds(grid_index, chunk_index) or grid != {grid_index}:
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

    def write(self, grid_index: int, chunk_index: int, table: pa.Table) -> Path:
        """Write one chunk: to a hidden temporary file, fsync, then atomic rename."""
        file = self.path / chunk_name(grid_index, chunk_index)
        tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, file)
        return file

    def load(self) -> pa.Table:
        """All finished rows, sorted by (grid_index, seed order of the manifest)."""
        files = self.chunk_files()
        tables = [self.read_chunk(g, c, files[(g, c)]) for g, c in sorted(files)]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default")


def load_results(path: str | os.PathLike) -> pa.Table:
    """Read a sweep directory's rows (finished chunks only) as a ``pyarrow.Table``.

    >>> table = load_results("runs/a"); cols = table.to_pydict()
    """
    manifest = read_manifest(path)
    return SweepStore(Path(path), manifest).load()


def columns(table: pa.Table) -> dict[str, Any]:
    """The table as ``{name: numpy array}`` (strings stay object arrays)."""
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
