"""planeval's metrics as ``evaluate`` modules: each loads offline by its local path and computes exactly
what the task's own evaluate + aggregate give on a small fixture (the task run on a micro or canned
model), per sample and in aggregate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _math_fixtures import GSM8K_ROWS, MATH_ROWS, CannedLM, write_jsonl
from _models import micro_model, sample_texts, tiny_tokenizer
from _tagger import micro_lm, planted_tagger, single_thread, synthetic_corpus  # noqa: F401

from harness.cache import Cache
from harness.corpus import Corpus, Document
from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM
from harness.specs import CorpusSpec, validate
from tasks import evaluate_metrics
from tasks.action_edit import ActionEdit, ActionEditParams
from tasks.base import TaskContext
from tasks.gsm8k import GSM8K
from tasks.math_task import Math, MathParams
from tasks.perplexity import Perplexity, PerplexityParams
from tasks.rouge import Rouge, RougeParams


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Hub: a module must load from its folder alone."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def _load(name: str, tmp_path: Path):
    return evaluate_metrics.load(name, cache_dir=str(tmp_path / "evaluate"))


def _ctx(params, tmp_path: Path, corpus: Corpus | None = None, **extra) -> TaskContext:
    return TaskContext(
        corpus=corpus or Corpus(CorpusSpec(), [], [], []),
        params=params,
        seed=2,
        work_dir=tmp_path,
        progress=False,
        **extra,
    )


def test_every_module_is_a_folder_with_its_script_and_card() -> None:
    for name in evaluate_metrics.NAMES:
        folder = Path(evaluate_metrics.path(name))
        assert (folder / f"{name}.py").is_file() and (folder / "README.md").is_file()
        assert (folder / "README.md").read_text().startswith("---\ntitle: planeval ")
    with pytest.raises(PlanevalError, match="no planeval evaluate module 'bleu'"):
        evaluate_metrics.path("bleu")


def test_loads_by_path_with_evaluate_itself(tmp_path: Path) -> None:
    import evaluate

    metric = evaluate.load(evaluate_metrics.path("action_edit_distance"), cache_dir=str(tmp_path))
    assert isinstance(metric, evaluate.Metric)
    assert "Levenshtein" in metric.description
    assert metric.compute(predictions=[[1, 2, 3]], references=[[1, 3]]) == {"edit": 1.0}


@pytest.mark.parametrize("mode", ["rolling", "paper"])
def test_perplexity_equals_the_task(tmp_path: Path, mode: str) -> None:
    tok = tiny_tokenizer()
    lm = HFCausalLM(micro_model(len(tok), n_positions=64), tok, identity="test:micro-64", batch_size=4)
    texts = sample_texts(4, seed=3, sentences=(2, 5))
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    params = PerplexityParams(mode=mode, window=32)
    task = Perplexity()
    expected = task.aggregate(
        task.evaluate(lm, _ctx(params, tmp_path, Corpus(CorpusSpec(), [], [], docs))), params
    )
    logprobs = lm.token_logprobs(texts, mode=mode, window=32, encoding=params.encoding)
    metric = _load("perplexity", tmp_path)
    got = metric.compute(predictions=[lp.tolist() for lp in logprobs], texts=texts)
    assert got == pytest.approx(dict(expected), rel=1e-12)
    without_texts = metric.compute(predictions=[lp.tolist() for lp in logprobs])
    assert set(without_texts) == {"perplexity", "nll_per_token"}


def _continuations_ctx(params, tmp_path: Path) -> TaskContext:
    return _ctx(
        params,
        tmp_path,
        synthetic_corpus(),
        artifacts={"actions": planted_tagger()},
        model_key="micro",
        cache=Cache(tmp_path / "cache"),
    )


@pytest.mark.parametrize(
    ("implementation", "types"),
    [
        ("rouge-score", ("rouge1", "rouge2", "rougeL", "rougeLsum")),
        ("pltrdy", ("rouge1", "rouge2", "rougeL")),
    ],
)
def test_rouge_equals_the_task(tmp_path: Path, implementation: str, types: tuple[str, ...]) -> None:
    params = RougeParams(
        n_prompts=3, min_prefix_tokens=16, lengths=[12, 24], rouge_types=types, implementation=implementation
    )
    task = Rouge()
    table = task.evaluate(micro_lm(), _continuations_ctx(params, tmp_path))
    expected = task.aggregate(table, params)
    metric = _load("rouge", tmp_path)
    got = metric.compute(
        predictions=list(table["generated"]),
        references=list(table["reference"]),
        rouge_types=list(types),
        implementation=implementation,
        lengths=list(table["length"]),
        return_samples=True,
    )
    assert got.pop("samples") == table[list(types)].to_dict("records")
    assert got == dict(expected)
    overall = metric.compute(
        predictions=list(table["generated"]),
        references=list(table["reference"]),
        implementation=implementation,
    )
    assert overall == {t: expected[t] for t in types}


def test_rouge_refuses_what_the_task_refuses(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="no stemmer"):
        _load("rouge", tmp_path).compute(
            predictions=["a b"], references=["a b"], implementation="pltrdy", use_stemmer=True
        )


def test_action_edit_distance_equals_the_task(tmp_path: Path) -> None:
    params = ActionEditParams(n_prompts=3, min_prefix_tokens=16, lengths=[20, 40], norm_tokens=20)
    task = ActionEdit()
    table = task.evaluate(micro_lm(), _continuations_ctx(params, tmp_path))
    expected = task.aggregate(table, params)
    metric = _load("action_edit_distance", tmp_path)
    gen = [list(map(int, a)) for a in table["generated_actions"]]
    ref = [list(map(int, a)) for a in table["reference_actions"]]
    got = metric.compute(
        predictions=gen, references=ref, lengths=list(table["length"]), norm_tokens=20, return_samples=True
    )
    assert got.pop("samples") == table[["edit", "edit_norm"]].to_dict("records")
    assert got == dict(expected)
    assert metric.compute(predictions=gen, references=ref) == {"edit": expected["edit"]}


GSM8K_OUTPUTS = {
    GSM8K_ROWS[0]["question"]: "She sells 9 eggs at $2.\n#### 18",
    GSM8K_ROWS[1]["question"]: "#### 40\nWait, he buys 2 more.\n#### 42",  # strict takes the first
    GSM8K_ROWS[2]["question"]: "3 + 4 = \\boxed{7}$. I hope it is correct.",
    GSM8K_ROWS[3]["question"]: "8 * 8 = 64 so the answer is 64.",
    GSM8K_ROWS[4]["question"]: "The town has 2125 people.\n#### 2,125",
}


def test_gsm8k_accuracy_equals_the_task(tmp_path: Path) -> None:
    rows = [{**r, "level": 1 + n % 2} for n, r in enumerate(GSM8K_ROWS)]
    data = write_jsonl(tmp_path / "gsm8k.jsonl", rows)
    params = validate(GSM8K.Params, {"dataset": str(data), "max_new_tokens": 32}, "test")
    task = GSM8K()
    table = task.evaluate(CannedLM(GSM8K_OUTPUTS), _ctx(params, tmp_path))
    expected = task.aggregate(table, params)
    assert 0 < expected["acc_strict"] < 1  # the fixture tells the extractors apart
    metric = _load("gsm8k_accuracy", tmp_path)
    got = metric.compute(
        predictions=list(table["output"]),
        references=[r["answer"] for r in rows],  # the rows' answer fields, read as the task reads them
        levels=list(table["level"]),
        return_samples=True,
    )
    columns = [c for c in table.columns if c.startswith(("pred", "correct", "gold_value"))]
    assert got.pop("samples") == table[columns].to_dict("records")
    assert got == dict(expected)


MATH_OUTPUTS = {
    MATH_ROWS[0]["problem"]: "Halve it: \\boxed{0.5}.",
    MATH_ROWS[1]["problem"]: "Plan: expand\nSolution: x*x + 2*x\n#### 2x + x^2",  # only sympy sees it
    MATH_ROWS[2][
        "problem"
    ]: "So \\boxed{10080}.\nFinal Answer: The final answer is 10080. I hope it is correct.",
    MATH_ROWS[3]["problem"]: "\\boxed{[2,5]}",
}


@pytest.mark.parametrize("symbolic", [True, False])
def test_math_accuracy_equals_the_task(tmp_path: Path, symbolic: bool) -> None:
    data = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    params = validate(MathParams, {"dataset": str(data), "symbolic": symbolic}, "test")
    task = Math()
    table = task.evaluate(CannedLM(MATH_OUTPUTS), _ctx(params, tmp_path))
    expected = task.aggregate(table, params)
    metric = _load("math_accuracy", tmp_path)
    got = metric.compute(
        predictions=list(table["output"]),
        references=list(table["gold"]),
        questions=list(table["question"]),
        levels=list(table["level"]),
        symbolic=symbolic,
        return_samples=True,
    )
    columns = [c for c in table.columns if c.startswith(("pred", "correct", "equiv"))]
    assert json.loads(json.dumps(got.pop("samples"))) == table[columns].to_dict("records")
    assert got == dict(expected)
    assert got["acc"] == (0.75 if symbolic else 0.5)


def test_mauve_on_features_equals_the_task(tmp_path: Path) -> None:
    """The task on micro-model samples through the default (offline) featurizer keeps its features; the
    module on those features with the run's seed gives the task's aggregate exactly."""
    import numpy as np

    from tasks.mauve import Mauve, MauveParams

    params = MauveParams(n_samples=12, max_new_tokens=16, max_text_length=32, kmeans_seeds=3)
    task = Mauve()
    ctx = _ctx(params, tmp_path, synthetic_corpus(), model_key="micro", cache=Cache(tmp_path / "cache"))
    table = task.evaluate(micro_lm(), ctx)
    expected = task.aggregate(table, params)
    saved = np.load(tmp_path / "features.npz")
    assert len(saved["real"]) == len(saved["generated"]) == 12
    metric = _load("mauve_features", tmp_path)
    got = metric.compute(
        predictions=saved["generated"].tolist(), references=saved["real"].tolist(), seed=2, kmeans_seeds=3
    )
    assert got == expected
    assert 0 < got["mauve"] <= 1


class _HalfPlanner(HFCausalLM):
    """The micro LM with a fake planner that plans the action the tagger finds for every other sentence
    and another one elsewhere (plan match strictly between 0 and 1); it keeps the texts it generated."""

    texts: list[str] = []

    def generate(self, prompts, sampling, *, progress=False):
        gens = super().generate(prompts, sampling, progress=progress)
        tagger = planted_tagger()
        for g, tags in zip(gens, tagger.tag([g.text for g in gens]), strict=True):
            g.plans = [(a + i % 2) % tagger.n_actions for i, a in enumerate(tags)]
        type(self).texts = [g.text for g in gens]
        return gens


def test_plan_match_equals_the_task(tmp_path: Path) -> None:
    from tasks.plan_match import PlanMatch, PlanMatchParams

    base = micro_lm()
    lm = _HalfPlanner(base.model, base.tokenizer, identity="test:half-planner")
    params = PlanMatchParams(n_samples=4, max_new_tokens=40)
    task = PlanMatch()
    ctx = _continuations_ctx(params, tmp_path)
    table = task.evaluate(lm, ctx)
    expected = task.aggregate(table, params)
    assert 0 < expected["plan_match"] < 1
    metric = _load("plan_match", tmp_path)
    got = metric.compute(
        predictions=[list(map(int, t)) for t in table["tagged"]],
        references=[list(map(int, p)) for p in table["plans"]],
        texts=_HalfPlanner.texts,
        n_actions=int(planted_tagger().n_actions),
        return_samples=True,
    )
    counts = ["n_plans", "n_sentences", "n_compared", "n_match"]
    assert got.pop("samples") == table[counts].to_dict("records")
    assert got == dict(expected)
    with pytest.raises(ValueError, match="needs each generated text"):
        metric.compute(predictions=[[1]], references=[[1]])
