"""The runner end to end on a micro suite: caching, selective re-runs, and exact resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.catalog import SUITES, include_dir
from harness.runner import Runner, plan_suite
from leaderboard.store import Store
from trainers.checkpointing import latest_checkpoint

INCLUDE = Path(__file__).parent / "data" / "include"


def micro_suite():
    include_dir(INCLUDE)
    return SUITES.get("micro")


def leaderboard(home: Path) -> pd.DataFrame:
    res = Store(f"sqlite:///{home / 'leaderboard.db'}").results()
    cols = ["variant", "task", "seed", "metric", "value", "ci_low", "ci_high", "n"]
    return res[cols].sort_values(cols[:4]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference_home(tmp_path_factory) -> Path:
    """One uninterrupted run of the micro suite."""
    home = tmp_path_factory.mktemp("ref")
    summary = Runner(home, progress=False, log=lambda s: None).run(plan_suite(micro_suite()))
    assert not summary.failed
    return home


def test_leaderboard_has_real_numbers(reference_home):
    lb = leaderboard(reference_home)
    ppl = lb[(lb.metric == "perplexity") & (lb.task == "ppl-rolling")].set_index("variant")["value"]
    assert ppl["micro-lm"] < ppl["unigram"]  # even a micro LM beats the unigram floor
    assert lb["value"].notna().all()
    assert (lb["ci_low"] <= lb["value"]).all() and (lb["value"] <= lb["ci_high"]).all()


def test_rerun_does_no_model_work(reference_home, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a cached suite must not load or train a model")

    monkeypatch.setattr(Runner, "model", boom)
    monkeypatch.setattr(Runner, "tokenizer", boom)
    start = time.perf_counter()
    summary = Runner(reference_home, progress=False, log=lambda s: None).run(plan_suite(micro_suite()))
    assert summary.ran == [] and not summary.failed
    assert time.perf_counter() - start < 10


def test_changing_one_task_param_reruns_only_that_task(reference_home, tmp_path):
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(reference_home, home)
    suite = micro_suite()
    tasks = [
        t if t.name != "rouge" else t.model_copy(update={"params": {**t.params, "lengths": [8, 12]}})
        for t in suite.tasks
    ]
    summary = Runner(home, progress=False, log=lambda s: None).run(
        plan_suite(suite.model_copy(update={"tasks": tasks}))
    )
    assert sorted(summary.ran) == ["eval rouge × micro-lm seed=0", "eval rouge × unigram seed=0"]
    assert all(not s.startswith("train") for s in summary.ran)


def run_cmd(home: Path, suite_file: Path) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "run", str(suite_file), "--include", str(INCLUDE),
            "--home", str(home), "--no-progress"]  # fmt: skip


def _run_and_kill(home: Path, when: str, suite_file: Path) -> None:
    """Start ``planeval run`` in a subprocess and SIGKILL it once ``when`` is observed."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        run_cmd(home, suite_file), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    cache = home / "cache"
    try:
        while time.time() < deadline and proc.poll() is None:
            if when == "training" and any(latest_checkpoint(p) for p in cache.glob("train/*.partial")):
                break
            if when == "evaluation" and list(cache.glob("eval/.tmp-*")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run finished before it could be killed during {when}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()


@pytest.mark.parametrize("when", ["training", pytest.param("evaluation", marks=pytest.mark.slow)])
def test_kill_9_then_rerun_equals_uninterrupted(reference_home, tmp_path, when):
    suite_file = INCLUDE / "micro-suite.yaml"
    home = tmp_path / "killed"
    _run_and_kill(home, when, suite_file)
    # what the kill left: no published half artifact, and only complete runs on the leaderboard
    assert not list((home / "cache").glob("*/*/manifest.json.*.tmp"))
    if (home / "leaderboard.db").exists():
        partial = leaderboard(home).groupby(["variant", "task"]).size()
        full = leaderboard(reference_home).groupby(["variant", "task"]).size()
        assert (partial == full.loc[partial.index]).all()
    if when == "training":
        assert any(latest_checkpoint(p) for p in (home / "cache").glob("train/*.partial"))

    rerun = subprocess.run(run_cmd(home, suite_file), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    if when == "training":  # it resumed from the checkpoint rather than starting over
        summaries = [json.loads(p.read_text()) for p in (home / "cache").glob("train/*/training.json")]
        assert any(s.get("resumed_from_step") for s in summaries)
        # its seconds are the last attempt's: the manifest and the run's timings say so, and the estimates
        # of later runs do not take them for the stage's time
        from harness.executors.estimate import Estimator

        manifests = [json.loads(p.read_text()) for p in (home / "cache").glob("train/*/manifest.json")]
        steps = {m["resumed_from_step"] for m in manifests if m.get("resumed_from_step")}
        runs = Store(f"sqlite:///{home}/leaderboard.db").runs()
        marked = {r.model_key: r.timings.get("train_resumed_from_step") for r in runs.itertuples()}
        marked = {k: v for k, v in marked.items() if v}
        assert steps and marked and set(marked.values()) <= steps, (marked, steps)
        assert not set(marked) & set(Estimator(runs).train_by_key)
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(reference_home))


def test_runner_module_exposes_no_partial_rows_on_failure(tmp_path, monkeypatch):
    """A failing task records a failed run without metric rows; the other tasks still land."""
    from tasks.rouge import Rouge

    def fail(self, model, ctx):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(Rouge, "evaluate", fail)
    summary = Runner(tmp_path, progress=False, log=lambda s: None).run(plan_suite(micro_suite()))
    assert len(summary.failed) == 2
    store = Store(f"sqlite:///{tmp_path / 'leaderboard.db'}")
    runs = store.runs(status=None)
    failed = runs[runs.status == "failed"]
    assert set(failed.task) == {"rouge"} and failed.error.str.contains("planted failure").all()
    assert "rouge" not in set(store.results()["task"])
    from harness.summary import N_BOOT

    assert N_BOOT > 0


def test_hf_variant_from_a_local_path(tmp_path):
    """``hf:<path>`` evaluates a pretrained model without training; its identity hashes the weights."""
    from _models import micro_model, tiny_tokenizer

    from harness.hf_adapter import HFCausalLM
    from harness.specs import SuiteSpec, TaskSpec

    tok = tiny_tokenizer()
    model_dir = tmp_path / "model"
    micro_model(len(tok), n_positions=64).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    suite = SuiteSpec(
        name="hf-local",
        corpus={"source": "synthetic", "params": {"n_articles": 60}},
        variants=[f"hf:{model_dir}"],
        tasks=[TaskSpec(name="perplexity", params={"mode": "rolling", "max_docs": 3})],
    )
    plan = plan_suite(suite)
    prefix, loaded = plan.models[0].pretrained
    assert prefix == "hf" and loaded.target.startswith(str(model_dir))
    assert plan.models[0].capabilities == HFCausalLM.capabilities  # declared by the loader, known unloaded
    assert "hidden_sites" in HFCausalLM.capabilities
    summary = Runner(tmp_path / "home", progress=False, log=lambda s: None).run(plan)
    assert not summary.failed and summary.ran == ["eval perplexity × hf:" + str(model_dir) + " seed=0"]
    res = Store(f"sqlite:///{tmp_path / 'home' / 'leaderboard.db'}").results()
    assert res.set_index("metric").loc["perplexity", "value"] > 1

    micro_model(len(tok), n_positions=64, seed=1).save_pretrained(model_dir)  # new weights, new key
    assert plan_suite(suite).models[0].key != plan.models[0].key


def test_metrics_recompute_from_the_stored_samples(reference_home):
    """Every leaderboard value is the task's aggregate of its per-sample parquet: no model needed."""
    from tasks.base import TASKS

    store = Store(f"sqlite:///{reference_home / 'leaderboard.db'}")
    for run_id in store.runs()["run_id"]:
        run = store.get_run(run_id)
        task = TASKS.get(run["task_name"])()
        samples = pd.read_parquet(run["samples_path"])
        values = task.aggregate(samples, task.Params(**run["params"]))
        for m in run["metrics"]:
            assert values[m["name"]] == pytest.approx(m["value"], rel=1e-12)


def test_task_variants_restrict_the_eval_stages():
    """``variants:`` on a task runs it on those suite variants only; a name outside the suite is a spec
    error naming the field and listing the valid names."""
    from harness.errors import SpecError

    suite = micro_suite()
    names = list(suite.variants)
    only = suite.tasks[0].model_copy(update={"variants": [names[0]]})
    plan = plan_suite(suite.model_copy(update={"tasks": [only, *suite.tasks[1:]]}))
    first = [e for e in plan.evals if e.task.label == only.label]
    assert {e.model.variant.name for e in first} == {names[0]}
    others = [e for e in plan.evals if e.task.label != only.label]
    assert len(others) == len(plan_suite(suite).evals) - len(suite.tasks[0:1]) * len(plan_suite(suite).models)
    bad = suite.tasks[0].model_copy(update={"variants": ["no-such-variant"]})
    with pytest.raises(SpecError) as err:
        plan_suite(suite.model_copy(update={"tasks": [bad, *suite.tasks[1:]]}))
    assert "tasks.0.variants.0" in str(err.value) and names[0] in str(err.value)
