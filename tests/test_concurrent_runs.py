"""Many runs, one home: four ``planeval run`` of one suite started together in one home all succeed,
every stage is built exactly once (the others wait on its lease and reuse it), and the leaderboard is
the one a single run writes, with one row per run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.catalog import include_dir
from harness.runner import Runner, plan_suite
from harness.specs import SuiteSpec
from leaderboard.store import Store

INCLUDE = Path(__file__).parent / "data" / "include"
N_PROCESSES = 4


def suite_file(tmp_path: Path) -> Path:
    """The micro suite with a shorter LM (the point is the coordination, not the training)."""
    spec = yaml.safe_load((INCLUDE / "micro-suite.yaml").read_text())
    spec["name"] = "micro-concurrent"
    spec["overrides"] = {"micro-lm": {"max_steps": 10}}
    spec["corpus"]["params"]["n_articles"] = 100
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def leaderboard(home: Path) -> pd.DataFrame:
    res = Store(f"sqlite:///{home / 'leaderboard.db'}").results()
    cols = ["variant", "task", "seed", "metric", "value", "ci_low", "ci_high", "n"]
    return res[cols].sort_values(cols[:4]).reset_index(drop=True)


@pytest.mark.slow
def test_four_runs_in_one_home_build_each_stage_once(tmp_path):
    path = suite_file(tmp_path)
    home, single = tmp_path / "shared-home", tmp_path / "single-home"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")

    def start(where: Path) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "harness.cli", "run", str(path), "--include", str(INCLUDE),
               "--home", str(where), "--no-progress"]  # fmt: skip
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    procs = [start(home) for _ in range(N_PROCESSES)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]

    # every stage was built by exactly one process: count the lines a builder prints
    include_dir(INCLUDE)
    plan = plan_suite(SuiteSpec.model_validate(yaml.safe_load(path.read_text())), str(path))
    lines = [line for out in outputs for line in out.splitlines()]
    builders = ("[corpus] building", "[train] ")
    built = Counter(line.split(" (")[0] for line in lines if line.startswith(builders))
    assert built == Counter({"[corpus] building synthetic": 1, "[train] unigram seed=0": 1,
                             "[train] micro-lm seed=0": 1}), built  # fmt: skip
    assert sum(line.startswith("[tokenizer] bpe") for line in lines) == 1
    evals = Counter(line for line in lines if line.startswith("[eval] ") and not line.endswith("FAILED"))
    assert evals == Counter({f"[eval] {e.label}": 1 for e in plan.evals}), evals
    assert not any("FAILED" in line or "Traceback" in line for line in lines), "\n".join(lines[-50:])
    assert any(line.startswith("[wait] ") for line in lines)  # the others waited rather than built

    # ... and the manifests agree: one build (one builder pid) per stage, nothing left half-done
    cache = home / "cache"
    stages = [d for d in cache.glob("*/*") if d.is_dir() and not d.name.startswith(".")]
    stages = [d for d in stages if not d.name.endswith(".partial")]
    requests = [d for d in stages if d.parent.name in ("generations", "scores")]  # the models' answers
    assert {d.parent.name for d in requests} == {"generations", "scores"}
    assert len(stages) - len(requests) == 2 + len(plan.models) + len(plan.evals)  # + corpus, tokenizer
    assert all(json.loads((d / "manifest.json").read_text())["build_id"] for d in stages)
    assert not [p.name for p in cache.glob("*/.*")], "temporary folders, leases or quarantined stages left"
    assert not list(cache.glob("train/*.partial"))

    # the leaderboard is a single run's, one row per run
    runs = Store(f"sqlite:///{home / 'leaderboard.db'}").runs(status=None)
    assert len(runs) == len(plan.evals) and runs["run_id"].is_unique and (runs["status"] == "ok").all()
    assert not Runner(single, progress=False, log=lambda s: None).run(plan).failed  # a single run
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(single))
