"""A cached re-run: ``planeval run`` of a suite whose every stage is cached, with the keys read from the
last complete run (``harness.replay``) against full planning (``PLANEVAL_REPLAY=0``: every task and
trainer imported and validated, every key recomputed — the previous behaviour), in the same run.

The home is ``PLANEVAL_BENCH_HOME`` with suite ``PLANEVAL_BENCH_SUITE`` (e.g. a finished ``make smoke``:
``PLANEVAL_BENCH_HOME=.planeval PLANEVAL_BENCH_SUITE=smoke``; nothing in it is deleted), else a micro
suite (unigram, three evaluations) built in a temporary home first. Goal (issue 19): smoke ≤ 2 s.

Run: ``.venv/bin/pytest benchmarks/bench_rerun.py --benchmark-enable -q``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

PLANEVAL = str(Path(sys.executable).with_name("planeval"))
INCLUDE = Path(__file__).resolve().parents[1] / "tests" / "data" / "include"
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str]:
    """(the ``planeval run`` arguments, a label), after one complete run."""
    home = os.environ.get("PLANEVAL_BENCH_HOME")
    if home:
        suite = os.environ.get("PLANEVAL_BENCH_SUITE", "smoke")
        args = ["run", suite, "--home", home, "--no-progress"]
        label = f"{suite} in {home}"
    else:
        root = tmp_path_factory.mktemp("rerun")
        spec = yaml.safe_load((INCLUDE / "micro-suite.yaml").read_text())
        spec.update(name="micro-rerun", variants=["unigram"])
        (root / "suite").mkdir()
        (root / "suite" / "micro-rerun.yaml").write_text(yaml.safe_dump(spec))
        args = ["run", "micro-rerun", "--include", str(INCLUDE), "--include", str(root / "suite"),
                "--home", str(root / "home"), "--no-progress"]  # fmt: skip
        label = "micro suite (unigram x 3 evaluations)"
    cli(args, replay=True, cached=False)  # complete once: everything cached and the keys kept
    return args, label


def cli(args: list[str], replay: bool, cached: bool = True) -> float:
    env = dict(os.environ)
    env["PLANEVAL_REPLAY"] = "1" if replay else "0"
    start = time.perf_counter()
    done = subprocess.run([PLANEVAL, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    if cached:
        assert " 0 stages ran, " in done.stdout, done.stdout[-2000:]  # a cached re-run, either way
    return seconds


@pytest.mark.benchmark(group="cached re-run")
def test_rerun_full_planning(benchmark, target) -> None:
    args, _ = target
    benchmark.pedantic(lambda: cli(args, replay=False), rounds=3, warmup_rounds=0)
    _TIMES["planning"] = benchmark.stats.stats.min


@pytest.mark.benchmark(group="cached re-run")
def test_rerun_keys_read(benchmark, target, record_figure) -> None:
    args, label = target
    benchmark.pedantic(lambda: cli(args, replay=True), rounds=5, warmup_rounds=1)
    ours = benchmark.stats.stats.min
    line = f"{ours:.2f} s (goal <= 2 s for smoke)"
    if "planning" in _TIMES:
        benchmark.extra_info.update(ratio_to_full_planning=round(ours / _TIMES["planning"], 3))
        line += f"; full planning {_TIMES['planning']:.2f} s ({_TIMES['planning'] / ours:.1f}x slower)"
    record_figure(f"cached re-run, {label}", line)
