"""``planeval export``: a micro suite's runs, read from the database alone, written as lm-eval writes its
results. The results JSON has exactly the top-level keys of a results JSON that lm-eval's own
``EvaluationTracker`` writes in the same test (for a tiny local task on a tiny local model, offline), plus
planeval's ``planeval`` key; its samples rows carry lm-eval's per-sample fields; lm-eval's ``make_table``
and ``datasets``' json loader read the files back."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import lm_eval
import pytest
import yaml
from _math_fixtures import GSM8K_ROWS, write_jsonl
from _models import micro_model, tiny_tokenizer

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard.export import export, hash_string, sample_records, select_runs, task_hash
from leaderboard.store import Store

INCLUDE = str(Path(__file__).parent / "data" / "include")
SUITE = """\
name: exported
corpus: {{source: synthetic, params: {{n_articles: 160}}}}
tokenizer: {{kind: bpe, vocab_size: 400}}
variants: [unigram]
seeds: [0]
tasks:
  - {{name: perplexity, alias: ppl, params: {{mode: rolling, max_docs: 4}}}}
  - {{name: rouge, params: {{n_prompts: 3, lengths: [8, 16], min_prefix_tokens: 8,
                           rouge_types: [rouge1, rougeL]}}}}
  - {{name: gsm8k, params: {{dataset: {data}, max_new_tokens: 8}}}}
"""
LM_EVAL_TASK = "planeval_tiny_export"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A leaderboard written by a real run of a micro suite; the cache is deleted afterwards."""
    root = tmp_path_factory.mktemp("export")
    data = write_jsonl(root / "gsm8k.jsonl", GSM8K_ROWS[:3])
    suite = root / "suite.yaml"
    suite.write_text(SUITE.format(data=json.dumps(str(data))))
    db = f"sqlite:///{root / 'board.db'}"
    home = root / "home"
    argv = ["run", str(suite), "--include", INCLUDE, "--home", str(home), "--db", db, "--no-progress"]
    assert main(argv) == 0
    shutil.rmtree(home)  # export reads the database alone
    return db


@pytest.fixture(scope="module")
def lm_eval_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict], Path, Path]:
    """lm-eval's own results JSON and samples rows for a tiny local generation task (as its CLI writes
    them: ``simple_evaluate`` with an ``EvaluationTracker``, then its two save calls)."""
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("lm_eval")
    tok = tiny_tokenizer()
    micro_model(len(tok), n_positions=128, seed=4).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    data = write_jsonl(root / "rows.jsonl", GSM8K_ROWS[:3])
    reference = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml").read_text())
    config = {
        "task": LM_EVAL_TASK,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "Problem: {{question}}\n",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["Problem:"], "do_sample": False, "max_gen_toks": 4},
        "num_fewshot": 0,
        "filter_list": reference["filter_list"],
        "metric_list": reference["metric_list"],
        "metadata": {"version": 1.0},
    }
    (root / "tasks").mkdir()
    (root / "tasks" / f"{LM_EVAL_TASK}.yaml").write_text(yaml.safe_dump(config))
    tracker = EvaluationTracker(output_path=str(root / "out"))
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={root / 'model'}",
        tasks=[LM_EVAL_TASK],
        task_manager=TaskManager(include_path=str(root / "tasks"), include_defaults=False),
        batch_size=2,
        device="cpu",
        bootstrap_iters=0,
        log_samples=True,
        evaluation_tracker=tracker,
    )
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    tracker.save_results_samples(task_name=LM_EVAL_TASK, samples=samples[LM_EVAL_TASK])
    (written,) = (root / "out").glob("*/results_*.json")
    (rows,) = (root / "out").glob(f"*/samples_{LM_EVAL_TASK}_*.jsonl")
    samples_rows = [json.loads(line) for line in rows.read_text().splitlines()]
    return json.loads(written.read_text()), samples_rows, written, rows


