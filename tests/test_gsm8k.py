"""The gsm8k task: scoring of canned outputs (hand-computed), agreement of ``strict``/``flexible`` with
lm-eval's own gsm8k filters and metric (read from the installed task YAML), the CoT-regex bug we do not
copy, prompts and few-shot, data sources, and an end-to-end run on a micro model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from _math_fixtures import GSM8K_ROWS, GSM8K_TRAIN, CannedLM, write_jsonl
from _models import micro_model, tiny_tokenizer
from conftest import shared_file
from lm_eval.api.metrics import exact_match_hf_evaluate
from lm_eval.filters.extraction import RegexFilter

from harness.corpus import Corpus, Document
from harness.errors import MissingPathError, PlanevalError, SpecError
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling
from harness.specs import CorpusSpec, validate
from harness.text.answers.numbers import (
    LM_EVAL_FLEXIBLE,
    LM_EVAL_IGNORE,
    LM_EVAL_STRICT,
    extract_best,
    extract_flexible,
    extract_strict,
    lm_eval_exact_match,
)
from harness.text.math_prompts import FEWSHOT, PROMPT, format_prompt, solution_with_answer
from tasks.base import TASKS, TaskContext
from tasks.gsm8k import GSM8K, score_gsm8k
from tasks.math_common import MathTaskParams, load_items, pick_shots, subsample


def _lm_eval_yaml(name: str) -> dict:
    import lm_eval

    return yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / name).read_text())


# -- canned outputs, hand-computed -----------------------------------------------------------------

CANNED = {
    GSM8K_ROWS[0]["question"]: "She sells 9 eggs at $2.\n#### 18",  # every extractor but boxed
    GSM8K_ROWS[1]["question"]: "#### 40\nWait, he buys 2 more.\n#### 42",  # strict takes the first
    GSM8K_ROWS[2]["question"]: "3 + 4 = \\boxed{7}$. I hope it is correct.",  # flexible takes '$.'
    GSM8K_ROWS[3]["question"]: "8 times 8. The answer is 64",  # no '####'
    GSM8K_ROWS[4]["question"]: "#### 2125.00",  # gold '2,125': equal by value only
}
EXPECTED = {  # (strict, flexible, boxed, ours) per row
    "0": (1, 1, 0, 1),
    "1": (0, 1, 0, 1),
    "2": (0, 0, 1, 1),
    "3": (0, 1, 0, 1),
    "4": (0, 0, 0, 1),
}


def _ctx(params: dict, corpus: Corpus | None = None, seed: int = 0, tmp: Path | None = None) -> TaskContext:
    return TaskContext(
        corpus=corpus or Corpus(CorpusSpec(), [], [], []),
        params=validate(GSM8K.Params, params, "test"),
        seed=seed,
        work_dir=tmp or Path("."),
        progress=False,
    )


def test_canned_outputs_are_scored_by_hand(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "test.jsonl", GSM8K_ROWS)
    model = CannedLM(CANNED)
    task = TASKS.get("gsm8k")()
    ctx = _ctx({"dataset": str(data), "max_new_tokens": 32}, tmp=tmp_path)
    samples = task.evaluate(model, ctx)
    assert list(samples["sample_id"]) == ["0", "1", "2", "3", "4"]
    for col in ("output", "gold", "pred_strict", "pred_flexible", "pred_boxed", "pred", "correct"):
        assert col in samples.columns
    got = {
        r.sample_id: (r.correct_strict, r.correct_flexible, r.correct_boxed, r.correct)
        for r in samples.itertuples()
    }
    assert got == EXPECTED
    assert list(samples["pred_strict"]) == ["18", "40", "[invalid]", "[invalid]", "2125.00"]
    assert list(samples["pred_flexible"]) == ["18", "42", "$.", "64", "2125.00"]
    assert list(samples["pred"]) == ["18", "42", "7", "64", "2125"]
    assert list(samples["gold"])[4] == "2,125" and list(samples["gold_value"])[4] == "2125"
    metrics = task.aggregate(samples, ctx.params)
    assert metrics == {"acc": 1.0, "acc_strict": 0.2, "acc_flexible": 0.6, "acc_boxed": 0.2}
    # the generation call: the agreed zero-shot prompt, greedy, seeded, with the stop string
    call = model.calls[0]
    assert call["prompts"][0] == f"Problem: {GSM8K_ROWS[0]['question']}\n"
    assert call["sampling"] == Sampling(max_new_tokens=32, temperature=0.0, seed=0, stop=("Problem:",))


def test_outputs_are_cut_at_the_stop_string(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "test.jsonl", GSM8K_ROWS[:1])
    model = CannedLM({GSM8K_ROWS[0]["question"]: "#### 18\n\nProblem: next one\n#### 99"})
    samples = TASKS.get("gsm8k")().evaluate(model, _ctx({"dataset": str(data)}, tmp=tmp_path))
    assert samples["output"][0] == "#### 18\n\n" and samples["correct"][0] == 1


def test_gold_that_is_not_a_number_is_named() -> None:
    with pytest.raises(PlanevalError, match="sample 'x7': gold answer 'seven'"):
        score_gsm8k("#### 7", "seven", "x7")


# -- agreement with lm-eval's gsm8k filters ----------------------------------------------------------

HAND_OUTPUTS = [
    "#### 18",
    "#### 1,234.",
    "#### $18",
    "#### -3",
    "#### - 3",
    "#### 18.00",
    "#### .5",
    "#### 14 000",
    "so the total is 72.\n#### 72",
    "#### 40\nno, #### 42",
    "The answer is \\boxed{42}$. I hope it is correct.",
    "It costs $1,200.50 in total",
    "nothing numeric",
    "",
    "12, 13, 14.",
    "-7",
    "The answer is 6",
]


def _lm_eval_scores(output: str, gold_field: str, pattern: str, group: int, metric: dict) -> tuple[str, bool]:
    """lm-eval's own pipeline on one output: RegexFilter then exact_match with the YAML's options."""
    picked = RegexFilter(regex_pattern=pattern, group_select=group).apply([[output]], [{}])[0][0]
    kwargs = {k: metric[k] for k in ("ignore_case", "ignore_punctuation", "regexes_to_ignore")}
    em = exact_match_hf_evaluate(predictions=[picked], references=[gold_field], **kwargs)["exact_match"]
    return picked, bool(em)


def _agreement_cases() -> list[tuple[str, str]]:
    """(output, gold answer field): hand-written outputs against two golds, plus every GSM8K test
    reference solution as an output against its own gold and against the next item's gold."""
    cases = [(out, gold) for out in HAND_OUTPUTS for gold in ("x\n#### 18", "x\n#### 1,234", "x\n#### 42")]
    try:
        path = shared_file("gsm8k/test.jsonl")
    except pytest.skip.Exception:
        return cases
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row, nxt in zip(rows, rows[1:] + rows[:1], strict=True):
        cases += [(row["answer"], row["answer"]), (row["answer"], nxt["answer"])]
    return cases


