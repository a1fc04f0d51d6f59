"""The worker entry point: given the suite, the home and a stage id, re-plan and build exactly that
stage into the shared cache. Every back end runs this one function (``run_stage``) — in a local
process, a Slurm job (submitit pickles it), or a Ray task — and it never writes the leaderboard: the
runner records finished evaluations, once. ``python -m harness.executors.worker`` runs it by hand."""

from __future__ import annotations

import argparse
import collections
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: test hook: ``<label substring>:<marker file>`` makes the first attempt at a matching stage fail
#: (it creates the marker, so the retry succeeds), to show retries on a real back end
FAIL_ONCE_ENV = "PLANEVAL_FAIL_ONCE"
#: environment variables a job carries to its worker (a Ray worker does not inherit the driver's)
CARRIED_ENV = ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
LOG_TAIL = 40  # lines of the worker's log a failure carries to the leaderboard


@dataclass(frozen=True)
class JobTemplate:
    """How a worker re-plans the suite: its name or absolute path, and the ``--include`` folders."""

    suite: str
    includes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageJob:
    """What a worker needs to re-plan the suite exactly as the runner did, and which stage to build."""

    suite: str  # a registered suite name or an absolute path to its YAML
    home: str
    stage_id: str
    includes: tuple[str, ...] = ()
    #: stages running side by side on one machine: the worker's torch threads are divided by it
    threads_share: int = 1
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StageOutcome:
    stage_id: str
    ok: bool
    built: bool = False  # False: another worker had built it (the lease made this one reuse it)
    seconds: float = 0.0
    error: str | None = None  # one line, then the traceback and the tail of the worker's log
    host: str = ""
    resumed_from_step: int | None = None  # a training that resumed: ``seconds`` are its last part only


def carried_env() -> dict[str, str]:
    """The driver's variables a worker must see: planeval's own and the ones that fix numerics/offline."""
    return {k: v for k, v in os.environ.items() if k.startswith("PLANEVAL_") or k in CARRIED_ENV}


def _fail_once(label: str) -> None:
    spec = os.environ.get(FAIL_ONCE_ENV, "")
    match, sep, marker = spec.partition(":")
    if sep and match and match in label:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        raise RuntimeError(f"injected failure ({FAIL_ONCE_ENV}={spec})")


def run_stage(job: StageJob) -> StageOutcome:
    """Build one stage; a failure comes back as an outcome (with its log tail), never as a raise."""
    os.environ.update(job.env)
    from harness.lease import hostname
    from harness.threads import passive_waits

    passive_waits()
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)

    def log(line: str) -> None:
        tail.extend(str(line).splitlines())
        print(line, flush=True)

    start = time.perf_counter()
    try:
        built, resumed = _build(job, log)
        seconds = time.perf_counter() - start
        return StageOutcome(job.stage_id, True, built, seconds, host=hostname(), resumed_from_step=resumed)
    except Exception as exc:  # the runner decides: retry, or record it failed
        text = traceback.format_exc()
        print(text, flush=True)
        error = f"{type(exc).__name__}: {exc}\n{text}" + ("--- worker log ---\n" + "\n".join(tail))
        return StageOutcome(job.stage_id, False, False, time.perf_counter() - start, error, hostname())


#: what this worker process planned, by job identity: a process that runs several stages (a local pool
#: worker, a Ray worker) plans once and keeps its loaded corpus, tokenizer and model between stages
_SESSIONS: dict[tuple[Any, ...], tuple[Any, dict[str, Any], Any]] = {}


def _session(job: StageJob, log: Callable[[str], None]) -> tuple[Any, dict[str, Any], Any]:
    from harness.catalog import include_dir, resolve_suite
    from harness.executors.graph import build_graph
    from harness.runner import Runner, plan_suite

    path = Path(job.suite)
    stamp = path.stat().st_mtime_ns if path.is_file() else None  # an edited suite file is planned anew
    key = (job.suite, stamp, job.includes, job.home, job.threads_share)
    if key not in _SESSIONS:
        for d in job.includes:
            include_dir(Path(d))
        suite, source = resolve_suite(job.suite)
        plan = plan_suite(suite, source)
        runner = Runner(Path(job.home), progress=False, log=log, threads_share=job.threads_share)
        _SESSIONS.clear()
        _SESSIONS[key] = (plan, build_graph(plan), runner)
    plan, graph, runner = _SESSIONS[key]
    runner.log = runner.cache.log = log  # this job's log (its tail travels with a failure)
    return plan, graph, runner


def _build(job: StageJob, log: Callable[[str], None]) -> tuple[bool, int | None]:
    """Whether this process built the stage (not another it waited for), and the step a training it
    built resumed from."""
    from harness.errors import PlanevalError
    from harness.lease import owner_tag

    plan, graph, runner = _session(job, log)
    stage = graph.get(job.stage_id)
    if stage is None:
        raise PlanevalError(f"{plan.source}: stage {job.stage_id} is not in the suite's plan (edited?)")
    _fail_once(stage.label)
    cache = runner.cache
    check = runner.summary_check(stage.evals[0]) if stage.kind == "eval" else None
    if cache.exists(stage.dir, stage.key, check=check):
        return False, None
    if stage.kind == "corpus":
        runner.corpus(plan, stage.name)
    elif stage.kind == "tokenizer":
        runner.tokenizer(plan)
    elif stage.kind == "artifact":
        runner.artifact(plan, str(stage.name))
    elif stage.kind == "train":
        assert stage.model is not None
        runner.train(plan, stage.model)
    else:
        runner.evaluate(plan, stage.evals[0])
    if not cache.exists(stage.dir, stage.key, check=check, wait=False):
        raise RuntimeError(f"stage {job.stage_id} ({stage.label}) finished but is not in the cache")
    manifest = cache.manifest(stage.dir, stage.key)  # built here, or by a worker this one waited for
    built = str(manifest.get("build_id", "")).rsplit("-", 1)[0] == owner_tag().rsplit("-", 1)[0]
    return built, manifest.get("resumed_from_step") if built else None


def warm(job: StageJob) -> None:
    """Plan the suite in this process ahead of its first stage (a pool worker's start-up, overlapping
    the runner's own work); ``job.stage_id`` is unused."""
    os.environ.update(job.env)
    _session(job, print)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.executors.worker", description=__doc__)
    p.add_argument("suite")
    p.add_argument("stage_id")
    p.add_argument("--home", required=True)
    p.add_argument("--include", action="append", default=[])
    args = p.parse_args(argv)
    out = run_stage(StageJob(args.suite, args.home, args.stage_id, tuple(args.include), env=carried_env()))
    print(f"[worker] {out.stage_id}: {'ok' if out.ok else 'FAILED'} in {out.seconds:.1f}s")
    return 0 if out.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
