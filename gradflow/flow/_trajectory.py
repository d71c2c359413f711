"""Trajectory: what one gradient-flow (or GD) run returns, and its readable status."""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._version import __version__
from . import _archive


class Status(enum.IntEnum):
    """Outcome of a solve. Every member carries the message a user reads (``.message``)."""

    SUCCESS = 0
    EVENT = 1
    MAX_STEPS = 2
    NONFINITE = 3
    FAILED = 4
    MAX_EVENTS = 5
    STIFF = 6
    PRECISION = 7

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def ok(self) -> bool:
        """True when the run reached its end time or stopped on its requested event."""
        return self in (Status.SUCCESS, Status.EVENT)

    def __str__(self) -> str:
        """``print(traj.status)`` -> ``SUCCESS: reached t1``."""
        return f"{self.name}: {self.message}"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else int(self).__format__(spec)


_MESSAGES = {
    Status.SUCCESS: "reached t1",
    Status.EVENT: "stopped early: the requested stop condition was met",
    Status.MAX_STEPS: (
        "did NOT reach t1: max_steps exhausted; if t_final is far below t1 with few rejected "
        "steps the flow is stiff (large init with square loss?): try solver='kvaerno5', "
        "else raise FlowConfig.max_steps"
    ),
    Status.NONFINITE: (
        "did NOT reach t1: the state, loss or gradient became non-finite (NaN/inf) at "
        "t_final: a blow-up (init scale too large for the loss?) or NaN/inf in the model"
    ),
    Status.FAILED: "did NOT reach t1: the solver failed (e.g. an implicit step did not converge)",
    Status.MAX_EVENTS: "did NOT reach t1: too many activation switches (max_events cap)",
    Status.STIFF: (
        "did NOT reach t1: the step size collapsed (< 1e-14 t) with a finite gradient: the "
        "flow is stiff or blows up in finite time (init scale too large?); try a smaller "
        "init, solver='kvaerno5' or a looser rtol"
    ),
    Status.PRECISION: (
        "did NOT reach t1: the step size collapsed because rtol is within 1000x of the "
        "state's float resolution; loosen rtol or run in float64 (jax_enable_x64)"
    ),
}

# a step below this fraction of max(|t|, 1) cannot advance the clock meaningfully
TINY_STEP = 1e-14


def collapse_status(rtol: float, dtype) -> Status:
    """Why a step size collapsed with a finite state: PRECISION when ``rtol`` is within
    1000x of the dtype's machine epsilon (rounding dominates the error estimate), else STIFF
    (stiffness or a finite-time blow-up). A non-finite state is NONFINITE (status_code)."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return Status.PRECISION if rtol < 1e3 * eps else Status.STIFF


def all_finite(tree) -> Array:
    """True when every entry of every array leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def status_code(code, final_params, final_loss) -> Int[Array, ""]:
    """The ONE status rule: ``code`` (a :class:`Status` the loop ended with), overridden by
    NONFINITE when the final state or loss is not finite."""
    finite = jnp.isfinite(final_loss) & all_finite(final_params)
    return jnp.where(finite, code, Status.NONFINITE).astype(jnp.int32)


def make_stats(num_steps, num_accepted, grad_evals, **extra) -> dict[str, Array]:
    """The ONE stats dict: steps, accepted, rejected, gradient evaluations (+ mode extras)."""
    stats = {
        "num_steps": jnp.asarray(num_steps),
        "num_accepted": jnp.asarray(num_accepted),
        "num_rejected": jnp.asarray(num_steps) - jnp.asarray(num_accepted),
        "grad_evals": jnp.asarray(grad_evals),
    }
    stats.update({k: jnp.asarray(v) for k, v in extra.items()})
    return stats


