"""A small mutation-testing driver for gradflow's numerically critical modules (issue 16).

Why our own: mutmut / cosmic-ray re-run whole test files per mutant; on JAX code every run
pays the import and the XLA compilations, so only a handful of selected, fast tests per module
fits on 2 shared cores. This driver

1. copies the working tree's ``gradflow/``, ``tests/`` and ``pyproject.toml`` to a scratch
   directory (the real files are never touched);
2. generates textual mutants from the AST of the selected functions only: arithmetic
   (+ <-> -, * <-> /, ** -> *, & <-> |), comparisons (< <-> <=, > <-> >=, == <-> !=), unary
   minus / ``~`` / ``not`` removed, numbers changed (x -> 2x, 0 -> 1), reductions swapped
   (max <-> min, maximum <-> minimum, sum <-> mean, any <-> all, negative -> positive),
   ``and`` <-> ``or``; nothing inside ``raise`` statements or f-strings;
3. for every mutant runs the module's OLD tests (``-x``, ``nice -n 10``, a timeout); a mutant
   that survives them is then run against the NEW tests (tests/test_mutation_gaps.py), so
   one pass gives the score before and after the new tests;
4. writes ``benchmarks/results/mutation.json`` (merged per module) and prints a table.

Usage (from the repository root, venv active):

    JAX_PLATFORMS=cpu python benchmarks/mutation/driver.py --module alignment
    python benchmarks/mutation/driver.py --list alignment      # mutants only, no runs
    python benchmarks/mutation/driver.py --report              # table of the JSON

Not a test and not run in CI.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "mutation.json"
NEW = "tests/test_mutation_gaps.py"

# module -> file, functions to mutate ("name" or "Class.method"; nested functions included),
# old tests (fast ones covering the module), new tests.
TARGETS: dict[str, dict] = {
    "losses": dict(
        file="gradflow/losses/_losses.py",
        funcs=["Exp.__call__", "Logistic.__call__", "Square.__call__", "CrossEntropy.__call__",
               "AbstractLoss.slope_at_zero", "reduce", "per_example", "empirical_loss"],
        old=["tests/test_engine.py::test_builtin_losses_by_hand",
             "tests/test_engine.py::test_cross_entropy_and_slopes_by_hand",
             "tests/test_solve.py::test_gradient_matches_finite_differences"],
        new=[NEW + "::test_loss_derivatives_by_hand",
             NEW + "::test_empirical_loss_and_reductions_by_numpy"],
    ),
    "config": dict(
        clear=True,  # used inside the engine's compiled solve: drop stale traces per mutant
        file="gradflow/flow/_config.py",
        funcs=["rms", "FlowConfig.atol_for", "FlowConfig.make_controller"],
        old=["tests/test_solve.py::test_fixed_atol_fails_where_scaled_atol_works",
             "tests/test_solve.py::test_eps_independence_of_relative_error_and_steps"],
        new=[NEW + "::test_atol_rule_by_hand", NEW + "::test_solve_uses_the_documented_atol"],
    ),
    "solve": dict(
        clear=True,
        file="gradflow/flow/_solve.py",
        funcs=["_solve.vector_field", "_solve.value"],
        old=["tests/test_solve.py::test_linear_flow_matches_matrix_exponential"],
        new=[NEW + "::test_solve_uses_the_documented_atol"],
    ),
    "kinks": dict(
        clear=True,
        file="gradflow/flow/_kinks.py",
        # the vector field, the "at zero" tolerance and the tie rule (initial pattern and switch)
        funcs=["_solve_kinks.vf", "_solve_kinks.masked_value", "_solve_kinks.ztol_of",
               "_solve_kinks.switch", "_solve_kinks@init"],
        lines=[(140, 190), (316, 330)],
        old=["tests/test_kinks.py::test_switch_log_matches_patterns_and_no_zeno"],
        new=[NEW + "::test_dead_neuron_on_its_hyperplane_stays_off_in_track_mode"],
    ),
    "alignment": dict(
        file="gradflow/metrics/_alignment.py",
        funcs=["x_plus", "x_minus", "unit", "mu", "cos_to_class", "target_cos",
               "_cos_to_samples", "dead_margin", "alignment_gap", "_cone_scores", "cone_gap",
               "cones", "balancedness", "first_crossing", "_first_alignment"],
        old=["tests/test_metrics.py::test_mu_hand_and_scale_invariance",
             "tests/test_metrics.py::test_cones_on_hand_built_neurons",
             "tests/test_metrics.py::test_balancedness",
             "tests/test_metrics.py::test_first_crossing_interpolates"],
        new=[NEW + "::test_alignment_gap_on_both_sides_of_the_threshold",
             NEW + "::test_dead_neuron_on_its_hyperplane_is_dead_by_hand",
             NEW + "::test_alignment_time_interpolates_hand_built_cosines",
             NEW + "::test_alignment_metrics_match_numpy_definitions",
             NEW + "::test_cones_by_hand_on_every_code",
             NEW + "::test_unit_numpy_branch_and_zero_vector",
             NEW + "::test_zero_readout_targets_the_minus_class",
             NEW + "::test_first_crossing_between_the_first_two_saves_and_its_tolerance"],
    ),
    "bounds": dict(
        file="gradflow/papers/min_mallada_vidal/_bounds.py",
        funcs=["min_bounds", "MinBounds.dwell", "MinBounds.loss_bound",
               "MinBounds.stable_rank_bound"],
        old=["tests/test_theory.py"],
        new=[NEW + "::test_min_bounds_sum_and_mean_fields_by_hand",
             NEW + "::test_min_bounds_asymmetric_zeta1_and_helpers_by_hand",
             NEW + "::test_min_bounds_with_w_max_not_one_and_imbalance_by_hand"],
    ),
    "du": dict(
        file="gradflow/papers/du/_theory.py",
        funcs=["_h", "_h_jvp", "_safe_norm", "relu_kernel_cov", "relu_kernel", "_cross_moment",
               "population_loss", "population_loss_nonoverlap", "DuPopulation.__call__",
               "DuPopulation.loss"],
        old=["tests/test_du.py::test_relu_kernel_matches_monte_carlo",
             "tests/test_du.py::test_population_loss_matches_monte_carlo",
             "tests/test_du.py::test_population_gradient_finite_at_teacher"],
        new=[NEW + "::test_relu_kernel_cov_derivatives_fd_and_hand",
             NEW + "::test_relu_kernel_gradient_fd",
             NEW + "::test_population_loss_gradient_fd",
             NEW + "::test_population_loss_nonoverlap_gradient_fd_and_monte_carlo_free_form",
             NEW + "::test_relu_kernel_degenerate_points"],
    ),
}

# The five bugs planted by hand in issue 16 (three survived the old tests, two were caught
# only by chance), each as an explicit mutant of its module: (module, old text, new text).
PLANTED = [
    ("problem", '"t_cone_sum": t_cone / n', '"t_cone_sum": t_cone * n'),
    ("alignment", "- (1.0 - delta)", "- (1.0 - 2 * delta)"),
    ("du", "return _h(u), (jnp.pi - jnp.arccos", "return _h(u), (jnp.pi + jnp.arccos"),
    ("kinks", "mask = jnp.where(at0, dz0 > 0, mask)", "mask = jnp.where(at0, dz0 >= 0, mask)"),
    ("config", "return self.atol_factor * self.rtol *", "return self.rtol *"),
]
TARGETS["problem"] = dict(
    file="gradflow/papers/min_mallada_vidal/_problem.py", funcs=[],
    old=[], new=[NEW + "::test_alignment_problem_row_sum_columns_are_mean_over_n"],
)
for _name, _old, _new in PLANTED:
    TARGETS[f"planted_{_name}"] = dict(TARGETS[_name], funcs=[], explicit=[(_old, _new)])

BINOPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
          ast.Pow: ("**", "*"), ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&")}
CMPOPS = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
          ast.Eq: ("==", "!="), ast.NotEq: ("!=", "==")}
SWAPS = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum", "sum": "mean",
         "mean": "sum", "any": "all", "all": "any", "argmax": "argmin", "argmin": "argmax",
         "negative": "positive"}


@dataclasses.dataclass
class Mutant:
    line: int
    desc: str
    start: int
    end: int
    text: str

    def apply(self, src: str) -> str:
        return src[: self.start] + self.text + src[self.end :]


def _offsets(src: str) -> list[int]:
    offs, acc = [], 0
    for line in src.splitlines(keepends=True):
        offs.append(acc)
        acc += len(line)
    return offs


def _functions(tree: ast.Module, names: list[str]) -> list[ast.AST]:
    """The AST nodes to mutate: functions by (qualified) name; "f@init" = the statements of
    f that are not nested function definitions (the set-up code of a big function)."""
    found: list[ast.AST] = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                q = f"{prefix}.{child.name}" if prefix else child.name
                if q in names:
                    found.append(child)
                if f"{q}@init" in names and isinstance(child, ast.FunctionDef):
                    found.extend(s for s in child.body if not isinstance(s, ast.FunctionDef))
                visit(child, q)

    visit(tree, "")
    return found


def _excluded(fn: ast.AST) -> set[int]:
    """ids of nodes inside raise statements, f-strings, docstrings and asserts."""
    bad: set[int] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise | ast.JoinedStr | ast.Assert):
            bad.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                bad.update(id(n) for n in ast.walk(first))
    return bad


def mutants(src: str, names: list[str]) -> list[Mutant]:
    tree = ast.parse(src)
    offs = _offsets(src)

    def pos(lineno, col):
        return offs[lineno - 1] + col

    out: list[Mutant] = []
    seen: set[tuple[int, int, str]] = set()

    def add(node, start, end, text, desc):
        key = (start, end, text)
        if key not in seen:
            seen.add(key)
            out.append(Mutant(node.lineno, desc, start, end, text))

    for fn in _functions(tree, names):
        bad = _excluded(fn)
        for node in ast.walk(fn):
            if id(node) in bad:
                continue
            if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
                old, new = BINOPS[type(node.op)]
                a = pos(node.left.end_lineno, node.left.end_col_offset)
                b = pos(node.right.lineno, node.right.col_offset)
                seg = src[a:b]
                k = seg.find(old)
                if old == "*" and seg[k : k + 2] == "**":
                    continue
                if k >= 0:
                    add(node, a + k, a + k + len(old), new, f"{old} -> {new}")
            elif (isinstance(node, ast.Compare) and len(node.ops) == 1
                  and type(node.ops[0]) in CMPOPS):
                old, new = CMPOPS[type(node.ops[0])]
                a = pos(node.left.end_lineno, node.left.end_col_offset)
                b = pos(node.comparators[0].lineno, node.comparators[0].col_offset)
                k = src[a:b].find(old)
                if k >= 0:
                    add(node, a + k, a + k + len(old), new, f"{old} -> {new}")
            elif isinstance(node, ast.UnaryOp) and isinstance(
                node.op, ast.USub | ast.Invert | ast.Not
            ):
                a = pos(node.lineno, node.col_offset)
                b = pos(node.operand.lineno, node.operand.col_offset)
                add(node, a, b, "", f"drop unary {src[a:b].strip()}")
            elif isinstance(node, ast.BoolOp):
                word, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
                a = pos(node.values[0].end_lineno, node.values[0].end_col_offset)
                b = pos(node.values[1].lineno, node.values[1].col_offset)
                k = src[a:b].find(word)
                if k >= 0:
                    add(node, a + k, a + k + len(word), new, f"{word} -> {new}")
            elif (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
                  and not isinstance(node.value, bool)):
                v = node.value
                new = "1" if v == 0 else repr(v + 1) if isinstance(v, int) else repr(2 * v)
                a = pos(node.lineno, node.col_offset)
                b = pos(node.end_lineno, node.end_col_offset)
                add(node, a, b, new, f"{src[a:b]} -> {new}")
            elif isinstance(node, ast.Attribute) and node.attr == "negative":
                b = pos(node.end_lineno, node.end_col_offset)
                add(node, b - len("negative"), b, "positive", "negative -> positive")
            elif isinstance(node, ast.Call):
                f = node.func
                name = (f.attr if isinstance(f, ast.Attribute)
                        else f.id if isinstance(f, ast.Name) else None)
                if name in SWAPS:
                    b = pos(f.end_lineno, f.end_col_offset)
                    add(node, b - len(name), b, SWAPS[name], f"{name} -> {SWAPS[name]}")
    out.sort(key=lambda m: (m.line, m.start))
    return out


def _pytest(workdir: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=str(workdir), JAX_PLATFORMS="cpu")
    cmd = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-m", "not slow", *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0
    dt = time.perf_counter() - t0
    return ("passed" if rc == 0 else "failed" if rc == 1 else f"error{rc}"), dt


def selected(name: str, limit: int | None) -> tuple[str, list[Mutant]]:
    """The module's source and its mutants: line filter, then a seeded random sample."""
    spec = TARGETS[name]
    src = (ROOT / spec["file"]).read_text()
    muts = mutants(src, spec["funcs"])
    for a, b in spec.get("explicit", []):
        k = src.index(a)
        muts.append(Mutant(src[:k].count("\n") + 1, f"planted: {b}"[:40], k, k + len(a), b))
    if "lines" in spec:
        muts = [m for m in muts if any(a <= m.line <= b for a, b in spec["lines"])]
    if limit is not None and len(muts) > limit:  # a seeded random sample, in line order
        keep = sorted(random.Random(0).sample(range(len(muts)), limit))
        muts = [muts[k] for k in keep]
    return src, muts


