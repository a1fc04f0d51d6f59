"""The ``slurm`` back end on a real single-node Slurm cluster (``.ci/slurm.sh``: Debian's slurmctld and
slurmd with munge on 127.0.0.1, its own config and ports): the micro suite gives the local run's
leaderboard, a stage made to fail once is retried and succeeds, and a runner killed mid-suite and run
again finishes without redoing the stages that had finished. Skipped with the reason where Slurm is not
installed (``.ci/slurm.sh install``) or cannot start."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _executors import INCLUDE, env, leaderboard, planeval, runs

submitit = pytest.importorskip(
    "submitit", reason="the slurm back end needs submitit: pip install 'planeval[slurm]'"
)

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "slurm.sh"
PROFILE = """executor: slurm
retries: 1
resources:
  corpus: {mem_gb: 1, timeout_min: 10}
  tokenizer: {mem_gb: 1, timeout_min: 10}
  train: {mem_gb: 1, timeout_min: 10}
  eval: {mem_gb: 1, timeout_min: 10}
slurm: {partition: debug, poll_s: 0.5}
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    missing = [c for c in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(c) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): run .ci/slurm.sh install")
    if os.geteuid() != 0:
        pytest.skip("the throwaway Slurm cluster runs its daemons as root")
    state = tmp_path_factory.mktemp("slurm")
    out = subprocess.run(
        ["bash", str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=60)
        pytest.skip(f"Slurm did not start: {(out.stderr or out.stdout).strip()[-500:]}")
    yield {"SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run(["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=60)


def _profile(tmp_path: Path) -> str:
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE)
    return str(path)


@pytest.mark.slow  # ~110 s: CI runs it with the other slow tests (make test-slow)
def test_slurm_leaderboard_equals_local_and_a_failure_is_retried(slurm, micro_local, tmp_path):
    suite, ref = micro_local
    marker = tmp_path / "failed-once"
    out = planeval(suite, tmp_path / "home", "--profile", _profile(tmp_path), timeout=600,
                   PLANEVAL_FAIL_ONCE=f"micro-lm:{marker}", **slurm)  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    assert "slurm job" in out.stdout  # the stages really went through sbatch
    assert "[retry 1/1] train micro-lm seed=0: RuntimeError: injected failure" in out.stdout
    assert marker.exists()
    pd.testing.assert_frame_equal(leaderboard(tmp_path / "home"), leaderboard(ref))
    assert runs(tmp_path / "home")["run_id"].is_unique and len(runs(tmp_path / "home")) == len(runs(ref))
    logs = list((tmp_path / "home" / "jobs").glob("*/*_log.out"))
    assert logs, "submitit keeps each job's log in <home>/jobs"


def test_resources_and_profile_become_sbatch_options(tmp_path):
    """No cluster needed, only Slurm's client (submitit checks for srun): the request and the profile's
    partition, account and QoS reach the job script as sbatch options."""
    if shutil.which("srun") is None:
        pytest.skip("Slurm's client is not installed: run .ci/slurm.sh install")
    from harness.executors.profile import Profile
    from harness.executors.resources import Resources
    from harness.executors.slurm import SlurmExecutor

    slurm = {"partition": "gpu", "account": "lab", "qos": "high", "setup": ["echo ready"],
             "additional": {"exclude": "n7"}}  # fmt: skip
    profile = Profile.model_validate({"slurm": slurm})
    ex = SlurmExecutor(profile, tmp_path)
    ex.executor.update_parameters(
        **ex._parameters(Resources(cpus=8, gpus=2, mem_gb=64, timeout_min=2880), "x")
    )
    text = ex.executor._executor._make_submission_file_text("true", "uid")
    for option in ("--partition=gpu", "--account=lab", "--qos=high", "--cpus-per-task=8", "--gpus-per-node=2",
                   "--mem=64GB", "--time=2880", "--exclude=n7", "--nodes=1"):  # fmt: skip
        assert f"#SBATCH {option}" in text, text
    assert "echo ready" in text


def _build_ids(home: Path) -> dict[str, str]:
    out = {}
    for manifest in (home / "cache").glob("*/*/manifest.json"):
        if not manifest.parent.name.startswith("."):
            out[f"{manifest.parent.parent.name}/{manifest.parent.name}"] = json.loads(manifest.read_text())[
                "build_id"
            ]
    return out


@pytest.mark.slow
def test_a_killed_runner_reruns_without_redoing_finished_stages(slurm, micro_local, tmp_path):
    suite, ref = micro_local
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(suite), "--include", str(INCLUDE),
           "--home", str(home), "--no-progress", "--profile", _profile(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env(**slurm), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    deadline = time.monotonic() + 400
    assert proc.stdout is not None
    for line in proc.stdout:  # kill the runner once a training stage has finished
        seen.append(line)
        if line.startswith("[done] train") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert any(line.startswith("[done] train") for line in seen), "".join(seen[-40:])
    finished = _build_ids(home)
    assert any(k.startswith("train/") for k in finished)
    assert not (home / "leaderboard.db").exists() or len(runs(home)) < len(runs(ref))

    out = planeval(suite, home, "--profile", _profile(tmp_path), timeout=600, **slurm)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    after = _build_ids(home)
    assert {k: after[k] for k in finished} == finished  # nothing finished before the kill was rebuilt
    submitted = [line for line in out.stdout.splitlines() if line.startswith("[submit]")]
    assert not any("corpus synthetic" in line or "tokenizer bpe" in line for line in submitted), submitted
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(ref))
    assert runs(home)["run_id"].is_unique and len(runs(home)) == len(runs(ref))


def test_a_refused_submission_fails_the_stage_with_sbatch_s_reason(slurm, micro_local, tmp_path):
    suite, ref = micro_local
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE.replace("partition: debug", "partition: nonesuch"))
    out = planeval(suite, tmp_path / "home", "--profile", str(profile), **slurm)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-2000:]
    assert "[corpus] synthetic FAILED\ncould not submit:" in out.stdout, out.stdout[-3000:]
    assert "invalid partition" in out.stdout.lower(), out.stdout[-3000:]
    rows = runs(tmp_path / "home")
    assert len(rows) == len(runs(ref)) and (rows["status"] == "failed").all()
    assert rows["error"].str.startswith("corpus failed: could not submit").all(), rows["error"].tolist()
