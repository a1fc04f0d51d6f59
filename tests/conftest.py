"""Test set-up: offline on purpose, so a stray hub call fails at once; small shared fixtures."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (it sits beside the checkout in CI)")
    return SHARED_DATA


def shared_file(rel: str) -> Path:
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"shared test data file {path} is absent")
    return path


@pytest.fixture(scope="session")
def micro_local(tmp_path_factory) -> tuple[Path, Path]:
    """(suite file, home) of one local run of the back-end tests' micro suite, the reference every back
    end's leaderboard must equal (run once per session)."""
    from _executors import planeval, suite_file

    tmp = tmp_path_factory.mktemp("micro-local")
    suite = suite_file(tmp)
    out = planeval(suite, tmp / "home")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return suite, tmp / "home"