def test_strict_and_flexible_agree_with_lm_eval() -> None:
    """Same extracted string and same 0/1 as lm-eval's filter + metric, on every case (the YAML's
    patterns and options are read from the installed lm-eval, so a change there shows up here)."""
    config = _lm_eval_yaml("gsm8k.yaml")
    filters = {f["name"]: f["filter"][0] for f in config["filter_list"]}
    metric = config["metric_list"][0]
    assert filters["strict-match"]["regex_pattern"] == LM_EVAL_STRICT
    assert filters["flexible-extract"]["regex_pattern"] == LM_EVAL_FLEXIBLE
    assert tuple(metric["regexes_to_ignore"]) == LM_EVAL_IGNORE and metric["ignore_case"]
    cases = _agreement_cases()
    for output, gold in cases:
        want = _lm_eval_scores(output, gold, LM_EVAL_STRICT, 0, metric)
        assert (extract_strict(output), lm_eval_exact_match(extract_strict(output), gold)) == want, output
        want = _lm_eval_scores(
            output, gold, LM_EVAL_FLEXIBLE, filters["flexible-extract"]["group_select"], metric
        )
        assert (extract_flexible(output), lm_eval_exact_match(extract_flexible(output), gold)) == want, output


def test_we_do_not_copy_the_cot_regex_bug() -> None:
    """gsm8k-cot's strict pattern ends in an unescaped '.', which must match one more character:
    'The answer is 6' matches nothing and 'The answer is 64' yields 6. Ours reads both right."""
    config = _lm_eval_yaml("gsm8k-cot.yaml")
    cot = next(f["filter"][0] for f in config["filter_list"] if f["name"] == "strict-match")
    assert cot["regex_pattern"] == "The answer is (\\-?[0-9\\.\\,]+)."
    metric = config["metric_list"][0]
    assert _lm_eval_scores("The answer is 6", "#### 6", cot["regex_pattern"], 0, metric) == (
        "[invalid]",
        False,
    )
    assert _lm_eval_scores("The answer is 64", "#### 64", cot["regex_pattern"], 0, metric) == ("6", False)
    assert _lm_eval_scores("The answer is 64.", "#### 64", cot["regex_pattern"], 0, metric) == ("64", True)
    for text, value in (("The answer is 6", 6), ("The answer is 64", 64), ("The answer is 64.", 64)):
        assert extract_best(text)[0] == value
        assert score_gsm8k(text, str(value))["correct"] == 1