# ------------------------------------------------------------------------------------------
# in-process runner: ONE Python process imports jax, gradflow and the tests once; each mutant
# re-executes the module's source in its own namespace, rebinds every reference to the old
# objects (re-exports, importers, test modules), clears JAX's compilation caches, and runs
# pytest.main in-process. A watchdog ends a hanging mutant (the parent restarts the worker).
# ------------------------------------------------------------------------------------------


def _swap(modname: str, text: str, path: str, clear: bool) -> None:
    import types  # noqa: PLC0415

    import jax  # noqa: PLC0415

    mod = sys.modules[modname]
    before = dict(mod.__dict__)
    exec(compile(text, path, "exec"), mod.__dict__)  # noqa: S102
    changed = {
        id(v): (v, mod.__dict__[k])
        for k, v in before.items()
        if k in mod.__dict__ and mod.__dict__[k] is not v and not isinstance(v, types.ModuleType)
        and not k.startswith("__")
    }
    for other in list(sys.modules.values()):
        d = getattr(other, "__dict__", None)
        if other is mod or not isinstance(d, dict):
            continue
        for k, v in list(d.items()):
            hit = changed.get(id(v))
            if hit is not None and hit[0] is v:
                d[k] = hit[1]
    if clear:  # jitted code of OTHER modules (the engine) may have inlined the old functions
        jax.clear_caches()


