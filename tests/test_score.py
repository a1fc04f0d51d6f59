"""``planeval score``: a stored run re-scored from its per-sample table in the database, with changed
aggregation params or per-sample scoring params (the stored outputs scored again), and no model loaded
or run (issue 15). The same params give back the runner's
metrics and CIs exactly; a param that needs the model is refused with one line naming it."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from leaderboard.rescore import rescore, summarize
from leaderboard.store import RunRecord, Store
from tasks.mauve import Mauve, MauveParams

INCLUDE = str(Path(__file__).parent / "data" / "include")
SUITE = """\
name: scored
corpus: {source: synthetic, params: {n_articles: 160}}
tokenizer: {kind: bpe, vocab_size: 400}
variants: [unigram]
seeds: [0]
tasks:
  - {name: perplexity, alias: ppl, params: {mode: rolling}}
  - {name: rouge, params: {n_prompts: 3, lengths: [8, 16], min_prefix_tokens: 8,
                           rouge_types: [rouge1, rouge2, rougeL]}}
"""


def _no_model(*args, **kwargs):
    raise AssertionError("planeval score loaded or ran a model")


@pytest.fixture
def no_model(monkeypatch):
    """Every way to a model raises: the runner's and trainers' loaders, HF loading, any torch forward."""
    import torch

    from harness.hf_adapter import HFCausalLM
    from harness.runner import Runner
    from trainers.base import Trainer

    monkeypatch.setattr(Runner, "model", _no_model)
    monkeypatch.setattr(Trainer, "load", _no_model)
    monkeypatch.setattr(Trainer, "load_model", _no_model)
    monkeypatch.setattr(HFCausalLM, "from_pretrained", _no_model)
    monkeypatch.setattr(torch.nn.Module, "__call__", _no_model)


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> str:
    """A leaderboard written by a real run; its home (the cache) is deleted afterwards."""
    root = tmp_path_factory.mktemp("score")
    suite = root / "suite.yaml"
    suite.write_text(SUITE)
    db = f"sqlite:///{root / 'board.db'}"
    home = root / "home"
    assert (
        main(["run", str(suite), "--include", INCLUDE, "--home", str(home), "--db", db, "--no-progress"]) == 0
    )
    shutil.rmtree(home)  # scoring reads the database alone
    return db


def _run_of(store: Store, task: str) -> dict:
    runs = store.runs(suite="scored")
    return store.get_run(runs[runs["task"] == task]["run_id"].iloc[0])


def _metrics(run: dict) -> dict[str, tuple]:
    keys = ("value", "ci_low", "ci_high", "n", "higher_is_better", "base", "dims")
    return {m["name"]: tuple(m[k] for k in keys) for m in run["metrics"]}


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planeval: error: score: "), err
    return err[0]


def test_score_rescores_a_stored_run_with_a_changed_param_and_no_model(board, capsys, no_model):
    store = Store(board)
    source = _run_of(store, "rouge")
    capsys.readouterr()
    assert main(["score", source["run_id"][:8], "--set", "rouge_types=[rouge1, rougeL]", "--db", board]) == 0
    out = capsys.readouterr().out
    assert "rouge_types: ['rouge1', 'rouge2', 'rougeL'] → ['rouge1', 'rougeL']" in out
    rouge2 = next(line for line in out.splitlines() if line.split()[:1] == ["rouge2"])
    assert rouge2.split()[-1] == "–" and float(rouge2.split()[1]) == _metrics(source)["rouge2"][0]

    new_id = out.splitlines()[0].split(" → ")[1].strip()
    new = store.get_run(new_id)
    assert new["rescored_from"] == source["run_id"] and new["status"] == "ok"
    assert new["params"] == {**source["params"], "rouge_types": ["rouge1", "rougeL"]}
    assert new["config_hash"] != source["config_hash"] and new["eval_key"] != source["eval_key"]
    assert (new["model_key"], new["variant"], new["task"]) == (
        source["model_key"], source["variant"], source["task"]
    )  # fmt: skip
    assert store.sample_bytes(new_id) == store.sample_bytes(source["run_id"])  # the very same table
    old, got = _metrics(source), _metrics(new)
    assert set(got) == {"rouge1", "rougeL", "rouge1@8", "rouge1@16", "rougeL@8", "rougeL@16"}
    assert all(got[name] == old[name] for name in got)  # a subset of types: values and CIs unchanged
    structure = {m["name"]: (m["base"], m["dims"]) for m in new["metrics"]}
    assert structure["rougeL@16"] == ("rougeL", {"length": 16}) and structure["rouge1"] == ("rouge1", {})
    assert structure == {m["name"]: (m["base"], m["dims"]) for m in source["metrics"] if m["name"] in got}

    # the leaderboard and show read the re-scored row (the newest of its variant, task and seed)
    current = store.results(suite="scored", tasks=["rouge"])
    assert set(current["run_id"]) == {new_id} and "rouge2" not in set(current["metric"])
    assert main(["show", new_id, "--json", "--db", board]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"]["rescored_from"] == source["run_id"] and shown["samples"]["n_rows"] > 0


def test_same_params_give_back_the_runners_metrics_and_cis(board, capsys, no_model):
    store = Store(board)
    source = _run_of(store, "ppl")
    assert main(["score", "--suite", "scored", "--tasks", "ppl", "--as", "ppl-again", "--db", board]) == 0
    out = capsys.readouterr().out
    assert "params unchanged" in out
    again = store.runs(suite="scored")
    again = store.get_run(again[again["task"] == "ppl-again"]["run_id"].iloc[0])
    assert again["rescored_from"] == source["run_id"]
    assert _metrics(again) == _metrics(source)  # Runner.evaluate's aggregate, bootstrap, seed and n
    assert set(store.results(suite="scored", tasks=["ppl"])["run_id"]) == {source["run_id"]}  # beside it


def test_params_that_need_the_model_are_refused_with_one_line(board, capsys, no_model):
    source = _run_of(Store(board), "ppl")["run_id"]
    rouge = _run_of(Store(board), "rouge")["run_id"]
    line = one_line_error(capsys, ["score", source, "--set", "window=64", "--db", board])
    assert "param 'window' of task 'perplexity'" in line and "re-scorable params: none" in line
    line = one_line_error(capsys, ["score", rouge, "--set", "n_prompts=5", "--db", board])
    assert "param 'n_prompts'" in line
    assert "re-scorable params: rouge_types, use_stemmer, implementation" in line
    line = one_line_error(capsys, ["score", rouge, "--set", "rouge_typez=[rouge1]", "--db", board])
    assert "no param 'rouge_typez'" in line
    line = one_line_error(capsys, ["score", source, "--samples", "--db", board])
    assert "scores its samples with the model" in line  # perplexity's rows hold log-probs, no outputs
    line = one_line_error(capsys, ["score", rouge, "--set", "rouge_types=[rouge9]", "--db", board])
    assert "rouge_types" in line  # the task's Params validate the new value
    line = one_line_error(capsys, ["score", "--db", board])
    assert "name a RUN_ID" in line
    n_before = len(Store(board).runs(status=None))
    # a selection is re-scored whole or not at all: perplexity refuses, so the rouge run is not written
    line = one_line_error(
        capsys, ["score", "--suite", "scored", "--set", "rouge_types=[rouge1]", "--db", board]
    )
    assert "task 'perplexity' has no param 'rouge_types'" in line
    line = one_line_error(capsys, ["score", "--suite", "scored", "--as", "again", "--db", board])
    assert "--as again would give runs of several tasks one label" in line
    assert len(Store(board).runs(status=None)) == n_before
    assert main(["score", rouge, "--set", "n_prompts=3", "--set", "rouge_types=[rouge2]", "--db", board]) == 0
    assert len(Store(board).runs(status=None)) == n_before + 1  # an unchanged value is no change


def _mauve_table(rng: np.random.Generator, n: int = 40, k: int = 6) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "sample_id": [f"{i:05d}" for i in range(n)] * 2,
            "side": ["real"] * n + ["generated"] * n,
            "source_id": [f"d{i}" for i in range(2 * n)],
        }
    )
    for j in range(2):  # two quantizations; the generated side skews to the low buckets
        table[f"bucket{j}"] = np.concatenate([rng.integers(0, k, n), rng.integers(0, k // 2 + 1, n)])
    table["num_buckets"] = k
    return table


def test_mauve_scaling_changes_the_metric_from_the_stored_labels(tmp_path, no_model):
    """MAUVE's frontier knobs are read by aggregate alone: the stored k-means labels answer them."""
    table, task = _mauve_table(np.random.default_rng(3)), Mauve()
    params = MauveParams(kmeans_seeds=2)
    store = Store(tmp_path / "board.db")
    run = RunRecord(
        run_id="0123456789abcdef", suite="s", variant="v", family="lm", task="mauve", task_name="mauve",
        seed=0, config_hash="c0", model_key="m0", eval_key="e0", git_commit="g", package_versions={},
        timings={}, params=params.model_dump(mode="json"),
    )  # fmt: skip
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    store.record(run, summarize(task, table, params, 0, "mauve × v"), buf.getvalue())

    done = rescore(store, "0123", {"mauve_scaling_factor": 2.0})
    expected = task.aggregate(table, params.model_copy(update={"mauve_scaling_factor": 2.0}))
    old = {m["name"]: m["value"] for m in done.source["metrics"]}
    new = {m.name: m.value for m in done.metrics}
    assert new == pytest.approx(expected, rel=0, abs=0) and new["mauve"] != old["mauve"]
    assert done.changed == {"mauve_scaling_factor": (5.0, 2.0)}
    stored = store.get_run(done.run.run_id)
    assert stored["params"]["mauve_scaling_factor"] == 2.0 and stored["rescored_from"] == run.run_id
    assert all(m["ci_low"] <= m["value"] <= m["ci_high"] for m in stored["metrics"] if m["name"] == "mauve")


