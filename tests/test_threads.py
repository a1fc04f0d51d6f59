"""``harness.threads``: threads from the cores actually free, the user's choice first, waits that sleep."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness import threads


@pytest.mark.parametrize(("busy", "free"), [(0.0, 2), (0.3, 2), (0.6, 1), (1.0, 1), (1.4, 1), (5.0, 1)])
def test_free_cores_leave_out_the_busy_ones(monkeypatch, busy: float, free: int) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.0: busy)
    assert threads.free_cores() == free


def test_the_user_choice_wins_and_is_split_between_parallel_stages(monkeypatch) -> None:
    monkeypatch.setattr(threads, "free_cores", lambda sample_s=0.0: 8)
    monkeypatch.delenv("PLANEVAL_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.threads_for() == 8 and threads.threads_for(share=3) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads.threads_for() == 4 and threads.threads_for(share=2) == 2
    monkeypatch.setenv("PLANEVAL_THREADS", "3")
    assert threads.threads_for() == 3 and threads.threads_for(share=5) == 1


def test_adapt_sets_torch_threads_unless_turned_off(monkeypatch) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("PLANEVAL_THREADS", "1")
        assert threads.adapt() == 1 == torch.get_num_threads()
        torch.set_num_threads(2)
        monkeypatch.setenv("PLANEVAL_THREADS", "torch")
        assert threads.adapt() == 2 == torch.get_num_threads()  # torch's own setting is left alone
    finally:
        torch.set_num_threads(before)


def test_busy_cores_reads_this_machine() -> None:
    """On Linux the per-core counters of the usable cores are read; the figure is a core count."""
    busy = threads.busy_cores(0.05)
    assert 0.0 <= busy <= threads.usable_cores() + 1e-9 or not os.path.exists("/proc/stat")
    assert 1 <= threads.free_cores(0.05) <= threads.usable_cores()


def test_planeval_makes_openmp_waits_passive_before_torch_loads() -> None:
    code = (
        "import os, sys\nfrom harness.cli import main\nmain(['list', 'suites'])\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('KMP_BLOCKTIME'))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "PLANEVAL_THREADS")
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["PASSIVE", "0"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a user's setting is kept
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["ACTIVE", "0"]