def _exported(board: str, out: Path, *extra: str) -> tuple[dict, dict[str, list[dict]]]:
    assert main(["export", "--suite", "exported", "--output-path", str(out), "--db", board, *extra]) == 0
    (results,) = (out / "unigram").glob("results_*.json")
    samples = {
        p.name.split("_", 1)[1].rsplit("_", 1)[0]: [json.loads(x) for x in p.read_text().splitlines()]
        for p in (out / "unigram").glob("samples_*.jsonl")
    }
    return json.loads(results.read_text()), samples


def test_results_have_lm_evals_top_level_keys(board: str, lm_eval_output, tmp_path: Path) -> None:
    theirs, *_ = lm_eval_output
    ours, _ = _exported(board, tmp_path / "out", "--log-samples")
    assert set(ours) - set(theirs) == {"planeval"}
    assert set(theirs) - set(ours) == set()
    assert set(ours["config"]) == set(theirs["config"])
    assert set(ours["n-samples"]["ppl"]) == set(theirs["n-samples"][LM_EVAL_TASK])
    assert {"name", "alias", "sample_len"} <= set(ours["results"]["ppl"])


def test_results_carry_the_boards_numbers_and_cis(board: str, tmp_path: Path) -> None:
    ours, _ = _exported(board, tmp_path / "out")
    store = Store(board)
    runs = {r["task"]: store.get_run(r["run_id"]) for r in store.runs(suite="exported").to_dict("records")}
    assert set(ours["results"]) == set(runs) == {"ppl", "rouge", "gsm8k"}
    for label, run in runs.items():
        entry, own = ours["results"][label], ours["planeval"]["tasks"][label]
        assert own["run_id"] == run["run_id"] and own["eval_key"] == run["eval_key"]
        for m in run["metrics"]:
            assert entry[f"{m['name']},none"] == m["value"]  # every bit: json writes a float's repr
            assert entry[f"{m['name']}_stderr,none"] == "N/A"
            assert own["metrics"][m["name"]]["ci_low"] == m["ci_low"]
            assert ours["higher_is_better"][label][m["name"]] == m["higher_is_better"]
    assert ours["higher_is_better"]["ppl"]["perplexity"] is False
    assert ours["n-samples"]["ppl"] == {"original": 4, "effective": 4}
    assert ours["config"]["model"] == "planeval" and ours["config"]["model_args"]["variant"] == "unigram"
    assert ours["git_hash"] == runs["ppl"]["git_commit"]
    assert ours["configs"]["gsm8k"]["params"] == runs["gsm8k"]["params"]
    assert ours["group_subtasks"] == {"exported": ["gsm8k", "ppl", "rouge"]}
    assert ours["task_hashes"] == {}  # as lm-eval: only with samples
    # lm-eval's own table printer reads it
    from lm_eval.utils import make_table

    table = make_table(ours)
    assert "perplexity" in table and "rouge1@8" in table


def test_samples_have_lm_evals_fields(board: str, lm_eval_output, tmp_path: Path) -> None:
    _, theirs, *_ = lm_eval_output
    ours, samples = _exported(board, tmp_path / "out", "--log-samples")
    assert set(samples) == {"ppl", "rouge", "gsm8k"}
    fixed = set(theirs[0]) - set(theirs[0]["metrics"])
    for label, rows in samples.items():
        assert all(fixed <= set(r) for r in rows), label
        assert [r["doc_id"] for r in rows] == list(range(len(rows)))
        assert ours["task_hashes"][label] == task_hash(rows)
    gsm = samples["gsm8k"]
    assert len(gsm) == 3 and gsm[0]["arguments"]["gen_args_0"]["arg_0"] == GSM8K_ROWS[0]["question"]
    assert gsm[0]["target"] == "18" and gsm[0]["target_hash"] == hash_string("18")
    assert gsm[0]["resps"] == [[gsm[0]["doc"]["output"]]] and gsm[0]["filtered_resps"] == [
        gsm[0]["doc"]["output"]
    ]
    assert {"correct", "correct_strict"} <= set(gsm[0]["metrics"]) and "pred" not in gsm[0]["metrics"]
    assert ours["results"]["gsm8k"]["acc,none"] == sum(r["correct"] for r in gsm) / 3
    rouge = samples["rouge"]
    assert (
        len(rouge) == 6
        and {"rouge1", "rougeL"} <= set(rouge[0]["metrics"])
        and "length" not in rouge[0]["metrics"]
    )
    assert (
        rouge[0]["resps"] == [[rouge[0]["doc"]["generated"]]]
        and rouge[0]["target"] == rouge[0]["doc"]["reference"]
    )
    assert samples["ppl"][0]["arguments"] == {}  # the table holds no prompt
    # the datasets library loads the samples file (lm-eval sanitises its rows for exactly that)
    import datasets

    files = [str(p) for p in (tmp_path / "out" / "unigram").glob("samples_gsm8k_*.jsonl")]
    assert len(datasets.load_dataset("json", data_files=files, split="train")) == 3


