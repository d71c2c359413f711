"""The ``gradflow`` command line (typer): demo | sweep | plot | info | --version.

The only module that imports typer and the papers. Heavy imports (jax, matplotlib, pyarrow,
the paper packages) happen inside commands, so ``gradflow --help`` is instant; the demo
table (:data:`gradflow.papers.DEMOS`) names modules only, it imports no paper.
"""

from __future__ import annotations

import time
from pathlib import Path

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

    typer.echo(f"gradflow {__version__}; jax {jax.__version__}; diffrax {diffrax.__version__}; "
               f"equinox {equinox.__version__}")
    typer.echo(f"backend: {jax.default_backend()}; devices: {jax.devices()}")


def _floats(text: str, name: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{name} must be a comma-separated list of numbers") from None
    if not vals:
        raise typer.BadParameter(f"{name} must hold at least one value")
    return vals


def _ints(text: str, name: str) -> list[int]:
    """A comma-separated list of integers; ``2.5`` or ``1e3`` is refused, not truncated."""
    vals = []
    for v in (v.strip() for v in text.split(",")):
        if not v:
            continue
        try:
            vals.append(int(v))
        except ValueError:
            raise typer.BadParameter(
                f"{name} must be a comma-separated list of integers, got {v!r}"
            ) from None
    if not vals:
        raise typer.BadParameter(f"{name} must hold at least one value")
    return vals


def _status_counts(names) -> str:
    """``"62 success, 2 nonfinite"``: every status name and how often it occurred."""
    import numpy as np  # noqa: PLC0415

    values, counts = np.unique(np.asarray(names, dtype=str), return_counts=True)
    return ", ".join(f"{c} {v}" for v, c in zip(values, counts, strict=True))


@app.command("sweep")
def sweep_command(
    n: str = typer.Option("10,30,100", "--n", help="Comma-separated data sizes n."),
    mu: str = typer.Option("0.1,0.3,0.7", "--mu", help="Comma-separated separations mu in (0,1)."),
    family: str = typer.Option(
        "cone,cluster", "--family", help="Data families: cone (evenly on a cone), cluster."
    ),
    seeds: int = typer.Option(64, "--seeds", help="Seeds per grid point (0..seeds-1)."),
    out: Path = typer.Option(..., "--out", "-o", help="Results directory (resumes if rerun)."),
    h: int = typer.Option(20, help="Width h."),
    d: int = typer.Option(10, help="Input dimension d."),
    eps: float = typer.Option(1e-6, help="Init scale eps (balanced init)."),
    delta: float = typer.Option(1e-2, help="Alignment: cos(w_j, x_sign(v_j)) >= 1 - delta."),
    rtol: float = typer.Option(1e-6, help="Solver rtol."),
    t_end: float = typer.Option(200.0, help="End (mean clock) of the loss/rank solve."),
    strategy: str = typer.Option("auto", help="auto | map | vmap | shard_map | loop."),
    chunk_size: int = typer.Option(0, help="Runs a chunk (0: backend default)."),
    x64: bool = typer.Option(True, help="Run in float64."),
) -> None:
    """Measure Min et al.'s alignment time over n x mu x family x seeds; rows to OUT.

    Times are on the mean-loss clock (columns *_mean) and the sum-loss clock (*_sum,
    t_sum = t_mean / n). Exit code 1 if any run failed (status not success/event).
    """
    import jax  # noqa: PLC0415

    jax.config.update("jax_enable_x64", x64)
    import numpy as np  # noqa: PLC0415

    from .papers.min_mallada_vidal import AlignmentProblem  # noqa: PLC0415
    from .sweep import sweep  # noqa: PLC0415

    ns = _ints(n, "--n")
    fams = [f.strip() for f in family.split(",") if f.strip()]
    try:
        problem = AlignmentProblem(
            d=d,
            h=h,
            eps=eps,
            delta=delta,
            rtol=rtol,
            t_end=t_end,
            loss_times=tuple(t for t in (10.0, 50.0, 200.0) if t <= t_end) or (t_end,),
        )
        table = sweep(
            problem,
            {"n": ns, "mu": _floats(mu, "--mu"), "family": fams},
            seeds,
            strategy=strategy,
            out=str(out),
            chunk_size=chunk_size or None,
            progress=True,
        )
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    c = table.to_pydict()
    status = np.asarray(c["status_name"])
    t = np.asarray(c["t_align_mean"], float)
    b = np.asarray(c["bound_t1_mean"], float)
    bad = int(np.sum(~np.isin(status, ["success", "event"])))
    typer.echo(
        f"{len(t)} runs in {out}: {int(np.isfinite(t).sum())} aligned, "
        f"{int(np.sum(np.isfinite(t) & (t <= b)))} under the bound, {bad} failed solves; "
        f"median t_align = {np.nanmedian(t):.4g} (mean clock), median t/t1 = "
        f"{np.nanmedian(t / b):.3g}"
    )
    typer.echo(f"status: {_status_counts(status)}")
    if bad:
        raise typer.Exit(1)


@app.command("plot")
def plot_command(
    directory: Path = typer.Argument(..., help="A sweep results directory."),
    clock: str = typer.Option("mean", help="mean or sum (t_sum = t_mean / n)."),
    png: Path = typer.Option(None, "--png", help="Output PNG (default DIR/alignment.png)."),
) -> None:
    """Plot alignment time vs log n / sqrt(mu): points, quantiles, bound, fits; print fits."""
    from .papers.min_mallada_vidal import plot, summarize  # noqa: PLC0415

    try:
        s = summarize(directory, clock)
        path = png or Path(directory) / "alignment.png"
        plot(directory, clock=clock, path=path)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    pw = s["power"]
    typer.echo(
        f"{s['runs']} runs ({clock} clock): c = {s['const'].c:.4g} in t = c log n/sqrt(mu); "
        f"fraction under the bound {s['fraction_under_bound']:.3f}; median t/t1 "
        f"{s['ratio_median']:.3g}"
        + (f"; power law t ~ n^{pw.a:.3f} mu^{pw.b:.3f}" if pw is not None else "")
    )
    typer.echo(f"wrote {path}")


def main() -> None:  # console-script entry point
    app()