class Trajectory(eqx.Module):
    """A saved gradient-flow (or GD) run.

    Attributes:
        ts: (T,) saved times on the ``clock`` of the loss ("mean": t_mean, "sum": t_sum,
            with t_sum = t_mean / n). Slots after an early stop are ``inf``.
        ys: the trainable float leaves of the model (``eqx.partition``), each stacked over the
            T saved times; the rest of the model (functions, frozen leaves) is ``static``.
            Use :attr:`model` (all saved times at once) or :meth:`at` (one time).
        summary: ``fn(t, model)`` stacked over the saved times (``None`` without ``fn``).
        loss: (T,) loss at the saved times (``inf`` in unused slots, so after an early stop
            ``loss[-1]`` is ``inf``: read :attr:`final_loss` instead).
        final: the model at the last time reached (``t_final``).
        final_loss: the loss of ``final`` (at ``t_final``), finite unless the run diverged.
        t_final: time reached; equals t1 unless the run stopped early or failed.
        t_event: time of the stop event (root-found), NaN if none occurred.
        result: integer status code; read it as ``traj.status`` (a :class:`Status`).
        stats: num_steps, num_accepted, num_rejected, grad_evals (int arrays); the
            kink-aware mode adds num_switches, num_kink_stops, num_merged_steps and
            num_merge_attempts.
        events: ``None`` for the bare solve; with ``FlowConfig(kinks="track")`` a
            ``SwitchLog`` of every activation switch (time, neuron, sample, direction).
        static: the non-trainable part of the model (``None`` where ``ys`` has arrays).
        clock: "mean" or "sum": the loss reduction whose flow time ``ts`` measures.
        method: "gf" (exact flow) or "gd" (discrete steps at t = eta * k).
        mode: which engine ran: "bare" (straight through kinks), "kinks" (kink-aware,
            piecewise smooth) or "gd".
        mode_reason: why ``solve_flow`` chose that mode (e.g. "auto: rtol 0.001 >= AUTO_RTOL
            0.0002, bare is cheaper"); shown by :meth:`describe`.
        provenance: how the run was made, a JSON string that ``solve_flow`` / ``gd`` fill
            in (config, loss, data shapes and hash, t0/t1, version; the hash is computed
            when first read). Read it as :attr:`metadata` (a dict).

    Save it with :meth:`save`, read it back with :func:`~gradflow.flow.load_trajectory`,
    and turn it into columns with :meth:`to_table`.
    """

    ts: Float[Array, " T"]
    ys: Any
    summary: Any
    loss: Float[Array, " T"]
    final: Any
    t_final: Float[Array, ""]
    t_event: Float[Array, ""]
    result: Int[Array, ""]
    stats: dict[str, Array]
    events: Any = None
    static: Any = None
    final_loss: Any = None
    clock: str = eqx.field(static=True, default="mean")
    method: str = eqx.field(static=True, default="gf")
    mode: str = eqx.field(static=True, default="bare")
    mode_reason: str = eqx.field(static=True, default="")
    _provenance: _archive.Provenance = eqx.field(
        static=True, default="", converter=_archive.as_provenance
    )

    @property
    def provenance(self) -> str:
        """How the run was made, a JSON string ("" when built by hand).

        ``solve_flow`` / ``gd`` fill it in: the config fields, the loss, the data's
        shapes/dtypes and content hash (sha256 of x and y, for data up to 2**20 entries),
        t0/t1, the gradflow version; :attr:`metadata` is the parsed dict. The record is
        static (it survives jit/vmap), and the data's hash is computed the first time this,
        :attr:`metadata` or :meth:`save` is read, never by the solve itself (until then the
        record holds a reference to ``data.x`` and ``data.y``).
        """
        return self._provenance.text

    @property
    def metadata(self) -> dict[str, Any]:
        """How the run was made (the parsed :attr:`provenance`), plus clock, method, mode
        and mode_reason; ``{}``-based when the Trajectory was built by hand."""
        meta = json.loads(self.provenance) if self.provenance else {}
        meta.update(clock=self.clock, method=self.method, mode=self.mode)
        meta["mode_reason"] = self.mode_reason
        return meta

    @property
    def model(self) -> Any:
        """The model with every trainable leaf stacked over the T saved times (leading axis);
        ``None`` when a summary ``fn`` was saved instead."""
        return None if self.ys is None else eqx.combine(self.ys, self.static)

    @property
    def status(self) -> Status:
        """Readable status (for a single run; use ``statuses`` for a batch)."""
        r = np.asarray(self.result)
        if r.ndim:
            raise ValueError("batched Trajectory: use .statuses for one status per run")
        return Status(int(r))

    @property
    def statuses(self) -> list[Status]:
        return [Status(int(r)) for r in np.asarray(self.result).ravel()]

    @property
    def saved(self) -> Array:
        """Boolean mask of the real (filled) save slots."""
        return jnp.isfinite(self.ts)

    def at(self, i: int) -> Any:
        """The model at saved index ``i`` (``ts[i]``)."""
        if self.ys is None:
            raise ValueError("this Trajectory saved summaries only (fn=...), not models")
        return eqx.combine(jax.tree_util.tree_map(lambda a: a[i], self.ys), self.static)

    def describe(self) -> str:
        """One line: status, time reached, steps, gradient evaluations (counts for a batch)."""
        if np.ndim(self.result):
            counts: dict[str, int] = {}
            for st in self.statuses:
                counts[st.name.lower()] = counts.get(st.name.lower(), 0) + 1
            evals = np.asarray(self.stats["grad_evals"])
            return (
                f"{len(self.statuses)} runs: "
                + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                + f"; grad evals median {np.median(evals):.0f}, max {np.max(evals)}"
                + f" [{self.clock} clock, {self.mode}]"
            )
        s = {k: int(np.asarray(v)) for k, v in self.stats.items()}
        return (
            f"{self.status.name.lower()} ({self.status.message}); t_final={float(self.t_final):.4g}"
            f" [{self.clock} clock, {self.mode}"
            + (f" ({self.mode_reason})" if self.mode_reason else "")
            + f"]; steps={s.get('num_steps')} "
            f"(accepted {s.get('num_accepted')}, rejected {s.get('num_rejected')}), "
            f"grad evals={s.get('grad_evals')}"
        )

    def __str__(self) -> str:
        return f"Trajectory({self.describe()})"

    def save(
        self,
        path: str | os.PathLike,
        *,
        config: Any = None,
        loss: Any = None,
        data: Any = None,
    ) -> Path:
        """Write the trajectory to ONE ``.npz`` file; read it with ``load_trajectory``.

        Stores every array leaf (times, losses, the stacked trainable leaves, the final
        model's arrays, stats, summaries, event log; batched runs keep their seed axis) and
        a JSON header: clock/method/mode/mode_reason, status, stats, the gradflow version and
        the :attr:`metadata`. ``config`` (a FlowConfig), ``loss`` and ``data`` (a Dataset)
        override the descriptions ``solve_flow`` attached; ``data`` adds a sha256 of x and y
        whatever its size (``solve_flow`` hashes data up to 2**20 entries itself). Functions
        inside the model (e.g. ``eqx.nn.MLP``'s activation) are not stored: give
        ``load_trajectory`` a ``like`` template to get modules back. The write is atomic.

        >>> traj.save("run.npz"); load_trajectory("run.npz", like=model).final_loss
        """
        meta = json.loads(self.provenance) if self.provenance else {}
        if config is not None:
            meta["config"] = _archive.describe_config(config)
        if loss is not None:
            meta["loss"] = _archive.describe_callable(loss)
        if data is not None:
            meta["data"] = _archive.describe_data(data, hash_max=None)
        meta["gradflow_version"] = __version__
        header = {
            "clock": self.clock,
            "method": self.method,
            "mode": self.mode,
            "mode_reason": self.mode_reason,
            "provenance": meta,
            "status": [s.name for s in self.statuses],
            "batch_shape": list(np.shape(self.result)),
            "stats": {k: np.asarray(v).tolist() for k, v in self.stats.items()},
        }
        return _archive.write(path, self, header)

    def to_table(self, *, norms: bool = True) -> dict[str, np.ndarray]:
        """Columns (NumPy arrays of equal length), one row per filled save slot.

        Columns: ``seed`` (batched runs only: the flat index over the leading batch axes),
        ``t``, ``loss``, ``status`` (the run's status name, repeated), with ``norms`` one
        ``norm.<leaf>`` per trainable leaf (Frobenius norm ||theta_leaf(t)||), and one
        ``summary.<name>`` per summary leaf that is a number per saved time. Pass it to
        ``pandas.DataFrame(...)`` or ``pyarrow.table(...)``.

        >>> traj.to_table()["loss"]
        """
        ts = np.asarray(self.ts)
        batch = ts.shape[:-1]
        runs, n_t = int(np.prod(batch)), ts.shape[-1]
        mask = np.isfinite(ts.reshape(runs, n_t))
        cols: dict[str, np.ndarray] = {}
        if batch:
            cols["seed"] = np.broadcast_to(np.arange(runs)[:, None], (runs, n_t))[mask]
        cols["t"] = ts.reshape(runs, n_t)[mask]
        cols["loss"] = np.asarray(self.loss).reshape(runs, n_t)[mask]
        names = np.array([s.name for s in self.statuses])
        cols["status"] = np.broadcast_to(names[:, None], (runs, n_t))[mask]

        def add(prefix: str, tree: Any, reduce: bool) -> None:
            for keypath, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                a = np.asarray(leaf)
                if a.shape[: len(batch) + 1] != (*batch, n_t) or (not reduce and a.ndim > ts.ndim):
                    continue
                a = a.reshape(runs, n_t, -1)
                col = np.linalg.norm(a, axis=-1) if reduce else a[..., 0]
                name = _archive.leaf_name(keypath)
                cols[f"{prefix}.{name}" if name else prefix] = col[mask]

        if norms and self.ys is not None:
            add("norm", self.ys, True)
        if self.summary is not None:
            add("summary", self.summary, False)
        return cols


