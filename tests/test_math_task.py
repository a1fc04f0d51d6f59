"""The math task: canned outputs scored by hand (each extractor, the Hendrycks reference next to ours),
the symbolic switch, and both math tasks through the runner on a micro model (rows, metrics, CIs)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _math_fixtures import GSM8K_ROWS, GSM8K_TRAIN, MATH_ROWS, CannedLM, write_jsonl
from _models import micro_model, tiny_tokenizer

from harness.corpus import Corpus
from harness.runner import Runner, plan_suite
from harness.specs import CorpusSpec, SuiteSpec, validate
from tasks.base import TASKS, TaskContext
from tasks.math_task import MathParams

CANNED = {
    # gold \frac12: Hendrycks maps 0.5 to \frac{1}{2}
    MATH_ROWS[0]["problem"]: "Halve it: \\boxed{0.5}.",
    # gold x^2+2x: only sympy sees that reordered terms are equal; '####' is the last stated answer
    MATH_ROWS[1]["problem"]: "Plan: expand\nSolution: x*x + 2*x\n#### 2x + x^2",
    # gold 10,\!080: Hendrycks keeps the comma
    MATH_ROWS[2][
        "problem"
    ]: "So \\boxed{10080}.\nFinal Answer: The final answer is 10080. I hope it is correct.",
    # gold [2,5): wrong
    MATH_ROWS[3]["problem"]: "\\boxed{[2,5]}",
}
# per row: hendrycks, boxed, minerva, hash, ours, string-only
EXPECTED = {
    "0": (1, 1, 0, 0, 1, 1),
    "1": (0, 0, 0, 1, 1, 0),
    "2": (0, 1, 1, 0, 1, 1),
    "3": (0, 0, 0, 0, 0, 0),
}
COLUMNS = [
    "correct_hendrycks",
    "correct_boxed",
    "correct_minerva",
    "correct_hash",
    "correct",
    "correct_string",
]


def _ctx(params: dict, tmp: Path) -> TaskContext:
    return TaskContext(
        corpus=Corpus(CorpusSpec(), [], [], []),
        params=validate(MathParams, params, "test"),
        seed=0,
        work_dir=tmp,
        progress=False,
    )


def test_canned_outputs_are_scored_by_hand(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    task = TASKS.get("math")()
    ctx = _ctx({"dataset": str(data)}, tmp_path)
    samples = task.evaluate(CannedLM(CANNED), ctx)
    assert list(samples["sample_id"]) == ["0", "1", "2", "3"]  # the rows' idx
    assert list(samples["gold"]) == ["\\frac12", "x^2+2x", "10,\\!080", "[2,5)"]
    assert list(samples["level"]) == ["1", "2", "2", "3"] and samples["subject"][2] == "Prealgebra"
    got = {r["sample_id"]: tuple(int(r[c]) for c in COLUMNS) for r in samples.to_dict("records")}
    assert got == EXPECTED
    assert list(samples["pred"]) == ["0.5", "2x + x^2", "10080", "[2,5]"]
    assert list(samples["pred_from"]) == ["boxed", "hash", "minerva", "boxed"]
    assert list(samples["equiv"]) == ["hendrycks", "symbolic", "normalized", ""]
    metrics = task.aggregate(samples, ctx.params)
    assert metrics == {
        "acc": 0.75,
        "acc_hendrycks": 0.25,
        "acc_boxed": 0.5,
        "acc_minerva": 0.25,
        "acc_hash": 0.25,
        "acc_string": 0.5,
        "acc@level1": 1.0,
        "acc@level2": 1.0,
        "acc@level3": 0.0,
    }


def test_symbolic_can_be_switched_off(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    samples = TASKS.get("math")().evaluate(
        CannedLM(CANNED), _ctx({"dataset": str(data), "symbolic": False}, tmp_path)
    )
    assert list(samples["correct"]) == [1, 0, 1, 0]


def test_math_params() -> None:
    p = MathParams()
    assert p.symbolic and p.symbolic_timeout_s == 5.0 and p.dataset == "corpus" and p.n_shots == 0
    with pytest.raises(ValueError):
        MathParams(symbolic_timeout_s=0)


def _suite(tmp: Path, model_dir: Path) -> SuiteSpec:
    gsm_test = write_jsonl(tmp / "gsm8k_test.jsonl", GSM8K_ROWS)
    gsm_train = write_jsonl(tmp / "gsm8k_train.jsonl", GSM8K_TRAIN)
    math_test = write_jsonl(tmp / "math_test.jsonl", MATH_ROWS)
    text = f"""
