"""The ``gradflow`` command line (typer): demo | sweep | plot | info.

Heavy imports (jax, matplotlib) happen inside commands, so ``gradflow --help`` is instant.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

app = typer.Typer(
    help=(
        "gradflow: exact gradient flow of neural networks from small initialisation.\n\n"
        "Times are flow times on the MEAN-loss clock unless a column says 'sum' "
        "(t_sum = t_mean / n)."
    ),
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def demo(
    paper: str = typer.Option(
        "min",
        "--paper",
        "-p",
        help="Which experiment: min (default: two-point toy + mu-separated set, Min et al.), "
        "digits, yu, zhou, du, nguyen-hein.",
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
    from .demos import DEMOS, run_demo

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
    try:
        result = run_demo(paper, out, **kwargs)
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

    from . import __version__

    typer.echo(f"gradflow {__version__}; jax {jax.__version__}; diffrax {diffrax.__version__}; "
               f"equinox {equinox.__version__}")
    typer.echo(f"backend: {jax.default_backend()}; devices: {jax.devices()}")


def _register_optional() -> None:
    try:
        from .sweep.cli import register
    except ImportError:
        return
    register(app)


_register_optional()


def main() -> None:  # console-script entry point
    app()