def build_trajectory(
    *,
    ts: Float[Array, " T"],
    ys: Any,
    static: Any,
    fn: Any,
    loss_of: Any,
    final_ys: Any,
    t_final: Array,
    t_event: Array,
    code: Array,
    stats: dict[str, Array],
    events: Any = None,
    clock: str,
    method: str,
    mode: str,
) -> Trajectory:
    """The ONE Trajectory builder (bare solve, kink-aware solve and GD).

    ``ys``: trainable leaves stacked over the save slots; a slot with a non-finite time is
    unused. Computes the loss (``loss_of(params)``) and the summary ``fn(t, model)`` at
    every slot, and the final model and status.
    """
    filled = jnp.isfinite(ts)

    def view(t, p):
        m = eqx.combine(p, static)
        return (None if fn is None else fn(t, m)), loss_of(p)

    summary, loss = jax.vmap(view)(ts, ys)
    final_loss = loss_of(final_ys)
    return Trajectory(
        ts=ts,
        ys=ys if fn is None else None,
        summary=summary,
        loss=jnp.where(filled, loss, jnp.inf),
        final=eqx.combine(final_ys, static),
        t_final=t_final,
        t_event=t_event,
        result=status_code(code, final_ys, final_loss),
        stats=stats,
        events=events,
        static=static,
        final_loss=final_loss,
        clock=clock,
        method=method,
        mode=mode,
    )