name: math-micro
corpus: {{source: synthetic, params: {{n_articles: 20}}}}
tokenizer: {{kind: bpe, vocab_size: 400}}
variants: ["hf:{model_dir}"]
seeds: [0]
tasks:
  - name: gsm8k
    params: {{dataset: "{gsm_test}", fewshot_dataset: "{gsm_train}", n_shots: 1, max_new_tokens: 8}}
  - name: math
    params: {{dataset: "{math_test}", max_new_tokens: 8, max_items: 3}}
  - name: gsm8k
    alias: gsm8k-lm-eval-cot
    params: {{protocol: lm-eval-gsm8k-cot, dataset: "{gsm_test}", gen_kwargs: {{max_gen_toks: 8}}}}
  - name: math
    alias: math-lm-eval
    params: {{protocol: lm-eval-hendrycks-math, dataset: "{math_test}", gen_kwargs: {{max_gen_toks: 8}}}}
"""
    return validate(SuiteSpec, yaml.safe_load(text), "math-micro.yaml")


def test_both_tasks_through_the_runner(tmp_path: Path) -> None:
    """A micro GPT-2 on tiny local files: per-sample rows, every metric with a bootstrap CI."""
    tok = tiny_tokenizer()
    model_dir = tmp_path / "micro"
    micro_model(len(tok), n_positions=128, seed=1).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    plan = plan_suite(_suite(tmp_path, model_dir), "math-micro.yaml")
    runner = Runner(tmp_path / "home", progress=False, log=lambda s: None)
    summary = runner.run(plan)
    assert not summary.failed and len(summary.ran) == 4
    by_task = {e.task.label: runner.cache.path("eval", e.key) for e in plan.evals}
    gsm = pd.read_parquet(by_task["gsm8k"] / "samples.parquet")
    math = pd.read_parquet(by_task["math"] / "samples.parquet")
    assert len(gsm) == 5 and len(math) == 3
    for frame in (gsm, math):
        assert {"sample_id", "output", "gold", "pred", "correct"} <= set(frame.columns)
    gsm_metrics = {m["name"]: m for m in json.loads((by_task["gsm8k"] / "metrics.json").read_text())}
    math_metrics = {m["name"]: m for m in json.loads((by_task["math"] / "metrics.json").read_text())}
    assert {"acc", "acc_strict", "acc_flexible", "acc_boxed"} <= set(gsm_metrics)
    assert {"acc", "acc_hendrycks", "acc_boxed", "acc_minerva", "acc_hash"} <= set(math_metrics)
    for m in [*gsm_metrics.values(), *math_metrics.values()]:
        assert m["higher_is_better"] and 0.0 <= m["value"] <= 1.0
        assert m["ci_low"] is not None and m["ci_low"] <= m["value"] <= m["ci_high"]
    assert gsm_metrics["acc"]["n"] == 5 and math_metrics["acc"]["n"] == 3
    # lm-eval protocols through the runner: lm-eval's scores next to ours, with CIs and the version kept
    cot = {m["name"]: m for m in json.loads((by_task["gsm8k-lm-eval-cot"] / "metrics.json").read_text())}
    lm_math = {m["name"]: m for m in json.loads((by_task["math-lm-eval"] / "metrics.json").read_text())}
    assert {"acc", "acc_strict", "acc_flexible"} <= set(cot) and {"acc", "acc_lm_eval"} <= set(lm_math)
    assert lm_math["acc_lm_eval"]["ci_low"] is not None
    info = json.loads((by_task["math-lm-eval"] / "work" / "lm_eval_protocol.json").read_text())
    assert info["task"] == "hendrycks_math_algebra" and info["lm_eval"]
    keys = {e.task.label: e.key for e in plan.evals}
    assert len(set(keys.values())) == 4  # the protocol is part of the key