def _worker(name: str, limit: int | None, start: int, out: str, timeout: float,
            indices: list[int] | None = None) -> None:
    import threading  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    spec = TARGETS[name]
    src, muts = selected(name, limit)
    modname = spec["file"][: -len(".py")].replace("/", ".")
    path = str(ROOT / spec["file"])
    args = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", "--no-header"]
    os.chdir(ROOT)
    devnull = open(os.devnull, "w")  # noqa: SIM115

    def run(tests) -> str:
        if not tests:  # no old test selected for this module: it "passes" (kills nothing)
            return "passed"
        real = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            rc = int(pytest.main([*args, *tests]))
        finally:
            sys.stdout, sys.stderr = real
        return "passed" if rc == 0 else "failed" if rc == 1 else f"error{rc}"

    if start == 0:  # baseline: the unmutated module passes both selections
        t0 = time.perf_counter()
        base = ("passed" if indices else run(spec["old"]), run(spec["new"]))
        with open(out, "a") as f:
            f.write(json.dumps({"baseline": base, "seconds": time.perf_counter() - t0}) + "\n")
        if base != ("passed", "passed"):
            return
    else:
        importlib_warm = run(spec["old"])  # import the tests before the first mutant
        del importlib_warm
    clear = bool(spec.get("clear", False))
    todo = [i for i in (indices or range(len(muts))) if i >= start]
    for idx in todo:
        m = muts[idx]
        with open(out, "a") as f:
            f.write(json.dumps({"start": idx}) + "\n")
        timer = threading.Timer(timeout, lambda: os._exit(3))
        timer.start()
        t0 = time.perf_counter()
        _swap(modname, m.apply(src), path, clear)
        try:
            old = "passed" if indices else run(spec["old"])  # a rerun: old tests passed before
            new = run(spec["new"]) if old == "passed" else "-"
        finally:
            _swap(modname, src, path, clear)
        timer.cancel()
        with open(out, "a") as f:
            f.write(json.dumps({"idx": idx, "old": old, "new": new,
                                "seconds": round(time.perf_counter() - t0, 1)}) + "\n")


