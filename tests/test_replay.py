"""A cached re-run reads the last complete run's keys instead of planning (``harness.replay``): it prints
what ``planeval run`` prints without importing the model stack, and anything that could change the
plan or the cache — an edited suite, a missing or corrupt stage, a missing leaderboard row — sends it
back to full planning, which rebuilds what is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import replay
from leaderboard.store import Store

INCLUDE = Path(__file__).parent / "data" / "include"
HEAVY = ("torch", "transformers", "spacy", "sklearn", "accelerate", "trl", "nltk")


def run(path: Path, home: Path) -> tuple[str, list[str]]:
    """``planeval run`` in a fresh process: its output and which heavy modules it imported."""
    code = (
        "import sys\nfrom harness.cli import main\nrc = main(sys.argv[1:])\n"
        f"print('IMPORTED', [m for m in {HEAVY!r} if m in sys.modules])\nsys.exit(rc)\n"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        "run",
        str(path),
        "--include",
        str(INCLUDE),
        "--home",
        str(home),
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out, _, imported = done.stdout.rpartition("IMPORTED ")
    return out, eval(imported)  # a printed list of names


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A micro suite (unigram only: the point is the re-run) run once, and its first output."""
    root = tmp_path_factory.mktemp("replay")
    spec = yaml.safe_load((INCLUDE / "micro-suite.yaml").read_text())
    spec.update(name="micro-replay", variants=["unigram"])
    spec["corpus"]["params"]["n_articles"] = 80
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(spec))
    home = root / "home"
    first, _ = run(path, home)
    return path, home, first


def summary_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("suite "))


def table(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("|")]


def test_a_cached_rerun_reads_the_keys_and_imports_no_model_stack(suite) -> None:
    path, home, first = suite
    assert summary_line(first).startswith("suite micro-replay: 4 stages ran, 0 cached, 0 failed")
    records = list((home / "replay").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["suite"] == "micro-replay" and len(record["eval"]) == 3 and len(record["train"]) == 1
    second, imported = run(path, home)
    assert summary_line(second).startswith("suite micro-replay: 0 stages ran, 4 cached, 0 failed in ")
    assert imported == []
    assert table(second) == table(first) and table(second)


@pytest.mark.slow
def test_anything_changed_plans_again(suite, tmp_path) -> None:
    path, home, _ = suite
    # an edited suite file: another fingerprint, so full planning (the model stack is imported)
    edited = tmp_path / "suite.yaml"
    edited.write_text(path.read_text().replace("n_prompts: 3", "n_prompts: 2"))
    out, imported = run(edited, home)
    assert "torch" in imported and "1 stages ran" in summary_line(out)
    # a stage gone from the cache: full planning rebuilds it, then the next run replays again
    digest = replay.fingerprint(str(path), [str(INCLUDE)], home, f"sqlite:///{home / 'leaderboard.db'}")
    record = json.loads((home / "replay" / f"{digest}.json").read_text())
    eval_dir = home / "cache" / "eval" / record["eval"][0]
    (eval_dir / "metrics.json").write_text("[]")  # fails the fast verification (sha256 in the manifest)
    out, imported = run(path, home)
    assert "torch" in imported and "1 stages ran" in summary_line(out)
    out, imported = run(path, home)
    assert imported == [] and "0 stages ran" in summary_line(out)


def test_a_missing_leaderboard_row_plans_again(suite, tmp_path) -> None:
    path, home, _ = suite
    digest = replay.fingerprint(str(path), [str(INCLUDE)], home, f"sqlite:///{home / 'leaderboard.db'}")
    assert replay.replay(digest, home, f"sqlite:///{home / 'leaderboard.db'}") is not None
    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    Store(other_db).close()
    assert replay.replay(digest, home, other_db) is None  # no rows there (and another URL: another digest)
    assert replay.fingerprint(str(path), [str(INCLUDE)], home, other_db) != digest


def test_plans_that_read_files_are_not_remembered(tmp_path) -> None:
    """A text corpus is read at planning time (its digest is in the keys): never replayed."""
    from harness.runner import RunSummary, plan_suite
    from harness.specs import SuiteSpec

    data = tmp_path / "docs.txt"
    data.write_text("One document.\n\nAnother one here.\n\n" * 20)
    spec = SuiteSpec.model_validate(
        {"name": "t", "corpus": {"source": "text", "params": {"path": str(data)}}, "variants": ["unigram"],
         "tokenizer": {"kind": "bpe", "vocab_size": 300}, "tasks": [{"name": "perplexity"}]}
    )  # fmt: skip
    plan = plan_suite(spec)
    assert not replay.reads_only_code(plan)
    replay.remember("d" * 32, tmp_path, plan, RunSummary())
    assert not (tmp_path / "replay").exists()
