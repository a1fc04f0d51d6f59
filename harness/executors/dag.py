"""Run a plan's stage graph on a back end: a stage is submitted once its inputs exist, independent
stages run at once, a failed one is retried up to ``retries`` times and then recorded failed (with the
worker's log tail) while the stages that do not need it go on. Cached stages are never submitted, so a
killed runner, run again, redoes nothing finished; a stage a still-running job of the killed runner is
building is waited for through its lease by the job submitted now. The leaderboard is written here, in
the runner process, once per evaluation (``Runner.record``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.executors.base import Executor
from harness.executors.estimate import Estimator, duration, recorded_runs
from harness.executors.graph import Stage, build_graph
from harness.executors.status import eta_seconds
from harness.executors.worker import JobTemplate, StageJob, StageOutcome, carried_env
from harness.runner import Plan, Runner, RunSummary, eval_log
from leaderboard.store import Store, check_writable


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "failed"


class _Progress:
    """One line per change for the whole suite: done / running / queued / failed, and the ETA (an
    estimate from the leaderboard's recorded timings, ``harness.executors.status.eta_seconds``)."""

    def __init__(self, total: int, log: Callable[[str], None], estimator: Estimator):
        self.total, self.log, self.start, self.estimator = total, log, time.perf_counter(), estimator

    def show(self, done: int, running: int, failed: int, left: list[Stage]) -> None:
        queued = self.total - done - running - failed
        eta, missing = eta_seconds(left, running, self.estimator)
        shown = ""
        if left and eta > 0:  # stages with no timing yet are not in it: say so, or it reads as a total
            untimed = f"; {missing} stages not timed yet" if missing else ""
            shown = f", ETA ~{duration(eta)} (estimate{untimed})"
        elif left and missing:
            shown = f", ETA unknown: {missing} stages not timed yet"
        self.log(f"[suite] {done}/{self.total} done, {running} running, {queued} queued, {failed} failed "
                 f"({time.perf_counter() - self.start:.0f}s{shown})")  # fmt: skip


def run(
    runner: Runner,
    plan: Plan,
    executor: Executor,
    template: JobTemplate,
    retries: int,
    graph: dict[str, Stage] | None = None,
) -> RunSummary:
    start = time.perf_counter()
    log = runner.log
    summary = RunSummary()
    check_writable(runner.db_url)
    runner.home.mkdir(parents=True, exist_ok=True)
    runner.cache.clean_tmp()
    store = Store(runner.db_url)
    trackers = runner.trackers(plan)
    stages = graph or build_graph(plan)
    env = carried_env()

    def cached(s: Stage) -> bool:  # no wait: a stage being built elsewhere is submitted, its job waits
        check = runner.summary_check(s.evals[0]) if s.kind == "eval" else None
        return runner.cache.exists(s.dir, s.key, check=check, wait=False)

    def note(s: Stage, built: bool) -> None:
        if s.kind in ("train", "eval"):
            (summary.ran if built else summary.cached).append(f"{s.kind} {s.label}")

    def record(s: Stage, built: bool, error: str | None = None) -> None:
        if s.kind == "train" and error is None and s.model is not None:
            runner.record_training(store, trackers, plan, s.model, ran=built)  # its history, once
        for e in s.evals:
            if error is None and not built and store.has_run(e.run_id):
                continue  # recorded before: a rebuilt stage is recorded again
            run, metrics = runner.record(store, plan, e, error)
            if trackers:
                trackers.eval(eval_log(run, metrics))

    home = str(runner.home.resolve())
    done: set[str] = set()
    failed: dict[str, str] = {}
    for s in stages.values():
        if cached(s):
            done.add(s.id)
            note(s, False)
            record(s, False)
    summary.cached += [f"train {m.label}" for m in plan.models if m.pretrained]
    attempts: dict[str, int] = {}
    running: dict[Any, Stage] = {}
    progress = _Progress(len(stages), log, Estimator(recorded_runs(runner.db_url)))

    def submit(s: Stage) -> None:
        attempts[s.id] = attempts.get(s.id, 0) + 1
        job = StageJob(template.suite, home, s.id, template.includes, executor.share, env)
        try:
            handle = executor.submit(job, s.resources, s.label)
        except Exception as exc:  # the back end refused it (a bad partition, a request no node fits)
            fail(s, f"could not submit: {type(exc).__name__}: {str(exc).strip()}")
            return
        running[handle] = s
        where = executor.describe(handle)
        log(f"[submit] {s.kind} {s.label} ({s.resources.describe()}){' ' + where if where else ''}")

    def fail(s: Stage, error: str) -> None:
        failed[s.id] = error
        summary.failed.append(f"{s.kind} {s.label}")
        log(f"[{s.kind}] {s.label} FAILED\n{error}")
        record(s, False, error)

    try:
        while True:
            for s in stages.values():  # dependencies first: a failed input fails its readers now
                if s.id in done or s.id in failed or s in running.values():
                    continue
                broken = [d for d in s.deps if d in failed]
                if broken:
                    dep = stages[broken[0]]
                    fail(s, f"{'training' if dep.kind == 'train' else dep.kind} failed: "
                            f"{_first_line(failed[dep.id])}")  # fmt: skip
                    continue
                if all(d in done for d in s.deps) and (
                    executor.max_parallel is None or len(running) < executor.max_parallel
                ):
                    submit(s)
            left = [s for s in stages.values() if s.id not in done and s.id not in failed]
            progress.show(len(done), len(running), len(failed), left)
            if not running:
                break
            for handle in executor.wait(list(running)):
                s = running.pop(handle)
                out: StageOutcome = executor.outcome(handle)
                if out.ok:
                    done.add(s.id)
                    note(s, out.built)
                    how = " (built elsewhere)" if not out.built else ""
                    if out.resumed_from_step:
                        how = f" (resumed from step {out.resumed_from_step})"
                    log(f"[done] {s.kind} {s.label} in {out.seconds:.1f}s{how}")
                    if out.built and out.seconds and not out.resumed_from_step:
                        progress.estimator.observe(s, out.seconds)
                    record(s, out.built)
                elif attempts[s.id] <= retries:
                    why = _first_line(out.error or "")
                    log(f"[retry {attempts[s.id]}/{retries}] {s.kind} {s.label}: {why}")
                    submit(s)
                else:
                    fail(s, out.error or "failed")
    finally:
        executor.close()
        trackers.close()
    summary.seconds = time.perf_counter() - start
    return summary