def test_ours_scores_at_least_as_many_reference_solutions() -> None:
    """On the agreement cases, wherever lm-eval's strict filter scores a match ours does too."""
    metric = _lm_eval_yaml("gsm8k.yaml")["metric_list"][0]
    for output, gold in _agreement_cases():
        if (
            _lm_eval_scores(output, gold, LM_EVAL_STRICT, 0, metric)[1]
            and "\n" not in output.split("####")[-1]
        ):
            assert score_gsm8k(output, gold.rsplit("####", 1)[1].strip())["correct"] == 1, output


# -- prompts, few-shot, sources ----------------------------------------------------------------------


def test_prompt_format_is_the_agreed_one() -> None:
    assert PROMPT == "Problem: {question}\n"
    assert FEWSHOT == "Problem: {question}\nSolution: {solution}\n\n"
    shots = [("What is 1 + 1?", "1+1=2\n#### 2")]
    assert format_prompt("What is 2 + 2?", shots) == (
        "Problem: What is 1 + 1?\nSolution: 1+1=2\n#### 2\n\nProblem: What is 2 + 2?\n"
    )
    assert solution_with_answer("It is $\\boxed{3}$.", "3") == "It is $\\boxed{3}$.\n#### 3"
    assert solution_with_answer("2+1=3\n#### 3", "3") == "2+1=3\n#### 3"


def test_few_shot_draws_seeded_shots_from_the_train_file(tmp_path: Path) -> None:
    test = write_jsonl(tmp_path / "test.jsonl", GSM8K_ROWS)
    train = write_jsonl(tmp_path / "train.jsonl", GSM8K_TRAIN)
    model = CannedLM(CANNED)
    params = {"dataset": str(test), "fewshot_dataset": str(train), "n_shots": 2}
    TASKS.get("gsm8k")().evaluate(model, _ctx(params, seed=3, tmp=tmp_path))
    prompts = model.calls[0]["prompts"]
    assert all(p.count("Problem: ") == 3 and p.count("Solution: ") == 2 for p in prompts)
    assert all(
        p.endswith(f"Problem: {row['question']}\n") for p, row in zip(prompts, GSM8K_ROWS, strict=True)
    )
    assert "Solution: 1+1=<<1+1=2>>2\n#### 2\n\n" in "".join(prompts)  # reference solutions, as given
    again = CannedLM(CANNED)
    TASKS.get("gsm8k")().evaluate(again, _ctx(params, seed=3, tmp=tmp_path))
    assert again.calls[0]["prompts"] == prompts  # seeded
    items = load_items(str(test), "test", None)
    pool = load_items(str(train), "train", None)
    assert pick_shots(items[0], pool, 2, seed=3) == pick_shots(items[0], pool, 2, seed=3)
    assert {q for q, _ in pick_shots(items[0], items, 4, seed=0)} == {r["question"] for r in GSM8K_ROWS[1:]}
    with pytest.raises(PlanevalError, match="only 3"):
        pick_shots(items[0], pool, 4, seed=0)


def test_max_items_is_a_seeded_subset(tmp_path: Path) -> None:
    items = load_items(str(write_jsonl(tmp_path / "t.jsonl", GSM8K_ROWS)), "test", None)
    a, b = subsample(items, 3, seed=1), subsample(items, 3, seed=1)
    assert a == b and len(a) == 3
    assert [i.sample_id for i in a] == sorted(i.sample_id for i in a)  # original order kept
    assert subsample(items, 10, seed=1) == items