def _stored_samples(store: Store, run_id: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.sample_bytes(run_id)))


def _recorded(store: Store, task: object, table: pd.DataFrame, params, run_id: str, name: str) -> None:
    """A run of ``task`` recorded with ``table`` as its per-sample table and the runner's summary."""
    run = RunRecord(
        run_id=run_id, suite="s", variant="v", family="lm", task=name, task_name=name,
        seed=0, config_hash="c0", model_key="m0", eval_key=f"e-{name}", git_commit="g",
        package_versions={}, timings={}, params=params.model_dump(mode="json"),
    )  # fmt: skip
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    store.record(run, summarize(task, table, params, 0, f"{name} × v"), buf.getvalue())


ROUGE_TEXTS = pd.DataFrame(
    {
        "sample_id": ["p0", "p0", "p1", "p1", "p2", "p2"],
        "length": [8, 16] * 3,
        "generated": [
            "The cat sat. The cat ran.", "The cat sat. The cat ran to the mat.",
            "Dogs bark at night.", "Dogs bark at night and sleep by day.",
            "Rain fell on the hills.", "Rain fell on the hills. Rivers rose.",
        ],
        "reference": [
            "the cat sat on the mat.", "the cat sat on the mat. It ran away.",
            "A dog barks at night.", "A dog barks at night. Cats sleep.",
            "Rain fell. The hills were wet.", "Rain fell. The hills were wet. Rivers rose fast.",
        ],
        "n_generated": [8, 16] * 3,
    }
)  # fmt: skip


