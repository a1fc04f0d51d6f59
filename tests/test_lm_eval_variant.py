"""``lm-eval:<model>,<model_args>`` variants: lm-eval's own ``hf`` model on a tiny local GPT-2 runs
``perplexity`` (rolling) and ``gsm8k`` (planeval's protocol and lm-eval's) in a suite, with the same numbers
as the same folder as ``hf:<dir>``; a task needing what lm-eval's interface lacks is refused at planning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _math_fixtures import GSM8K_ROWS, write_jsonl
from _models import micro_model, tiny_tokenizer

from harness.errors import SpecError
from harness.runner import Runner, plan_suite
from harness.specs import SuiteSpec, TaskSpec
from leaderboard.store import Store

TASKS = [
    TaskSpec(name="perplexity", params={"mode": "rolling", "max_docs": 4}),
    TaskSpec(name="gsm8k", params={"max_new_tokens": 8}),  # planeval's protocol, greedy
    TaskSpec(
        name="gsm8k",
        alias="gsm8k_lm_eval",
        params={"protocol": "lm-eval-gsm8k", "num_fewshot": 1, "gen_kwargs": {"max_gen_toks": 8}},
    ),
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tok = tiny_tokenizer()
    path = tmp_path_factory.mktemp("lm_eval_variant") / "gpt2"
    micro_model(len(tok), n_positions=128, seed=3).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def _data(task: TaskSpec, data: Path) -> dict:
    """The rows to answer; lm-eval's GSM8K draws its shot from a train split: the same rows."""
    return {"dataset": str(data), **({"fewshot_dataset": str(data)} if "protocol" in task.params else {})}


def _suite(model_dir: Path, data: Path, variants: list[str], tasks: list[TaskSpec] = TASKS) -> SuiteSpec:
    with_data = [
        t.model_copy(update={"params": {**t.params, **_data(t, data)}}) if t.name == "gsm8k" else t
        for t in tasks
    ]
    return SuiteSpec(
        name="lm-eval-variant",
        corpus={"source": "synthetic", "params": {"n_articles": 60}},
        variants=variants,
        tasks=with_data,
    )


def test_lm_eval_variant_equals_the_hf_variant(model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS[:3])
    ours, theirs = f"hf:{model_dir}", f"lm-eval:hf,pretrained={model_dir},batch_size=2"
    plan = plan_suite(_suite(model_dir, data, [ours, theirs]))
    loaded = {m.variant.name: m for m in plan.models}
    assert loaded[theirs].capabilities == {"rolling_loglikelihood", "greedy_generation"}
    identity = loaded[theirs].pretrained[1].identity
    assert identity.startswith(f"lm-eval:hf,pretrained={model_dir.resolve()}#")  # args + weights digest
    assert "batch_size" not in identity

    home = tmp_path / "home"
    summary = Runner(home, progress=False, log=lambda s: None).run(plan)
    assert not summary.failed and len(summary.ran) == 6
    store = Store(f"sqlite:///{home / 'leaderboard.db'}")
    res = store.results().set_index(["variant", "task", "metric"])["value"].sort_index()
    assert res[ours, "perplexity", "perplexity"] > 1
    assert res[theirs, "perplexity", "perplexity"] == pytest.approx(
        res[ours, "perplexity", "perplexity"], rel=1e-6
    )
    for task in ("gsm8k", "gsm8k_lm_eval"):
        for metric in res[ours, task].index:
            assert res[theirs, task, metric] == res[ours, task, metric], (task, metric)

    runs = store.runs().set_index(["variant", "task"])
    # lm-eval's protocol: both answer through lm-eval's hf generate_until, so the outputs are the same
    a, b = (
        store.load_samples(store.get_run(runs.loc[(v, "gsm8k_lm_eval"), "run_id"])) for v in (ours, theirs)
    )
    assert list(a["output"]) == list(b["output"]) and a["output"].str.len().gt(0).any()
    assert runs.loc[(theirs, "perplexity"), "family"] == "lm-eval"


def test_a_task_lm_eval_cannot_serve_is_refused_at_planning(model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS[:3])
    variant = f"lm-eval:hf,pretrained={model_dir}"
    for task, missing in (
        (TaskSpec(name="perplexity", params={"mode": "paper"}), "token_scores"),
        (TaskSpec(name="rouge", params={"n_prompts": 2}), "sampling"),
        (TaskSpec(name="gsm8k", params={"temperature": 0.7}), "sampling"),
    ):
        with pytest.raises(SpecError) as err:
            plan_suite(_suite(model_dir, data, [variant], [task]))
        line = str(err.value)
        assert "\n" not in line and f"needs the capability {missing}" in line and "tasks.0" in line


def test_bad_lm_eval_references_are_one_line(model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS[:3])
    for variant, problem in (
        ("lm-eval:no-such-model", "lm-eval has no model 'no-such-model'"),
        ("lm-eval:", "give an lm-eval model name"),
        (f"lm-eval:hf,pretrained={model_dir},dtype", "option 'dtype' is not key=value"),
        (f"lm-eval:hf,pretrained={tmp_path / 'absent'}", "no such model folder"),
    ):
        with pytest.raises(Exception) as err:
            plan_suite(_suite(model_dir, data, [variant], TASKS[:1]))
        assert problem in str(err.value) and "variants.0" in str(err.value), str(err.value)


def test_lm_eval_variant_in_a_suite_file(model_dir: Path, tmp_path: Path) -> None:
    """Spelled in a YAML suite (a block list: the commas are the model args, not YAML's)."""
    from harness.catalog import resolve_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: lm-eval-yaml\ncorpus: {source: synthetic, params: {n_articles: 60}}\nvariants:\n"
        f"  - {json.dumps(f'lm-eval:hf,pretrained={model_dir},name=theirs')}\n"
        "tasks:\n  - {name: perplexity, params: {mode: rolling, max_docs: 2}}\n"
    )
    spec, source = resolve_suite(str(suite))
    plan = plan_suite(spec, source)
    assert plan.models[0].pretrained[0] == "lm-eval" and plan.models[0].context == 128
    assert plan.models[0].row_name == "theirs" and "name=" not in plan.models[0].pretrained[1].identity
