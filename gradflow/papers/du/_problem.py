"""Du, Lee & Tian: time to learn a convolutional filter, as a sweep problem (``gradflow sweep du``).

One run (grid point ``{"stride", "dist"}`` and optionally ``"smoothness"``, ``"closeness"``;
one seed): a fixed teacher filter w* (drawn once from ``teacher_seed``: the same w* in every
run of the sweep), n signals of length d from the input law ``dist``
(:func:`gradflow.papers.du.teacher_data`; mean 0, variance 1 per coordinate), labels
y = f_{w*}(x), a student filter w(0) ~ N(0, I/size) drawn from the seed, and gradient flow of
the MEAN square loss (1/2n) sum_i (f_w(x_i) - y_i)^2 stopped when

    |w(t) - w*| <= ``learned`` |w*|      (the event value log|w - w*| - log(learned |w*|)).

The time to learn ``t_learn`` is that event's root-found time (mean-loss clock): EXACT to the
root finder, not to a save grid (the demo interpolates between saves; this does not). NaN:
not learned by ``t1`` (including runs stuck at a spurious point).

Overlap is the grid's ``stride`` (filter size ``size``: stride < size overlaps by
size - stride, and gives k = (d - size) // stride + 1 patches). ``dist`` is the input law
("gaussian", "uniform", "laplace", "mixture" with ``smoothness`` s: +-sqrt(1-s^2) + s N(0,1)),
``closeness`` rho the correlation of non-overlapping patches (needs stride = size).

Row columns:
    t_learn        exact time to |w - w*| <= learned |w*| (NaN: not by t1)
    err_final      |w - w*| / |w*| when the solve ended (at t_learn, or at t1)
    loss_final     mean square loss then
    err_init       |w(0) - w*| / |w*|   (host side)
    k, overlap     patches per signal, size - stride (0 if none)   (host side)
    status (+ status_name), num_steps, ..., grad_evals
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..._validate import integer
from ...flow import AbstractStop, FlowConfig
from ...losses import empirical_loss
from ...models import ConvFilter
from ...sweep import Problem
from ._data import DISTRIBUTIONS, teacher_data


class FilterLearned(AbstractStop):
    """Stop when |w - w*| <= level (value log|w - w*| - log level: well scaled over decades)."""

    w_star: Float[Array, " size"]
    level: float = eqx.field(static=True)
    name: ClassVar[str] = "filter_learned"

    def __call__(self, model, data, loss) -> Array:
        err = jnp.sqrt(jnp.sum((model.w - self.w_star) ** 2))
        return jnp.log(jnp.maximum(err, 1e-300)) - jnp.log(self.level)


class _Row(eqx.Module):
    """The traced row of :class:`TimeToLearnProblem` (compared by value: w* and the loss)."""

    w_star: Float[Array, " size"]

    def __call__(self, traj, model, data) -> dict:
        norm = jnp.sqrt(jnp.sum(self.w_star**2))
        err = jnp.sqrt(jnp.sum((traj.final.w - self.w_star) ** 2)) / norm
        return {
            "t_learn": traj.t_event,
            "err_final": err,
            "loss_final": empirical_loss(traj.final, data.x, data.y, "square", "mean"),
        }


@dataclasses.dataclass(frozen=True)
class TimeToLearnProblem(Problem):
    """``problem(params, key) -> (model, data, options)`` for :func:`gradflow.sweep.sweep`:
    Du et al.'s time to learn a filter, against overlap (``stride``) and input law (``dist``).

    The attributes are fixed over the sweep; the grid gives stride, dist and optionally
    smoothness and closeness.

    Attributes:
        d: signal length.
        size: filter size.
        n: signals per run.
        learned: relative error |w - w*| / |w*| that counts as learned.
        t1: end of the solve (mean-loss clock); not learned by then: t_learn = NaN.
        rtol: solver tolerance.
        max_steps: solver step cap. A run stuck where the flow slides along a ReLU kink
            (a patch pre-activation pinned at 0) makes the bare solver chatter; it ends
            here with status "max_steps" and t_learn = NaN (never learned), in bounded time.
        teacher_seed: the seed of the teacher filter w*.
        smoothness: the input law's smoothness s in (0, 1] ("mixture"), used when the grid
            does not name one.
        closeness: the patch closeness rho in [0, 1), used when the grid does not name one.

    Examples:
        >>> problem = TimeToLearnProblem()
        >>> table = gradflow.sweep.sweep(problem, {"stride": [4, 2], "dist": ["gaussian"]}, 8)
    """

    d: int = 16
    size: int = 4
    n: int = 256
    learned: float = 1e-2
    t1: float = 200.0
    rtol: float = 1e-6
    max_steps: int = 2**16
    teacher_seed: int = 0
    smoothness: float = 0.5
    closeness: float = 0.0
    sweep_name: ClassVar[str] = "du_time_to_learn"

    def __post_init__(self):
        for name in ("d", "size", "n", "max_steps"):
            integer(name, getattr(self, name), 1)
        if self.size > self.d:
            raise ValueError(f"size must be <= d, got size={self.size}, d={self.d}")
        integer("teacher_seed", self.teacher_seed, 0)
        for name in ("learned", "t1", "rtol"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not self.learned < 1:
            raise ValueError(f"learned must be < 1 (a relative error), got {self.learned!r}")
        object.__setattr__(self, "_cache", {})

    def teacher(self) -> Float[Array, " size"]:
        """The teacher filter w* ~ N(0, I/size) of ``teacher_seed`` (the same in every run)."""
        return ConvFilter.gaussian(self.d, self.size, self.size,
                                   key=jax.random.key(self.teacher_seed)).w

    def _shared(self) -> tuple[Any, FilterLearned, _Row]:
        """w*, the stop and the row: built once, so every run shares one compiled kernel."""
        cache: dict = self._cache  # type: ignore[attr-defined]
        if "w" not in cache:
            w = self.teacher()
            level = self.learned * float(jnp.linalg.norm(w))
            cache.update(w=w, stop=FilterLearned(w, level), row=_Row(w))
        return cache["w"], cache["stop"], cache["row"]

    def default_grid(self) -> dict[str, list]:
        return {"stride": [4, 3, 2], "dist": ["gaussian", "uniform", "laplace", "mixture"]}

    def __call__(self, params: dict, key) -> tuple[ConvFilter, Any, dict]:
        stride = integer("stride", params["stride"], 1)
        dist = str(params.get("dist", "gaussian"))
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"dist must be one of {DISTRIBUTIONS}, got {dist!r}")
        smooth = float(params.get("smoothness", self.smoothness))
        close = float(params.get("closeness", self.closeness))
        if close > 0 and stride != self.size:
            raise ValueError(
                f"closeness > 0 needs non-overlapping patches (stride = size = {self.size}), "
                f"got stride={stride}"
            )
        w_star, stop, row = self._shared()
        teacher = ConvFilter.from_filter(w_star, d=self.d, stride=stride)
        k_data, k_init = jax.random.split(key)
        data = teacher_data(teacher, self.n, dist, smoothness=smooth, closeness=close,
                            key=k_data)
        student = ConvFilter.gaussian(self.d, self.size, stride, key=k_init)
        norm = float(jnp.linalg.norm(w_star))
        extra = {
            "err_init": float(jnp.linalg.norm(student.w - w_star)) / norm,
            "k": float(teacher.k),
            "overlap": float(max(self.size - stride, 0)),
        }
        options = dict(
            t1=self.t1, loss="square", reduction="mean", saveat=2, stop=stop,
            config=FlowConfig(rtol=self.rtol, max_steps=self.max_steps), row=row, extra=extra,
        )
        return student, data, options

    def summary(self, table, **options: str) -> list[str]:
        from ._figures import time_to_learn_summary  # noqa: PLC0415

        return super().summary(table) + time_to_learn_summary(table, self.learned)

    def figures(self, table, folder, **options: str) -> list:
        from ._figures import time_to_learn_figure  # noqa: PLC0415

        path = folder / "du_time_to_learn.png"
        time_to_learn_figure(table, path, learned=self.learned)
        return [path]
