"""Back ends behind one interface: ``local-parallel`` gives the leaderboard ``local`` gives, a stage
made to fail once is retried, one that keeps failing is recorded failed with its log while the others
go on; per-stage resources are data (kind defaults, suite and variant overrides, a profile)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from _executors import INCLUDE, leaderboard, planeval, runs, suite_file

from harness.catalog import include_dir
from harness.errors import PlanevalError, SpecError
from harness.executors import check_name
from harness.executors.estimate import Estimator, recorded_runs
from harness.executors.graph import build_graph
from harness.executors.profile import load_profile
from harness.runner import plan_suite
from harness.specs import SuiteSpec


def test_local_parallel_leaderboard_equals_local(micro_local, tmp_path):
    suite, ref = micro_local
    out = planeval(suite, tmp_path / "home", "--executor", "local-parallel")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    pd.testing.assert_frame_equal(leaderboard(tmp_path / "home"), leaderboard(ref))
    # each evaluation recorded once, by the runner; independent stages were running side by side
    assert runs(tmp_path / "home")["run_id"].is_unique
    assert len(runs(tmp_path / "home")) == len(runs(ref))
    assert any(", 2 running," in line for line in out.stdout.splitlines()), out.stdout[-2000:]
    # run again: every stage is cached, nothing is submitted
    again = planeval(suite, tmp_path / "home", "--executor", "local-parallel")
    assert again.returncode == 0 and "[submit]" not in again.stdout, again.stdout[-2000:]


def test_failed_once_is_retried(micro_local, tmp_path):
    suite, ref = micro_local
    marker = tmp_path / "failed-once"
    out = planeval(suite, tmp_path / "home", "--executor", "local-parallel", "--retries", "1",
                   PLANEVAL_FAIL_ONCE=f"micro-lm:{marker}")  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert marker.exists()
    assert "[retry 1/1] train micro-lm seed=0: RuntimeError: injected failure" in out.stdout
    pd.testing.assert_frame_equal(leaderboard(tmp_path / "home"), leaderboard(ref))


@pytest.mark.slow
def test_failing_stage_is_recorded_failed_and_the_others_go_on(micro_local, tmp_path):
    suite, ref = micro_local
    marker = tmp_path / "failed-once"
    out = planeval(suite, tmp_path / "home", "--executor", "local-parallel", "--retries", "0",
                   PLANEVAL_FAIL_ONCE=f"rouge × unigram:{marker}")  # fmt: skip
    assert out.returncode == 1, out.stdout[-3000:]
    rows = runs(tmp_path / "home").set_index(["variant", "task"])
    assert rows.loc[("unigram", "rouge"), "status"] == "failed"
    error = rows.loc[("unigram", "rouge"), "error"]
    assert error.startswith("RuntimeError: injected failure") and "--- worker log ---" in error
    assert (rows.drop(("unigram", "rouge"))["status"] == "ok").all() and len(rows) == len(runs(ref))


# -- resources as data ------------------------------------------------------------------------------


def _plan(tmp_path: Path, **extra):
    include_dir(INCLUDE)
    spec = yaml.safe_load(suite_file(tmp_path).read_text())
    spec.update(extra)
    return plan_suite(SuiteSpec.model_validate(spec), "suite.yaml")


def test_resources_kind_defaults_then_profile_suite_name(tmp_path):
    plan = _plan(tmp_path, resources={"train": {"cpus": 4}, "micro-lm": {"gpus": 1, "mem_gb": 2},
                                      "rouge": {"timeout_min": 5}})  # fmt: skip
    graph = build_graph(plan)
    by_label = {s.label: s.resources for s in graph.values()}
    want = {"cpus": 4, "gpus": 1, "mem_gb": 2, "timeout_min": 1440}
    assert by_label["micro-lm seed=0"].model_dump() == want
    assert by_label["unigram seed=0"].cpus == 4 and by_label["unigram seed=0"].gpus == 0
    assert by_label["rouge × unigram seed=0"].timeout_min == 5
    assert by_label["synthetic"].model_dump() == {"cpus": 1, "gpus": 0, "mem_gb": 4, "timeout_min": 60}
    # dependencies: an evaluation waits for its model's training and its corpus
    rouge = next(s for s in graph.values() if s.label == "rouge × micro-lm seed=0")
    assert {graph[d].kind for d in rouge.deps} == {"corpus", "train"}


def test_profile_resources_sit_under_the_suite(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text("executor: slurm\nretries: 3\nresources: {train: {gpus: 2, cpus: 8}}\n"
                    "slurm: {partition: gpu, account: lab, qos: high}\n")  # fmt: skip
    profile = load_profile(path)
    assert profile.slurm.partition == "gpu" and profile.retries == 3
    plan = _plan(tmp_path, resources={"train": {"cpus": 2}})
    graph = build_graph(plan, profile.resources)
    train = next(s for s in graph.values() if s.label == "micro-lm seed=0")
    assert (train.resources.gpus, train.resources.cpus) == (2, 2)


def test_bad_resources_fail_with_file_and_field(tmp_path):
    with pytest.raises(SpecError, match=r"resources\.nonsense: is neither a stage kind"):
        build_graph(_plan(tmp_path, resources={"nonsense": {"cpus": 2}}))
    path = tmp_path / "profile.yaml"
    path.write_text("slurm: {partitoin: gpu}\n")
    with pytest.raises(SpecError, match=r"profile\.yaml: slurm\.partitoin: unknown field"):
        load_profile(path)
    path.write_text("resources: {train: {gpus: -1}}\n")
    with pytest.raises(SpecError, match=r"resources\.train\.gpus"):
        load_profile(path)
    with pytest.raises(PlanevalError, match="unknown executor 'slurn'; did you mean 'slurm'"):
        check_name("slurn")


# -- the cost estimate of --dry-run ------------------------------------------------------------------


def test_dry_run_estimates_from_recorded_timings_scaled_by_size(micro_local, tmp_path):
    suite, ref = micro_local
    db = f"sqlite:///{ref / 'leaderboard.db'}"
    recorded = runs(ref).set_index(["variant", "task"])
    train_s = recorded.loc[("micro-lm", "rouge"), "timings"]["train_s"]
    spec = yaml.safe_load(suite.read_text())
    spec["overrides"]["micro-lm"]["max_steps"] = 20  # twice the recorded training
    spec["resources"] = {"train": {"cpus": 2, "gpus": 1}}
    bigger = tmp_path / "bigger.yaml"
    bigger.write_text(yaml.safe_dump(spec))

    include_dir(INCLUDE)
    plan = plan_suite(SuiteSpec.model_validate(spec), str(bigger))
    graph = build_graph(plan)
    estimator = Estimator(recorded_runs(db))
    train = next(s for s in graph.values() if s.label == "micro-lm seed=0")
    assert estimator.stage(train).seconds == pytest.approx(2 * train_s)
    assert "scaled by size from 1 run(s) of lm" in estimator.stage(train).source
    unigram = next(s for s in graph.values() if s.label == "unigram seed=0")  # same key: its own record
    assert estimator.stage(unigram).source == "recorded"

    out = planeval(bigger, tmp_path / "home", "--dry-run", "--db", db)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "an ESTIMATE from recorded timings" in out.stdout
    estimates = out.stdout.split("an ESTIMATE from recorded timings")[1].splitlines()
    line = next(x for x in estimates if x.strip().startswith("train") and "micro-lm" in x)
    assert "cpus=2 gpus=1 mem=8G time=1440m" in line and "scaled by size" in line
    assert "CPU-hours" in out.stdout and "GPU-hours" in out.stdout
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.parquet"))


def test_progress_eta_learns_from_this_run_and_names_what_it_leaves_out(micro_local, tmp_path):
    """No recorded timing at all: the progress line says the ETA is unknown rather than a small number;
    once a stage of a kind is built, the others of that kind are estimated from it, and the stages still
    without any timing are named as left out."""
    from harness.executors.dag import _Progress
    from harness.executors.estimate import recorded_runs

    suite, _ = micro_local
    include_dir(INCLUDE)
    spec = {**yaml.safe_load(suite.read_text()), "seeds": [0, 1]}  # two trainings of each variant
    plan = plan_suite(SuiteSpec.model_validate(spec), str(suite))
    graph = build_graph(plan)
    lines: list[str] = []
    progress = _Progress(len(graph), lines.append, Estimator(recorded_runs(f"sqlite:///{tmp_path}/none.db")))
    trains = [s for s in graph.values() if s.kind == "train" and s.model is not None]
    same = [s for s in trains if s.model.variant.trainer == trains[0].model.variant.trainer]
    assert len(same) >= 2, [s.label for s in trains]
    progress.show(0, 0, 0, list(graph.values()))
    assert f"ETA unknown: {len(graph)} stages not timed yet" in lines[-1]

    progress.estimator.observe(same[0], 30.0)
    est = progress.estimator.stage(same[1])
    assert est.seconds is not None and est.seconds > 0 and "1 run(s)" in est.source
    left = [s for s in graph.values() if s is not same[0]]
    progress.show(1, 1, 0, left)
    known = sum(progress.estimator.stage(s).seconds is not None for s in left)
    assert 0 < known < len(left)
    assert f"; {len(left) - known} stages not timed yet)" in lines[-1] and "ETA ~" in lines[-1]


def test_ray_cancels_a_task_past_its_time_limit(monkeypatch):
    """Ray has no per-task limit: the back end keeps the deadline, cancels the worker and fails the stage
    as timed out (a stand-in for ray and a fake clock: the cluster test is test_ray.py)."""
    from harness.executors import ray_tasks
    from harness.executors.resources import Resources

    clock = [0.0]
    monkeypatch.setattr(ray_tasks.time, "monotonic", lambda: clock[0])

    class FakeRay:
        cancelled: list[tuple[str, bool]] = []
        finished: set[str] = set()

        def wait(self, refs, num_returns, timeout):
            ready = [r for r in refs if r in self.finished]
            if not ready:
                clock[0] += timeout  # nothing finished before the nearest deadline
            return ready[:num_returns], [r for r in refs if r not in ready]

        def cancel(self, ref, force):
            self.cancelled.append((ref, force))

        def get(self, ref):
            return ray_tasks.StageOutcome(ref, True, seconds=1.0)

    class FakeRemote:
        def options(self, **options):
            return self

        def remote(self, job):
            return job

    ex = object.__new__(ray_tasks.RayExecutor)
    ex.profile, ex.ray, ex.remote = load_profile(None), FakeRay(), FakeRemote()
    ex.deadlines, ex.timed_out = {}, set()
    slow = ex.submit("slow", Resources(timeout_min=2), "slow")
    clock[0] = 60.0
    fast = ex.submit("fast", Resources(timeout_min=5), "fast")
    ex.ray.finished.add("fast")
    assert ex.wait([slow, fast]) == ["fast"] and ex.outcome("fast").ok  # a finished task is read as usual
    assert ex.wait([slow]) == ["slow"] and clock[0] == 120.0  # woke at slow's deadline, not before
    assert ex.ray.cancelled == [("slow", True)]
    out = ex.outcome("slow")
    assert not out.ok and "past its time limit of 2 min" in out.error