def run_module_inproc(name: str, limit: int | None, budget: float, timeout: float,
                      indices: list[int] | None = None) -> dict:
    """Run the selected mutants (or only ``indices``: a rerun of survivors on new tests)."""
    spec = TARGETS[name]
    src, muts = selected(name, limit)
    out = Path(tempfile.mkstemp(prefix=f"mut_{name}_", suffix=".jsonl")[1])
    t_start = time.perf_counter()
    done: dict[int, dict] = {}
    start = 0
    while start < len(muts):
        left = budget - (time.perf_counter() - t_start)
        if left <= 0:
            break
        cmd = ["nice", "-n", "10", sys.executable, __file__, "--worker", name, "--start",
               str(start), "--out", str(out), "--timeout", str(timeout)]
        if limit is not None:
            cmd += ["--limit", str(limit)]
        if indices:
            cmd += ["--indices", ",".join(map(str, indices))]
        env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
        try:
            subprocess.run(cmd, env=env, timeout=left + timeout)
        except subprocess.TimeoutExpired:
            pass
        recs = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
        base = [r for r in recs if "baseline" in r]
        if base and tuple(base[0]["baseline"]) != ("passed", "passed"):
            raise SystemExit(f"baseline tests do not pass for {name}: {base[0]}")
        for r in recs:
            if "idx" in r:
                done[r["idx"]] = r
        started = [r["start"] for r in recs if "start" in r]
        last = max(started) if started else -1
        if last >= 0 and last not in done:  # the worker died on this mutant: a hang/crash
            done[last] = {"idx": last, "old": "timeout", "new": "-", "seconds": timeout}
        start = max(done) + 1 if done else len(muts)
        if indices and start > max(indices):
            break
        print(f"[{name}] {len(done)}/{len(muts)} mutants done", flush=True)
    results = []
    for k, m in enumerate(muts):
        line = src.splitlines()[m.line - 1].strip()
        r = done.get(k, {"old": "skipped", "new": "skipped", "seconds": 0.0})
        results.append(dict(line=m.line, desc=m.desc, code=line, old=r["old"], new=r["new"],
                            seconds=r["seconds"]))
    base = [json.loads(x) for x in out.read_text().splitlines() if "baseline" in x]
    out.unlink()
    return dict(file=spec["file"], funcs=spec["funcs"], old_tests=spec["old"],
                new_tests=spec["new"], generated=len(mutants(src, spec["funcs"])),
                baseline_seconds=round(base[0]["seconds"], 1) if base else None,
                mutants=results, seconds=round(time.perf_counter() - t_start, 1))


