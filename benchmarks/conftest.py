"""Benchmarks run offline like the tests, can import the test helpers (``_models``), and are collected
from ``bench_*.py`` files so that the default test run (``testpaths = tests``) never picks them up.

Run: ``.venv/bin/pytest benchmarks/ --benchmark-enable -q``. Figures each benchmark records with
``record_figure`` are printed at the end of the run.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

FIGURES: dict[str, str] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # a file named on the command line is collected by pytest's python plugin already
    named = parent.session.isinitpath(file_path)
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not named:
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def record_figure():
    """``record_figure(name, text)``: a line for the end-of-run summary."""

    def record(name: str, text: str) -> None:
        FIGURES[name] = text

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("benchmark figures")
        for name, text in FIGURES.items():
            terminalreporter.write_line(f"{name}: {text}")
