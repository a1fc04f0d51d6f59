"""Training under ``accelerate launch`` with 2 CPU processes (gloo) follows the 1-process loss curve:
each process takes its half of the same global batch and DDP averages the gradients. For the LM (equal
windows, no dropout) the mean of the halves' mean losses is the global mean, so the curves agree to
float precision; for NAP (documents with different sentence counts) only approximately."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "distributed" / "train_run.py"


def _launch(trainer: str, processes: int, out: Path) -> dict:
    launcher = Path(sys.executable).parent / "accelerate"
    if not launcher.exists():
        pytest.skip(f"the accelerate launcher is not installed next to {sys.executable}")
    # accelerate's torchrun launcher (``--multi_gpu``) is the one that starts several local processes;
    # with no GPU they join a gloo process group on the CPU (accelerate's MULTI_CPU)
    many = ["--multi_gpu"] if processes > 1 else ["--cpu"]
    cmd = [
        str(launcher), "launch", *many, "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(29500 + processes),
        str(SCRIPT), trainer, str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    artifact = out / f"{trainer}-out"
    return json.loads((artifact / ("nap.json" if trainer == "nap" else "training.json")).read_text())


@pytest.mark.slow
def test_two_processes_follow_the_one_process_loss_curve(tmp_path: Path) -> None:
    one = _launch("nap", 1, tmp_path / "one")
    two = _launch("nap", 2, tmp_path / "two")
    assert one["processes"] == 1 and two["processes"] == 2
    a, b = np.asarray(one["loss_curve"]), np.asarray(two["loss_curve"])
    assert len(a) == len(b) == 120
    # the same shape: strongly correlated, both fall by most of their start, close at every stage
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert a[-10:].mean() < 0.5 * a[:10].mean() and b[-10:].mean() < 0.5 * b[:10].mean()
    for lo in range(0, 120, 20):
        assert abs(a[lo : lo + 20].mean() - b[lo : lo + 20].mean()) < 0.15 * a[lo : lo + 20].mean() + 0.02
    assert abs(one["val_accuracy"] - two["val_accuracy"]) < 0.1


def test_lm_two_processes_match_one_process(tmp_path: Path) -> None:
    one = _launch("lm", 1, tmp_path / "one")
    two = _launch("lm", 2, tmp_path / "two")
    assert one["processes"] == 1 and two["processes"] == 2
    a, b = np.asarray(one["last_train_losses"]), np.asarray(two["last_train_losses"])
    assert len(a) == len(b) == 40
    np.testing.assert_allclose(a, b, rtol=2e-3)
    assert a[-5:].mean() < a[:5].mean()
