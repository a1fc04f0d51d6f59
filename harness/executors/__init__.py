"""Back ends that run a plan's stages: ``local`` (the runner builds each stage in turn, in-process),
``local-parallel`` (independent stages in parallel processes, threads split between them), ``slurm``
(submitit) and ``ray`` (Ray core tasks). All but ``local`` go through ``dag.run``: planeval's own DAG,
a worker per stage sharing the cache, the leaderboard written by the runner process once."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import PlanevalError
from harness.registry import did_you_mean

if TYPE_CHECKING:
    from harness.executors.base import Executor
    from harness.executors.profile import Profile
    from harness.executors.worker import JobTemplate

#: back end name → ``module:class``, imported only when chosen (submitit and ray are optional extras)
EXECUTORS: dict[str, str | None] = {
    "local": None,
    "local-parallel": "harness.executors.local_parallel:LocalParallelExecutor",
    "slurm": "harness.executors.slurm:SlurmExecutor",
    "ray": "harness.executors.ray_tasks:RayExecutor",
}


def check_name(name: str, where: str = "--executor") -> str:
    if name not in EXECUTORS:
        valid = sorted(EXECUTORS)
        raise PlanevalError(
            f"{where}: unknown executor {name!r}{did_you_mean(name, valid)} (valid: {', '.join(valid)})"
        )
    return name


def make_executor(name: str, profile: Profile, home: Path, template: JobTemplate | None = None) -> Executor:
    """The back end ``name`` (not ``local``, which is the runner itself). With ``template``, its workers
    start now (``Executor.prepare``): made before the runner plans, their start-up overlaps planning."""
    from harness.executors.worker import StageJob, carried_env

    target = EXECUTORS[check_name(name)]
    assert target is not None, "local runs in the runner, without an executor"
    module, cls = target.split(":")
    executor: Executor = getattr(importlib.import_module(module), cls)(profile, home)
    if template is not None:
        where = str(Path(home).resolve())
        job = StageJob(template.suite, where, "", template.includes, executor.share, carried_env())
        executor.prepare(job)
    return executor