def run_module(name: str, limit: int | None, budget: float) -> dict:
    spec = TARGETS[name]
    src, muts = selected(name, limit)
    work = Path(tempfile.mkdtemp(prefix=f"mut_{name}_"))
    for part in ("gradflow", "tests"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    target = work / spec["file"]
    t_start = time.perf_counter()
    base_old, t_old = _pytest(work, spec["old"], 1200)
    base_new, t_new = _pytest(work, spec["new"], 1200)
    print(f"[{name}] {len(muts)} mutants; baseline old {base_old} {t_old:.0f}s, "
          f"new {base_new} {t_new:.0f}s", flush=True)
    if base_old != "passed" or base_new != "passed":
        raise SystemExit(f"baseline tests do not pass for {name}")
    results = []
    for m in muts:
        if time.perf_counter() - t_start > budget:
            results.append(dict(line=m.line, desc=m.desc, old="skipped", new="skipped"))
            continue
        target.write_text(m.apply(src))
        old, dt1 = _pytest(work, spec["old"], max(60.0, 3 * t_old))
        new, dt2 = ("-", 0.0)
        if old == "passed":
            new, dt2 = _pytest(work, spec["new"], max(60.0, 3 * t_new))
        target.write_text(src)
        line = src.splitlines()[m.line - 1].strip()
        results.append(dict(line=m.line, desc=m.desc, code=line, old=old, new=new,
                            seconds=round(dt1 + dt2, 1)))
        print(f"  L{m.line:<4} {m.desc:<22} old={old:<8} new={new:<8} {dt1 + dt2:5.1f}s  "
              f"{line[:60]}",
              flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return dict(file=spec["file"], funcs=spec["funcs"], old_tests=spec["old"],
                new_tests=spec["new"], generated=len(mutants(src, spec["funcs"])), mutants=results,
                seconds=round(time.perf_counter() - t_start, 1))


def summarize(name: str, res: dict) -> dict:
    ms = [m for m in res["mutants"] if m["old"] != "skipped"]
    killed_old = sum(m["old"] != "passed" for m in ms)
    killed_new = killed_old + sum(m["old"] == "passed" and m["new"] != "passed" for m in ms)
    n = len(ms)
    return dict(module=name, mutants=n, killed_before=killed_old, killed_after=killed_new,
                before=killed_old / n if n else float("nan"),
                after=killed_new / n if n else float("nan"), seconds=res["seconds"],
                survivors=[(m["line"], m["desc"], m["code"]) for m in ms
                           if m["old"] == "passed" and m["new"] == "passed"])


def report(data: dict) -> None:
    print(f"{'module':<10} {'mutants':>7} {'before':>8} {'after':>8} {'time s':>7}")
    for name, res in data.items():
        s = summarize(name, res)
        print(f"{name:<10} {s['mutants']:>7} {s['before']:>8.1%} {s['after']:>8.1%} "
              f"{s['seconds']:>7.0f}")
        for line, desc, code in s["survivors"]:
            print(f"    survivor L{line}: {desc}   {code[:70]}")


def markdown(data: dict) -> str:
    """The result table (and every survivor) as Markdown, for benchmarks/results/mutation.md."""
    rows = ["| module | file | generated | run | killed before | killed after | before | after "
            "| time s |", "|---|---|---|---|---|---|---|---|---|"]
    surv = []
    for name, res in data.items():
        s = summarize(name, res)
        t = res["seconds"] + res.get("rerun_seconds", 0.0)
        rows.append(f"| {name} | `{res['file']}` | {res.get('generated', '?')} | {s['mutants']} "
                    f"| {s['killed_before']} | {s['killed_after']} | {s['before']:.0%} "
                    f"| {s['after']:.0%} | {t:.0f} |")
        surv += [f"| {name} | {line} | `{desc}` | `{code[:80]}` |"
                 for line, desc, code in s["survivors"]]
    return "\n".join(rows + ["", "| module | line | mutant | code |", "|---|---|---|---|",
                              *surv])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", choices=sorted(TARGETS))
    ap.add_argument("--list", choices=sorted(TARGETS))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per module")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--subprocess", action="store_true",
                    help="one pytest process per mutant (slow: pays the JAX import each time)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per mutant")
    ap.add_argument("--worker", choices=sorted(TARGETS), help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--indices", help=argparse.SUPPRESS)
    ap.add_argument("--rerun", action="store_true",
                    help="run the survivors of the stored result against the (new) tests")
    a = ap.parse_args()
    if a.markdown:
        print(markdown(json.loads(OUT.read_text())))
        return
    if a.worker:
        idx = [int(k) for k in a.indices.split(",")] if a.indices else None
        _worker(a.worker, a.limit, a.start, a.out, a.timeout, idx)
        return
    if a.list:
        spec = TARGETS[a.list]
        for m in mutants((ROOT / spec["file"]).read_text(), spec["funcs"]):
            print(f"L{m.line:<4} {m.desc}")
        return
    if a.module:
        if a.rerun:
            prev = json.loads(OUT.read_text())[a.module]
            surv = [k for k, m in enumerate(prev["mutants"])
                    if m["old"] == "passed" and m["new"] == "passed"]
            res = run_module_inproc(a.module, a.limit, a.budget, a.timeout, surv)
            for k in surv:  # keep the first pass; record what the new tests do now
                prev["mutants"][k]["new"] = res["mutants"][k]["new"]
                prev["mutants"][k]["rerun"] = True
            prev["rerun_seconds"] = res["seconds"]
            res = prev
        elif a.subprocess:
            res = run_module(a.module, a.limit, a.budget)
        else:
            res = run_module_inproc(a.module, a.limit, a.budget, a.timeout)
        data = json.loads(OUT.read_text()) if OUT.exists() else {}  # re-read: merge per module
        data[a.module] = res
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(data, indent=1))
    report(json.loads(OUT.read_text()) if OUT.exists() else {})


if __name__ == "__main__":
    main()