def test_one_run_by_prefix_and_selection_errors(board: str, tmp_path: Path) -> None:
    store = Store(board)
    run_id = store.runs(suite="exported").query("task == 'ppl'")["run_id"].iloc[0]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    paths = export(store, select_runs(store, [run_id[:12]]), tmp_path / "one", log_samples=True, when=when)
    assert sorted(p.name for p in paths) == [
        "results_2026-01-02T03-04-05.json",
        "samples_ppl_2026-01-02T03-04-05.jsonl",
    ]
    assert set(json.loads(paths[-1].read_text())["results"]) == {"ppl"}
    with pytest.raises(PlanevalError, match="not both and not neither"):
        select_runs(store)
    with pytest.raises(PlanevalError, match="no successful run of suite 'nope'"):
        select_runs(store, suite="nope")


def test_sample_records_keep_a_stored_prompt_hash() -> None:
    import pandas as pd

    table = pd.DataFrame({"sample_id": ["a"], "question": ["Q?"], "output": ["4"], "gold": ["4"],
                          "prompt_hash": ["abc"], "correct": [1]})  # fmt: skip
    (record,) = sample_records(table)
    assert record["prompt_hash"] == "abc" and record["correct"] == 1 and record["metrics"] == ["correct"]
    assert record["doc_hash"] == hash_string(json.dumps(record["doc"], indent=2, ensure_ascii=False))


def test_import_lm_eval_puts_lm_evals_numbers_in_the_table(lm_eval_output, tmp_path: Path, capsys) -> None:
    """lm-eval's own results (and samples) file, imported, is a leaderboard row marked as imported with
    lm-eval's numbers; importing it again replaces the row."""
    theirs, rows, results_path, samples_path = lm_eval_output
    db = f"sqlite:///{tmp_path / 'board.db'}"
    argv = ["import-lm-eval", str(results_path), str(samples_path), "--variant", "tiny-hf", "--db", db]
    assert main(argv) == 0
    assert main(argv) == 0  # idempotent
    store = Store(db)
    (run,) = store.runs(suite="lm-eval").to_dict("records")
    assert (run["variant"], run["family"], run["task"]) == ("tiny-hf", "lm-eval", LM_EVAL_TASK)
    assert run["params"]["imported_from"] == "lm-eval" and run["git_commit"] == theirs["git_hash"]
    got = {m["name"]: m for m in store.get_run(run["run_id"])["metrics"]}
    scores = theirs["results"][LM_EVAL_TASK]
    assert set(got) == {"exact_match_strict_match", "exact_match_flexible_extract"}
    assert got["exact_match_strict_match"]["value"] == scores["exact_match,strict-match"]
    assert (
        got["exact_match_flexible_extract"]["n"] == 3 and got["exact_match_strict_match"]["higher_is_better"]
    )
    table = store.samples(run["run_id"])
    assert len(table) == len(rows) == 6 and set(table["filter"]) == {"strict-match", "flexible-extract"}
    assert list(table["prompt_hash"]) == [r["prompt_hash"] for r in rows]
    capsys.readouterr()
    assert main(["leaderboard", "--suite", "lm-eval", "--db", db, "--format", "csv"]) == 0
    assert "tiny-hf" in capsys.readouterr().out
    with pytest.raises(PlanevalError, match="not an lm-eval results JSON"):
        from leaderboard.import_lm_eval import read_results

        bad = tmp_path / "bad.json"
        bad.write_text("[]")
        read_results(bad)