def test_per_sample_params_score_the_stored_outputs_again_without_the_model(tmp_path, capsys, no_model):
    """ROUGE's per-sample function (``Task.score_samples``) reads the stored texts: another
    implementation, or a ROUGE type never scored, is computed from them and equals scoring those texts
    directly; ``--samples`` with the same params gives the source's metrics and CIs back."""
    from harness.text.rouge import score_rouge, spacy_split
    from tasks.rouge import Rouge, RougeParams

    task = Rouge()
    params = RougeParams(lengths=(8, 16), rouge_types=("rouge1", "rouge2", "rougeL"))
    store = Store(tmp_path / "board.db")
    _recorded(store, task, task.score_samples(ROUGE_TEXTS, params), params, "a" * 16, "rouge")
    source = store.get_run("a" * 16)
    gen, ref = list(ROUGE_TEXTS["generated"]), list(ROUGE_TEXTS["reference"])

    done = rescore(store, "aaaa", {"implementation": "pltrdy"}, label="rouge-pltrdy")
    assert done.resampled and done.changed == {"implementation": ("rouge-score", "pltrdy")}
    scored = _stored_samples(store, done.run.run_id)
    assert list(scored["generated"]) == gen  # the same outputs, scored again
    direct = score_rouge(gen, ref, rouge_types=("rouge1", "rouge2", "rougeL"), implementation="pltrdy")
    assert list(scored["rouge1"]) == [d["rouge1"] for d in direct]
    assert set(scored["implementation"]) == {"pltrdy"}
    new = {m.name: m.value for m in done.metrics}
    assert new["rouge1"] == pytest.approx(np.mean([d["rouge1"] for d in direct]), abs=1e-12)
    assert new["rouge1"] != _metrics(source)["rouge1"][0]  # case-sensitive word sets: other numbers

    # a type the run never scored: the stored columns cannot answer it, the stored texts can
    done = rescore(store, "aaaa", {"rouge_types": ["rouge1", "rougeLsum"]}, label="rouge-lsum")
    lsum = score_rouge(gen, ref, rouge_types=("rougeLsum",), split=spacy_split)
    assert done.resampled
    assert list(_stored_samples(store, done.run.run_id)["rougeLsum"]) == [d["rougeLsum"] for d in lsum]
    # a subset of the scored types is answered by the stored columns: the very same table
    done = rescore(store, "aaaa", {"rouge_types": ["rouge2"]}, label="rouge-2")
    assert not done.resampled and done.samples == store.sample_bytes("a" * 16)

    # the current code's per-sample function on unchanged params reproduces the run
    capsys.readouterr()
    db = f"sqlite:///{tmp_path / 'board.db'}"
    assert main(["score", "aaaa", "--samples", "--as", "rouge-again", "--db", db]) == 0
    assert "every sample scored again" in capsys.readouterr().out
    runs = store.runs(suite="s")
    again = store.get_run(runs[runs["task"] == "rouge-again"]["run_id"].iloc[0])
    assert _metrics(again) == _metrics(source)


