"""``planeval run --limit N``: N items per task through each task's own item counts (``limit_params``:
perplexity's ``max_docs``, gsm8k's seeded ``max_items``), a key and run of its own, recorded with its
limit, left out of tables unless ``--include-limited`` (then marked ``[limit N]``); and ``--output-path
--log-samples`` writes the run's lm-eval result files as ``planeval export`` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _math_fixtures import GSM8K_ROWS, write_jsonl
from _models import micro_model, tiny_tokenizer

from harness.cli import main
from harness.errors import SpecError
from harness.runner import _limited, plan_suite
from harness.specs import SuiteSpec, TaskSpec
from leaderboard.store import Store
from tasks.base import Task


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("limit")
    tok = tiny_tokenizer()
    micro_model(len(tok), n_positions=64, seed=7).save_pretrained(root / "gpt2", safe_serialization=True)
    tok.save_pretrained(root / "gpt2")
    data = write_jsonl(root / "gsm8k.jsonl", GSM8K_ROWS[:5])
    suite = root / "suite.yaml"
    variant = f"hf:{root / 'gpt2'},name=tiny"
    suite.write_text(
        "name: limited\ncorpus: {source: synthetic, params: {n_articles: 200}}\nvariants:\n"
        f"  - {json.dumps(variant)}\n"
        "tasks:\n  - {name: perplexity, params: {mode: rolling}}\n"
        f"  - {{name: gsm8k, params: {{dataset: {json.dumps(str(data))}, max_new_tokens: 4}}}}\n"
    )
    return suite, f"sqlite:///{root / 'board.db'}"


def _run(suite: Path, db: str, *extra: str) -> int:
    home = str(suite.parent / "home")
    return main(["run", str(suite), "--home", home, "--db", db, "--no-progress", *extra])


def test_limit_runs_n_items_marked_and_kept_out_of_tables(
    setup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    suite, db = setup
    assert _run(suite, db) == 0
    out = suite.parent / "out"
    assert _run(suite, db, "--limit", "2", "--output-path", str(out), "--log-samples") == 0
    printed = capsys.readouterr().out
    assert "tiny \\[limit 2\\]" in printed  # the run's own table shows its rows, marked

    store = Store(db)
    runs = store.runs()
    limited, full = runs[runs["item_limit"].notna()], runs[runs["item_limit"].isna()]
    assert len(limited) == len(full) == 2 and set(limited["item_limit"]) == {2}
    assert not set(limited["eval_key"]) & set(full["eval_key"])  # a key of its own
    by_task = limited.set_index("task")
    assert by_task.loc["perplexity", "params"]["max_docs"] == 2
    assert by_task.loc["gsm8k", "params"]["max_items"] == 2
    for run_id in limited["run_id"]:
        assert len(store.samples(run_id)) == 2
    assert all(len(store.samples(run_id)) > 2 for run_id in full["run_id"])
    full_ids = set(store.samples(full.set_index("task").loc["gsm8k", "run_id"])["sample_id"])
    assert set(store.samples(by_task.loc["gsm8k", "run_id"])["sample_id"]) < full_ids  # a subset

    # default tables, compare, claims and regress read store.results(): the limited rows are not there
    assert set(store.results()["run_id"]) == set(full["run_id"])
    marked = store.results(include_limited=True)
    assert set(marked["variant"]) == {"tiny", "tiny [limit 2]"}
    assert main(["leaderboard", "--suite", "limited", "--db", db]) == 0
    assert "[limit" not in capsys.readouterr().out
    assert main(["leaderboard", "--suite", "limited", "--db", db, "--include-limited"]) == 0
    assert "| tiny \\[limit 2\\] |" in capsys.readouterr().out  # markdown-escaped brackets
    pair = ["compare", "tiny", "tiny [limit 2]", "--suite", "limited", "--db", db, "--n-boot", "50"]
    assert main(pair) != 0  # not there by default
    assert "tiny [limit 2]" in capsys.readouterr().err
    # asked for, it is a row of its own, and its params (max_items: 2) keep it from a full run's pairing
    assert main([*pair, "--include-limited"]) != 0
    assert "its samples are not comparable" in capsys.readouterr().err

    # --output-path --log-samples: planeval export's files for this run's two tasks
    files = sorted(p.name.split("_")[0] for p in (out / "tiny").iterdir())
    assert files == ["results", "samples", "samples"]
    doc = json.loads(next((out / "tiny").glob("results_*.json")).read_text())
    assert set(doc["results"]) == {"perplexity", "gsm8k"} and doc["config"]["limit"] == 2
    assert doc["config"]["model_dtype"] == "float32" and doc["config"]["batch_size"] == 16


def test_limit_is_deterministic_and_needs_an_item_count(setup: tuple[Path, str]) -> None:
    suite = SuiteSpec(
        name="s", corpus={"source": "synthetic"}, variants=["unigram"], tasks=[TaskSpec(name="perplexity")]
    )
    keys = [[e.key for e in plan_suite(suite, limit=n).evals] for n in (3, 3, 4)]
    assert keys[0] == keys[1] != keys[2]
    assert keys[0] != [e.key for e in plan_suite(suite).evals]

    class Uncounted(Task):
        def evaluate(self, model, ctx):  # pragma: no cover - never run
            raise AssertionError

        def aggregate(self, samples, params):  # pragma: no cover - never run
            raise AssertionError

    with pytest.raises(SpecError, match=r"tasks\.0: --limit: task uncounted declares no item count"):
        _limited(Uncounted(), Uncounted.Params(), TaskSpec(name="uncounted"), 2, "s.yaml", 0)
