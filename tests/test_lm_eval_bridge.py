"""The lm-eval bridge: ``planeval`` as an lm-eval model, end to end offline on a local gsm8k-style task
(lm-eval's own filters and metric from its installed gsm8k YAML), through ``simple_evaluate``, the
``planeval lm-eval`` command and ``python -m harness.lm_eval_bridge``'s ``main``; and every way of
naming the model (``hf=``, ``path=``, ``variant=`` + ``suite=`` + ``home=`` + ``seed=``)."""

from __future__ import annotations

import json
from pathlib import Path

import lm_eval
import pytest
import yaml
from _math_fixtures import GSM8K_ROWS, write_jsonl
from _models import micro_model, tiny_tokenizer
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager

from harness.cli import main as planeval_main
from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM
from harness.lm_eval_bridge import PlanevalBridgeLM, main, register
from harness.runner import Runner, plan_suite
from harness.sampling import Sampling
from harness.specs import SuiteSpec, validate
from harness.text.answers.numbers import extract_flexible, extract_strict, lm_eval_exact_match
from leaderboard.store import Store

TASK = "planeval_tiny_gsm8k"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tok = tiny_tokenizer()
    path = tmp_path_factory.mktemp("bridge") / "micro"
    micro_model(len(tok), n_positions=128, seed=4).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of lm-eval's gsm8k task: our prompt format, its filters and metric, a jsonl file."""
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    data = write_jsonl(folder / "gsm8k_tiny.jsonl", GSM8K_ROWS[:3])
    reference = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml").read_text())
    config = {
        "task": TASK,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "Problem: {{question}}\n",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["Problem:"], "do_sample": False, "max_gen_toks": 8},
        "num_fewshot": 0,
        "filter_list": reference["filter_list"],
        "metric_list": reference["metric_list"],
        "metadata": {"version": 1.0},
    }
    (folder / f"{TASK}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def test_registration_keeps_lm_evals_own_models() -> None:
    assert register() is register() is PlanevalBridgeLM
    assert get_model("planeval") is PlanevalBridgeLM
    assert get_model("hf") is HFLM  # built-ins still there


def test_simple_evaluate_runs_a_local_task(model_dir: Path, task_dir: Path) -> None:
    """End to end offline; per sample, lm-eval's filtered answers and scores equal our scorer's on the
    same raw outputs, and the outputs are what our own adapter generates for the same prompts."""
    register()
    results = lm_eval.simple_evaluate(
        model="planeval",
        model_args=f"hf={model_dir}",
        tasks=[TASK],
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        batch_size=2,
        device="cpu",
        bootstrap_iters=0,
        log_samples=True,
    )
    assert results is not None
    scores = results["results"][TASK]
    assert {"exact_match,strict-match", "exact_match,flexible-extract"} <= set(scores)
    samples = results["samples"][TASK]
    assert sorted((s["doc_id"], s["filter"]) for s in samples) == [
        (d, f) for d in range(3) for f in ("flexible-extract", "strict-match")
    ]
    ours = HFCausalLM.from_pretrained(str(model_dir), batch_size=2)
    prompts = [f"Problem: {row['question']}\n" for row in GSM8K_ROWS[:3]]
    greedy = Sampling(max_new_tokens=8, temperature=0.0, stop=("Problem:",))
    direct = [g.text for g in ours.generate(prompts, greedy)]
    for sample in samples:
        raw, text = sample["resps"][0][0], direct[sample["doc_id"]]
        assert raw == text
        gold = sample["doc"]["answer"]
        if sample["filter"] == "strict-match":
            assert sample["filtered_resps"][0] == extract_strict(raw)
            assert sample["exact_match"] == float(lm_eval_exact_match(extract_strict(raw), gold))
        else:
            assert sample["filtered_resps"][0] == extract_flexible(raw)
            assert sample["exact_match"] == float(lm_eval_exact_match(extract_flexible(raw), gold))


@pytest.fixture
def no_default_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """lm-eval's CLI always indexes its ~10k built-in tasks (7 s or more); the tests need only theirs."""
    import lm_eval.tasks

    real = lm_eval.tasks.TaskManager

    def task_manager(*args, **kwargs):
        return real(*args, **{**kwargs, "include_defaults": False})

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", task_manager)


def _cli_args(model_dir: Path, task_dir: Path, out: Path) -> list[str]:
    return [
        "--model",
        "planeval",
        "--model_args",
        f"hf={model_dir}",
        "--tasks",
        TASK,
        "--include_path",
        str(task_dir),
        "--limit",
        "2",
        "--batch_size",
        "2",
        "--output_path",
        str(out),
    ]


def _results(out: Path) -> dict:
    files = sorted(out.rglob("results_*.json"))
    assert files, f"no results file under {out}"
    return json.loads(files[-1].read_text())


def test_the_command_line_entries(model_dir: Path, task_dir: Path, tmp_path: Path, no_default_index) -> None:
    """``planeval lm-eval ...`` and ``python -m harness.lm_eval_bridge ...`` (its ``main``) take
    lm-eval's arguments unchanged and see the ``planeval`` model; lm-eval's default ``cuda:0`` device
    falls back to the CPU here. ``planeval lm-eval`` also records the results in the leaderboard (as
    ``import-lm-eval`` does), marked limited since lm-eval ran with ``--limit 2``."""
    db = f"sqlite:///{tmp_path / 'board.db'}"
    argv = ["lm-eval", "++db", db, "++variant", "bridged", *_cli_args(model_dir, task_dir, tmp_path / "a")]
    assert planeval_main([*argv, "--log_samples"]) == 0
    assert main(_cli_args(model_dir, task_dir, tmp_path / "b")) == 0
    via_planeval, via_module = _results(tmp_path / "a"), _results(tmp_path / "b")
    for res in (via_planeval, via_module):
        assert res["config"]["model"] == "planeval"
        assert "exact_match,strict-match" in res["results"][TASK]
    assert via_planeval["results"][TASK] == via_module["results"][TASK]

    store = Store(db)
    run = store.runs().set_index("task").loc[TASK]
    assert (run["variant"], run["family"], run["item_limit"]) == ("bridged", "lm-eval", 2)
    assert len(store.samples(run["run_id"])) == 2 * 2  # two documents, lm-eval's two filters
    recorded = store.results(include_limited=True).set_index("metric")["value"]
    assert recorded["exact_match_strict_match"] == via_planeval["results"][TASK]["exact_match,strict-match"]
    assert store.results().empty  # lm-eval's --limit rows stay out of default tables


def test_planeval_lm_eval_records_without_an_output_path(
    model_dir: Path, task_dir: Path, tmp_path: Path, no_default_index
) -> None:
    """Without ``--output_path`` lm-eval writes its files to a temporary folder, recorded from there."""
    db = f"sqlite:///{tmp_path / 'board.db'}"
    args = _cli_args(model_dir, task_dir, tmp_path / "unused")[:-2]  # no --output_path
    assert planeval_main(["lm-eval", "++db", db, *args]) == 0
    assert not (tmp_path / "unused").exists()
    assert set(Store(db).runs()["task"]) == {TASK}


@pytest.mark.slow
def test_python_m_bridge_as_a_user_runs_it(model_dir: Path, task_dir: Path, tmp_path: Path) -> None:
    """The real command in a fresh process, lm-eval's full task index included (slow: ~10-20 s)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "harness.lm_eval_bridge", *_cli_args(model_dir, task_dir, tmp_path)]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exact_match" in done.stdout and "strict-match" in done.stdout
    assert _results(tmp_path)["config"]["model"] == "planeval"


def test_bad_model_args_are_one_line_errors(
    model_dir: Path, task_dir: Path, tmp_path: Path, no_default_index, capsys
) -> None:
    with pytest.raises(PlanevalError, match="exactly one of variant"):
        PlanevalBridgeLM()
    with pytest.raises(PlanevalError, match="exactly one of"):
        PlanevalBridgeLM(hf=str(model_dir), path=str(model_dir))
    with pytest.raises(PlanevalError, match="unknown varient"):
        PlanevalBridgeLM(varient="x")
    with pytest.raises(PlanevalError, match=r"neither manifest\.json"):
        PlanevalBridgeLM(path=str(tmp_path))
    args = _cli_args(model_dir, task_dir, tmp_path / "out")
    args[args.index("--model_args") + 1] = "varient=x"
    assert main(args) == 2
    assert "planeval lm-eval: error: model_args: unknown varient" in capsys.readouterr().err


SUITE = """
name: bridge-micro
corpus: {source: synthetic, params: {n_articles: 30}}
tokenizer: {kind: bpe, vocab_size: 400}
variants: [unigram]
seeds: [0]
tasks:
  - {name: perplexity, params: {mode: rolling, max_docs: 2}}
"""


def test_a_suite_variant_by_name(tmp_path: Path) -> None:
    """``variant=,suite=,home=,seed=`` loads the very artifact ``planeval run`` trains (same key)."""
    suite_file = tmp_path / "bridge-micro.yaml"
    suite_file.write_text(SUITE)
    home = tmp_path / "home"
    args = {"variant": "unigram", "suite": str(suite_file), "home": str(home), "seed": 0}
    with pytest.raises(PlanevalError, match="planeval run"):
        PlanevalBridgeLM(**args)
    with pytest.raises(PlanevalError, match="not in suite 'bridge-micro'"):
        PlanevalBridgeLM(**{**args, "variant": "tiny-lm"})
    with pytest.raises(PlanevalError, match="no seed 3"):
        PlanevalBridgeLM(**{**args, "seed": 3})
    trained = PlanevalBridgeLM(**args, train="true", batch_size=4, device="cpu")
    plan = plan_suite(validate(SuiteSpec, yaml.safe_load(SUITE), str(suite_file)), str(suite_file))
    key = plan.models[0].key
    assert trained.identity == key
    loaded = PlanevalBridgeLM(**args)  # now cached: no training
    by_path = PlanevalBridgeLM(path=str(Runner(home).cache.path("train", key)))
    assert loaded.identity == by_path.identity == key
    requests = [Instance("loglikelihood_rolling", {}, ("The plan model writes each sentence.",), 0)]
    want = Runner(home, progress=False).model(plan.models[0]).loglikelihood_rolling(requests)
    assert loaded.loglikelihood_rolling(requests) == by_path.loglikelihood_rolling(requests) == want
