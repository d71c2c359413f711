"""The ``gradflow`` command line (typer): demo | sweep | plot | info | --version.

The only module that imports typer and the papers. Heavy imports (jax, matplotlib, pyarrow,
the paper packages) happen inside commands, so ``gradflow --help`` is instant; the demo
table (:data:`gradflow.papers.DEMOS`) names modules only, it imports no paper.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from . import __version__
from .papers import DEMOS, demo_help, run_demo

app = typer.Typer(
    help=(
        "gradflow: exact gradient flow of neural networks from small initialisation.\n\n"
        "Times are flow times on the MEAN-loss clock unless a column says 'sum' "
        "(t_sum = t_mean / n)."
    ),
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradflow {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


@app.command()
def demo(
    paper: str = typer.Option(
        "min",
        "--paper",
        "-p",
        help="Which experiment (default min): " + demo_help() + ".",
    ),
    out: Path = typer.Option(
        Path("gradflow_demo"), "--out", "-o", help="Folder for the figures (created)."
    ),
    mnist: Path | None = typer.Option(
        None, "--mnist", help="(digits only) folder with MNIST IDX files to use instead."
    ),
    x64: bool = typer.Option(True, help="Run in float64 (recommended for tight tolerances)."),
) -> None:
    """Run a short version of a paper's experiment: print a table, write PNG figure(s).

    Exit code 0 when every solve reached its end time (or its stop event), 1 otherwise.
    """
    import jax

    jax.config.update("jax_enable_x64", x64)

    if paper not in DEMOS:
        typer.echo(f"error: unknown --paper {paper!r}; choose one of {sorted(DEMOS)}", err=True)
        raise typer.Exit(2)
    kwargs = {}
    if mnist is not None:
        if paper != "digits":
            typer.echo("error: --mnist only applies to --paper digits", err=True)
            raise typer.Exit(2)
        kwargs["mnist_dir"] = mnist
    start = time.perf_counter()

    def progress(line: str) -> None:
        typer.echo(f"[{paper} {time.perf_counter() - start:6.1f} s] {line}", err=True)

    typer.echo(f"demo '{paper}': expected runtime {DEMOS[paper].runtime}", err=True)
    try:
        result = run_demo(paper, out, progress=progress, **kwargs)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.text)
    for fig in result.figures:
        typer.echo(f"wrote {fig}")
    typer.echo(f"demo '{paper}' finished in {time.perf_counter() - start:.1f} s")
    if not result.ok:
        typer.echo("WARNING: at least one solve did NOT reach its end time (see status).", err=True)
        raise typer.Exit(1)


@app.command()
def info() -> None:
    """Print versions and the JAX devices gradflow would use."""
    import diffrax
    import equinox
    import jax

    typer.echo(f"gradflow {__version__}; jax {jax.__version__}; diffrax {diffrax.__version__}; "
               f"equinox {equinox.__version__}")
    typer.echo(f"backend: {jax.default_backend()}; devices: {jax.devices()}")


EXIT_FAILED_SOLVES, EXIT_USAGE, EXIT_OS = 1, 2, 3


def _problem_arg(spec: str, settings: list[str]):
    """A registered problem name or module:object, built with --set key=value."""
    from .papers import PROBLEMS  # noqa: PLC0415
    from .sweep import Problem, load_object  # noqa: PLC0415

    obj = load_object(spec, PROBLEMS)
    kv = dict(_pairs(settings, "--set"))
    if isinstance(obj, type) and issubclass(obj, Problem):
        return obj.from_settings(kv)
    if kv:
        raise ValueError(f"--set needs a gradflow.sweep.Problem class; {spec} is {obj!r}")
    if isinstance(obj, type) or not callable(obj):
        raise ValueError(f"{spec} is not a problem (a Problem subclass or a callable)")
    return obj


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{flag} takes KEY=VALUE, got {item!r}")
        out.append((key.strip(), value.strip()))
    return out


def _grid(items: list[str], problem) -> dict[str, list]:
    from .sweep import parse_value  # noqa: PLC0415

    grid = {}
    for key, value in _pairs(items, "--grid"):
        v = parse_value(value)
        grid[key] = v if isinstance(v, list) else [v]
    if not grid:
        default: Any = getattr(problem, "default_grid", None)
        grid = dict(default()) if default is not None else {}
    if not grid:
        raise ValueError("give the grid with --grid KEY=V1,V2 (this problem has no default)")
    return grid


def _fail(e: Exception) -> typer.Exit:
    """One line on stderr; exit 3 for an OS error (naming the path), 2 for a bad argument."""
    if isinstance(e, OSError):
        where = e.filename if e.filename is not None else ""
        typer.echo(f"error: {e.strerror or e}: {where}".rstrip(": "), err=True)
        return typer.Exit(EXIT_OS)
    typer.echo(f"error: {e}", err=True)
    return typer.Exit(EXIT_USAGE)


def _print_status(directory: Path) -> None:
    from .sweep import open_existing  # noqa: PLC0415

    store = open_existing(directory)
    st = store.status()
    runs = store.manifest["chunk_size"]
    typer.echo(
        f"{directory}: problem {store.manifest.get('problem_ref', '?')}; "
        f"{len(st['finished'])} of {len(st['finished']) + len(st['missing'])} chunks finished "
        f"(<= {runs} runs each)"
    )
    if st["missing"]:
        shown = ", ".join(f"g{g}c{c}" for g, c in st["missing"][:20])
        more = len(st["missing"]) - 20
        typer.echo(f"missing: {shown}" + (f" (+{more} more)" if more > 0 else ""))


def _status_counts(names) -> str:
    """``"62 success, 2 nonfinite"``: every status name and how often it occurred."""
    import numpy as np  # noqa: PLC0415

    values, counts = np.unique(np.asarray(names, dtype=str), return_counts=True)
    return ", ".join(f"{c} {v}" for v, c in zip(values, counts, strict=True))


@app.command("sweep")
def sweep_command(
    problem: str = typer.Argument(
        None, help="A registered problem (alignment, du) or module:object (a Problem or callable)."
    ),
    grid: list[str] = typer.Option(
        [], "--grid", "-g", help="KEY=V1,V2,... (repeat; the product is swept)."
    ),
    settings: list[str] = typer.Option(
        [], "--set", "-s", help="KEY=VALUE: a setting of the problem (repeat)."
    ),
    seeds: int = typer.Option(64, "--seeds", help="Seeds per grid point (0..seeds-1)."),
    out: Path = typer.Option(None, "--out", "-o", help="Results directory (resumes if rerun)."),
    strategy: str = typer.Option("auto", help="auto | map | vmap | shard_map | loop."),
    chunk_size: int = typer.Option(0, help="Runs a chunk (0: backend default)."),
    ray: str = typer.Option(
        None, "--ray", help="Run chunks on Ray worker actors at ADDRESS (auto, host:port, 'local')."
    ),
    status: Path = typer.Option(
        None, "--status", help="Only list the finished and missing chunks of this directory."
    ),
    x64: bool = typer.Option(True, help="Run in float64."),
) -> None:
    """Sweep a problem over --grid x seeds; rows to OUT (Parquet chunks, resumable).

    Exit codes: 0 every solve finished; 1 some solves failed (status not success/event);
    2 a bad argument or a refused directory; 3 an OS error (the path is named).
    """
    if status is not None:
        try:
            _print_status(status)
        except (ValueError, OSError) as e:
            raise _fail(e) from None
        return
    import jax  # noqa: PLC0415

    jax.config.update("jax_enable_x64", x64)
    import numpy as np  # noqa: PLC0415

    from .sweep import RayExecutor, sweep  # noqa: PLC0415

    try:
        if problem is None:
            raise ValueError("give a PROBLEM (or --status DIR)")
        if out is None:
            raise ValueError("give --out DIR")
        prob = _problem_arg(problem, settings)
        executor = "local" if ray is None else RayExecutor(
            address=None if ray == "local" else ray
        )
        table = sweep(
            prob,
            _grid(grid, prob),
            seeds,
            strategy=strategy,
            executor=executor,
            out=str(out),
            chunk_size=chunk_size or None,
            progress=True,
        )
        summary: Any = getattr(prob, "summary", None)
        lines: list[str] = (
            list(summary(table)) if summary is not None else [f"{table.num_rows} runs"]
        )
    except (ValueError, OSError) as e:
        raise _fail(e) from None
    for line in lines:
        typer.echo(line)
    typer.echo(f"rows in {out}")
    status_names = np.asarray(table.column("status_name").to_pylist())
    bad = int(np.sum(~np.isin(status_names, ["success", "event"])))
    typer.echo(f"status: {_status_counts(status_names)}")
    if bad:
        typer.echo(f"WARNING: {bad} solve(s) failed (see status_name).", err=True)
        raise typer.Exit(EXIT_FAILED_SOLVES)


@app.command("plot")
def plot_command(
    directory: Path = typer.Argument(..., help="A sweep results directory."),
    option: list[str] = typer.Option(
        [], "--option", help="KEY=VALUE for the experiment's figures (alignment: clock=sum)."
    ),
    folder: Path = typer.Option(
        None, "--to", help="Folder for the figures (default DIR/figures, kept out of the rows)."
    ),
) -> None:
    """Write the figures of the experiment stored in DIR and print its summary."""
    from .sweep import FIGURES, load_results, problem_from_manifest, read_manifest  # noqa: PLC0415

    try:
        opts = dict(_pairs(option, "--option"))
        table = load_results(directory)
        problem = problem_from_manifest(read_manifest(directory))
        figures: Any = getattr(problem, "figures", None)
        if figures is None:
            raise ValueError(f"the problem of {directory} defines no figures")
        target = folder if folder is not None else Path(directory) / FIGURES
        target.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = list(figures(table, target, **opts))
        summary: Any = getattr(problem, "summary", None)
        lines: list[str] = list(summary(table, **opts)) if summary is not None else []
    except (ValueError, OSError, TypeError) as e:
        raise _fail(e) from None
    for line in lines:
        typer.echo(line)
    for path in paths:
        typer.echo(f"wrote {path}")


def main() -> None:  # console-script entry point
    app()
