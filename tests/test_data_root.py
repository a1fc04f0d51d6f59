"""The data root (issues 14, 17): a suite names local data as ``data:<path>``, found under ``--data-dir`` /
``PLANEVAL_DATA`` (default ``../shared/data`` beside the checkout) from any working directory, with keys
that do not depend on where the data lives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from harness.paths import DEFAULT_ROOT, local_path
from harness.runner import plan_suite
from harness.specs import SuiteSpec

REPO = Path(__file__).resolve().parents[1]


def _data(root: Path) -> None:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "notes.txt").write_text(
        "\n\n".join(f"Article {i}. It has a sentence. And another one." for i in range(30))
    )


def _suite() -> SuiteSpec:
    return SuiteSpec(
        name="data-root",
        corpus={"source": "text", "params": {"path": "data:docs/notes.txt", "doc_separator": r"\n\s*\n"}},
        tokenizer={"vocab_size": 300},
        variants=["unigram"],
        tasks=[{"name": "perplexity", "params": {"mode": "rolling"}}],
    )


def test_data_paths_resolve_under_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANEVAL_DATA", raising=False)
    assert local_path("data:wikitext2_raw") == DEFAULT_ROOT / "wikitext2_raw"
    assert REPO.parent / "shared" / "data" == DEFAULT_ROOT  # ../shared/data beside the checkout
    monkeypatch.setenv("PLANEVAL_DATA", str(tmp_path))
    assert local_path("data:a/b.jsonl") == tmp_path / "a" / "b.jsonl"
    assert local_path("rel/file.txt") == Path("rel/file.txt")  # a plain path is left as given


def test_the_key_follows_the_data_not_where_it_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _data(one)
    _data(two)
    monkeypatch.chdir(tmp_path)  # no path relative to this folder is involved
    monkeypatch.setenv("PLANEVAL_DATA", str(one))
    key_one = plan_suite(_suite()).corpus_key
    monkeypatch.setenv("PLANEVAL_DATA", str(two))
    assert plan_suite(_suite()).corpus_key == key_one  # same bytes elsewhere: same key
    (two / "docs" / "notes.txt").write_text("Different text. Entirely.\n\nAnd more of it.")
    assert plan_suite(_suite()).corpus_key != key_one  # other bytes: another key


def test_data_dir_flag_from_another_folder(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    _data(root)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: data-root\n"
        "corpus: {source: text, params: {path: 'data:docs/notes.txt', doc_separator: '\\n\\s*\\n'}}\n"
        "tokenizer: {vocab_size: 300}\nvariants: [unigram]\ntasks: [{name: perplexity}]\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("PLANEVAL_DATA", None)
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "run", str(suite), "--dry-run", "--home", str(tmp_path / "h")]
    ok = subprocess.run(
        [*args, "--data-dir", str(root)], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(
        [*args, "--data-dir", str(tmp_path / "nowhere")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "nowhere/docs/notes.txt" in missing.stderr


def test_the_wikitext_suites_plan_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (SHARED_DATA / "wikitext2_raw").is_dir():
        pytest.skip(f"WikiText-2 raw not found under {SHARED_DATA} (it sits beside the checkout in CI)")
    from harness.catalog import SUITES

    monkeypatch.delenv("PLANEVAL_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    for name in ("paper-table1-wikitext2", "tradeoff-wikitext2"):
        plan = plan_suite(SUITES.get(name), name)
        assert plan.evals
