"""A busy machine: the same reduced smoke run with one core kept busy by a load generator, against the
same run on an idle machine, side by side in one script (issue 19's goal: busy ≤ 1.6× quiet).

The workload is ``smoke`` cut down to fit a benchmark: the synthetic corpus (400 articles), the BPE
tokenizer, ``tiny-lm`` (smoke's GPT-2, 40 training steps) and both perplexity modes on it, each run in a
fresh home (nothing cached) by ``planeval run`` in its own process. The load generator is a process that
spins on one core for the whole run. Each condition runs with planeval's thread policy
(``harness.threads``: threads from the free cores at each stage, passive OpenMP waits) and with torch's
defaults (``PLANEVAL_THREADS=torch``: every core, spinning waits), the behaviour that collapsed.

Run: ``.venv/bin/pytest benchmarks/bench_busy.py --benchmark-enable -q`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

PLANEVAL = str(Path(sys.executable).with_name("planeval"))
SUITE = {
    "name": "busy-bench",
    "corpus": {"source": "synthetic", "params": {"n_articles": 400}},
    "tokenizer": {"kind": "bpe", "vocab_size": 4096},
    "variants": ["tiny-lm"],
    "overrides": {"tiny-lm": {"max_steps": 40, "checkpoint_every": 40}},
    "seeds": [0],
    "tasks": [
        {
            "name": "perplexity",
            "alias": "ppl-paper",
            "params": {"mode": "paper", "window": 128, "max_docs": 4},
        },
        {"name": "perplexity", "alias": "ppl-rolling", "params": {"mode": "rolling"}},
    ],
}
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def include(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("busy-suite")
    (folder / "busy-bench.yaml").write_text(yaml.safe_dump(SUITE))
    return folder


@contextmanager
def one_core_busy() -> Iterator[None]:
    """A process spinning on one core until the block ends (ended by its own pid)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # running before the measured run starts
        yield
    finally:
        spinner.kill()
        spinner.wait()


def run_suite(include: Path, home: Path, policy: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if policy == "torch":
        env["PLANEVAL_THREADS"] = "torch"
    else:
        env.pop("PLANEVAL_THREADS", None)
    start = time.perf_counter()
    done = subprocess.run(
        [PLANEVAL, "run", "busy-bench", "--include", str(include), "--home", str(home), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    return seconds


@pytest.mark.parametrize("policy", ["planeval", "torch"])
@pytest.mark.parametrize("machine", ["quiet", "busy"])
@pytest.mark.benchmark(group="busy machine: reduced smoke")
def test_busy_vs_quiet(benchmark, include, tmp_path, machine: str, policy: str, record_figure) -> None:
    homes = iter(range(100))

    def once() -> float:
        home = tmp_path / f"home-{next(homes)}"
        if machine == "busy":
            with one_core_busy():
                return run_suite(include, home, policy)
        return run_suite(include, home, policy)

    benchmark.pedantic(once, rounds=1, warmup_rounds=0)
    _TIMES[f"{machine}/{policy}"] = benchmark.stats.stats.min
    quiet, busy = _TIMES.get(f"quiet/{policy}"), _TIMES.get(f"busy/{policy}")
    if quiet and busy:
        benchmark.extra_info.update(busy_over_quiet=round(busy / quiet, 3))
        goal = " (goal <= 1.6x)" if policy == "planeval" else " (torch's defaults: the reference)"
        record_figure(
            f"busy machine, {policy} threads",
            f"quiet {quiet:.1f} s, one core busy {busy:.1f} s: {busy / quiet:.2f}x{goal}",
        )