def test_corpus_documents_with_meta(tmp_path: Path) -> None:
    docs = [
        Document(
            f"d{i}", f"Problem: {r['question']}", meta={"question": r["question"], "answer": r["answer"][-2:]}
        )
        for i, r in enumerate(GSM8K_ROWS[:3])
    ]
    train = [Document("t0", "x", meta={"question": "What is 1 + 1?", "answer": "2", "solution": "1+1=2"})]
    corpus = Corpus(CorpusSpec(), train=train, val=[], test=docs)
    model = CannedLM(CANNED)
    samples = TASKS.get("gsm8k")().evaluate(model, _ctx({"n_shots": 1}, corpus=corpus, tmp=tmp_path))
    assert list(samples["sample_id"]) == ["d0", "d1", "d2"]
    assert list(samples["correct"]) == [1, 1, 1]
    assert "Solution: 1+1=2\n#### 2\n\n" in model.calls[0]["prompts"][0]
    bad = Corpus(CorpusSpec(), [], [], [Document("z", "no meta")])
    with pytest.raises(PlanevalError, match=r"document 'z' has no meta\.question"):
        TASKS.get("gsm8k")().evaluate(model, _ctx({}, corpus=bad, tmp=tmp_path))


def test_hf_source_reads_a_local_dataset_folder(tmp_path: Path) -> None:
    """``hf:<name>`` goes through ``datasets.load_dataset``; a local folder of jsonl needs no network."""
    folder = tmp_path / "gsm8k_local"
    folder.mkdir()
    write_jsonl(folder / "test.jsonl", GSM8K_ROWS)
    write_jsonl(folder / "train.jsonl", GSM8K_TRAIN)
    items = load_items(f"hf:{folder}", "test", None)
    assert [i.gold for i in items] == ["18", "42", "7", "64", "2,125"]
    assert len(load_items(f"hf:{folder}", "train", None)) == 3
    with pytest.raises(PlanevalError, match="split 'validation'"):
        load_items(f"hf:{folder}", "validation", None)


def test_params_are_validated_with_the_field_named(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", GSM8K_ROWS)
    assert validate(MathTaskParams, {"dataset": str(data)}, "s").prompt_template == PROMPT
    for params, field in (
        ({"dataset": str(tmp_path / "missing.jsonl")}, "dataset"),
        ({"prompt_template": "Q: {problem}"}, "prompt_template"),
        ({"fewshot_template": "{question}"}, "fewshot_template"),
        ({"dataset": str(data), "n_shots": 2}, "tasks.0.params"),
        ({"n_shot": 2}, "n_shot"),
        ({"dataset": "hf:"}, "dataset"),
    ):
        with pytest.raises(SpecError, match=field):
            validate(MathTaskParams, params, "suite.yaml", prefix="tasks.0.params")


def test_bad_rows_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "#### 1"}\n{"text": "x"}\n')
    with pytest.raises(PlanevalError, match=r"bad.jsonl row 2: expected GSM8K fields"):
        load_items(str(bad), "test", None)
    bad.write_text('{"question": "q", "answer": "#### 1"}\nnot json\n')
    with pytest.raises(PlanevalError, match="line 2: invalid JSON"):
        load_items(str(bad), "test", None)
    with pytest.raises(MissingPathError):
        load_items(str(tmp_path / "nope.jsonl"), "test", None)


# -- a micro model, end to end -------------------------------------------------------------------