def test_math_judging_params_rescore_the_stored_answers(tmp_path, no_model):
    """``math``'s ``symbolic`` switch is read by its per-sample function alone: the stored answers are
    judged again (here without sympy), and only the symbolic-only verdicts move."""
    from tasks.math_task import Math, MathParams

    task, params = Math(), MathParams(dataset="corpus")
    rows = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c"], "level": ["1", "1", "2"], "subject": [None] * 3,
            "question": ["Simplify 2/4.", "What is 3+4?", "Write x^2-1 factored."],
            "output": ["#### \\frac{1}{2}", "#### 7", "#### (x-1)(x+1)"],
            "gold": ["\\frac{2}{4}", "7", "(x+1)(x-1)"], "n_tokens": [4, 2, 6],
        }
    )  # fmt: skip
    table = task.score_samples(rows, params)
    store = Store(tmp_path / "board.db")
    _recorded(store, task, table, params, "fedcba9876543210", "math")

    done = rescore(store, "fedc", {"symbolic": False})
    assert done.resampled and done.changed == {"symbolic": (True, False)}
    again = _stored_samples(store, done.run.run_id)
    expected = task.score_samples(rows, params.model_copy(update={"symbolic": False}))
    assert list(again["correct"]) == list(expected["correct"]) == [1, 1, 0]  # (x-1)(x+1) needs sympy
    assert list(table["correct"]) == [1, 1, 1]
    assert list(again["correct_string"]) == list(table["correct_string"])  # never symbolic
