"""What the back-end tests share: a short micro suite file, the command line run in a subprocess (the
way a user runs it), and the leaderboard as a comparable table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from leaderboard.store import Store

INCLUDE = Path(__file__).parent / "data" / "include"


def suite_file(tmp_path: Path, name: str = "micro-executors") -> Path:
    """The micro suite with a shorter LM and two tasks (the point is where stages run, not what)."""
    spec = yaml.safe_load((INCLUDE / "micro-suite.yaml").read_text())
    spec["name"] = name
    spec["overrides"] = {"micro-lm": {"max_steps": 10}}
    spec["corpus"]["params"]["n_articles"] = 100
    spec["tasks"] = [t for t in spec["tasks"] if t.get("alias") != "ppl-paper"]  # fewer jobs, same shape
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PLANEVAL_THREADS="1",
               PYTHONUNBUFFERED="1", **extra)  # fmt: skip
    here = str(Path(__file__).resolve().parents[1])  # workers import this checkout, not another install
    out["PYTHONPATH"] = os.pathsep.join(p for p in (here, out.get("PYTHONPATH", "")) if p)
    return out


def planeval(suite: Path, home: Path, *args: str, timeout: float = 300, **extra: str):
    cmd = [sys.executable, "-m", "harness.cli", "run", str(suite), "--include", str(INCLUDE),
           "--home", str(home), "--no-progress", *args]  # fmt: skip
    return subprocess.run(cmd, env=env(**extra), capture_output=True, text=True, timeout=timeout)


def leaderboard(home: Path) -> pd.DataFrame:
    res = Store(f"sqlite:///{home / 'leaderboard.db'}").results()
    cols = ["variant", "task", "seed", "metric", "value", "ci_low", "ci_high", "n"]
    return res[cols].sort_values(cols[:4]).reset_index(drop=True)


def runs(home: Path) -> pd.DataFrame:
    res = Store(f"sqlite:///{home / 'leaderboard.db'}").runs(status=None)
    return res.sort_values(["variant", "task"]).reset_index(drop=True)