def test_micro_model_end_to_end(tmp_path: Path) -> None:
    tok = tiny_tokenizer()
    model = HFCausalLM(micro_model(len(tok), n_positions=128, seed=3), tok, "micro", batch_size=4)
    test = write_jsonl(tmp_path / "test.jsonl", GSM8K_ROWS)
    train = write_jsonl(tmp_path / "train.jsonl", GSM8K_TRAIN)
    task = GSM8K()
    ctx = _ctx(
        {
            "dataset": str(test),
            "fewshot_dataset": str(train),
            "n_shots": 1,
            "max_new_tokens": 6,
            "max_items": 4,
        },
        tmp=tmp_path,
    )
    samples = task.evaluate(model, ctx)
    assert len(samples) == 4 and samples["sample_id"].is_unique
    assert (samples["n_tokens"] <= 6).all() and samples["output"].map(len).gt(0).any()
    metrics = task.aggregate(samples, ctx.params)
    assert set(metrics) == {"acc", "acc_strict", "acc_flexible", "acc_boxed"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # the per-sample columns recompute the metrics
    assert metrics["acc"] == pytest.approx(np.mean(samples["correct"]))


def test_arithmetic_corpus_through_the_parquet_round_trip(tmp_path: Path) -> None:
    """The agreed interface with the synthetic math generator: its documents (``meta`` saved and
    loaded through the corpus parquet) evaluate as items; an oracle answering with each document's own
    plan-tuned completion scores 1 under every extractor that reads ``####``."""
    from harness.corpus import build_corpus, load_corpus, save_corpus
    from harness.corpus.base import corpus_sources

    if "arithmetic" not in corpus_sources:
        pytest.skip("the 'arithmetic' corpus source is not registered")
    spec = CorpusSpec(source="arithmetic", params={"n_problems": 60}, test_fraction=0.2)
    save_corpus(build_corpus(spec), tmp_path / "corpus.parquet")
    corpus = load_corpus(spec, tmp_path / "corpus.parquet")
    docs = corpus.split("test")
    oracle = CannedLM(
        {d.meta["question"]: d.text[len(PROMPT.format(question=d.meta["question"])) :] for d in docs}
    )
    task = GSM8K()
    ctx = _ctx({"n_shots": 2}, corpus=corpus, tmp=tmp_path)
    samples = task.evaluate(oracle, ctx)
    assert list(samples["sample_id"]) == [d.id for d in docs]
    assert samples["output"].str.startswith("Plan:").all()
    metrics = task.aggregate(samples, ctx.params)
    assert metrics["acc"] == metrics["acc_strict"] == 1.0
    assert {k for k in metrics if k.startswith("acc@level")} == {
        f"acc@level{lv}" for lv in samples["level"].unique()
    }
    shots = oracle.calls[0]["prompts"][0].split("\n\n")[:2]  # seeded shots from the train split's meta
    assert all(s.startswith("Problem: ") and "\nSolution: " in s and "\n#### " in s for s in shots)


def test_a_task_reads_the_named_corpus_its_spec_selects(tmp_path: Path) -> None:
    """A suite over text names a math corpus (``corpora:``); the task spec's ``corpus:`` makes ``dataset:
    corpus`` read that corpus' split — the engine builds it as a corpus stage of its own, the same
    documents a trainer given ``corpus: math`` holds out."""
    from harness.corpus import build_corpus
    from harness.runner import Runner, plan_suite
    from harness.specs import SuiteSpec
    from leaderboard.store import Store

    spec = {"source": "arithmetic", "params": {"n_problems": 80, "levels": [1]}, "test_fraction": 0.2}
    own = {d.id for d in build_corpus(CorpusSpec(**spec)).split("test")}
    suite = SuiteSpec(
        name="named-corpus",
        corpus={"source": "synthetic", "params": {"n_articles": 30}},
        corpora={"math": spec},
        tokenizer={"vocab_size": 300},
        variants=["unigram"],
        tasks=[{"name": "gsm8k", "corpus": "math", "params": {"max_items": 5, "max_new_tokens": 4}}],
    )
    plan = plan_suite(suite)
    assert [e.corpus for e in plan.evals] == ["math"] and "math" in plan.corpus_keys
    home = tmp_path / "home"
    assert not Runner(home, progress=False, log=lambda _: None).run(plan).failed
    run_id = plan.evals[0].run_id
    samples = Store(f"sqlite:///{home / 'leaderboard.db'}").samples(run_id)
    assert len(samples) == 5 and set(samples["sample_id"]) <= own
    with pytest.raises(SpecError, match=r"tasks\.0\.corpus: no corpus named 'maths'.*math"):
        misspelt = suite.tasks[0].model_copy(update={"corpus": "maths"})
        plan_suite(suite.model_copy(update={"tasks": [misspelt]}))


def test_answers_are_generated_once_per_model_key_and_prompts(tmp_path: Path) -> None:
    """The planeval protocol's answers are an engine generation request (``harness.generation``, kind
    ``prompted``): a second evaluation of the same model key and prompts — another task version, another
    extractor — reads the stored answers and scores them the same; other prompts generate again."""
    from harness.cache import Cache

    data = write_jsonl(tmp_path / "test.jsonl", GSM8K_ROWS)
    cache = Cache(tmp_path / "cache")
    model = CannedLM(CANNED)
    task = TASKS.get("gsm8k")()

    def run(params: dict) -> object:
        ctx = _ctx({"dataset": str(data), "max_new_tokens": 32, **params}, tmp=tmp_path)
        ctx.cache, ctx.model_key = cache, "model-a"
        return task.evaluate(model, ctx)

    first = run({})
    assert len(model.calls) == 1
    again = run({})
    assert len(model.calls) == 1  # served from the generations stage
    assert again.equals(first)
    run({"prompt_template": "Answer briefly.\nProblem: {question}\n"})
    assert len(model.calls) == 2  # other prompts: other key
    assert len(list((tmp_path / "cache" / "generations").iterdir())) == 2
