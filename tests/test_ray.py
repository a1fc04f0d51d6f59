"""The ``ray`` back end on a local Ray cluster (``ray start --head`` on 127.0.0.1 with two CPUs, stopped
after the test): the micro suite's stages as Ray tasks give the local run's leaderboard."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _executors import env, leaderboard, planeval, runs

pytest.importorskip("ray", reason="the ray back end needs ray: pip install 'planeval[ray]'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(address: str) -> bool:
    host, port = address.split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory) -> str:
    """A head node in its own process group (``--block``), so the teardown ends exactly what it started."""
    ray_bin = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    tmp = tmp_path_factory.mktemp("ray")
    address = f"127.0.0.1:{_free_port()}"
    start = [ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1",
             f"--port={address.split(':')[1]}", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={tmp}"]  # fmt: skip
    log = (tmp / "ray-start.log").open("w")
    head = subprocess.Popen(start, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not _listening(address) and head.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        if not _listening(address):
            pytest.skip(f"ray start --head did not come up: {(tmp / 'ray-start.log').read_text()[-500:]}")
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # ray start --block stops its processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_ray_leaderboard_equals_local(ray_cluster, micro_local, tmp_path):
    suite, ref = micro_local
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"executor: ray\nray: {{address: '{ray_cluster}'}}\nresources:\n"
                       "  train: {mem_gb: 0.5}\n  eval: {mem_gb: 0.5}\n  corpus: {mem_gb: 0.5}\n"
                       "  tokenizer: {mem_gb: 0.5}\n")  # fmt: skip
    out = planeval(suite, tmp_path / "home", "--profile", str(profile), timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    assert "ray task" in out.stdout  # the stages really ran as Ray tasks
    pd.testing.assert_frame_equal(leaderboard(tmp_path / "home"), leaderboard(ref))
    assert runs(tmp_path / "home")["run_id"].is_unique
    assert len(runs(tmp_path / "home")) == len(runs(ref))
