"""``local-parallel``: independent stages in parallel worker processes on this machine. Each worker is
forked from a fresh fork server and runs ``worker.run_stage``; the free cores are divided among them
(``harness.threads``) so that two stages side by side do not oversubscribe the machine."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.executors.base import Executor
from harness.executors.profile import Profile
from harness.executors.resources import Resources
from harness.executors.worker import StageJob, StageOutcome, run_stage, warm
from harness.threads import usable_cores


class LocalParallelExecutor(Executor):
    name = "local-parallel"

    def __init__(self, profile: Profile, home: Path):
        super().__init__(profile, home)
        workers = profile.max_parallel or usable_cores()
        self.share = self.max_parallel = workers
        # a fork of this process (whose torch may have started thread pools) is not safe; a fork server
        # imports planeval once, runs no torch work, and forks every worker from that state
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["harness.executors.worker", "harness.executors.preload"])
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def prepare(self, job: StageJob) -> None:
        """Start every worker now and let it plan: their start-up overlaps the runner's cache checks."""
        for _ in range(self.max_parallel or 1):
            self.pool.submit(warm, job)

    def submit(self, job: StageJob, resources: Resources, label: str) -> cf.Future:
        return self.pool.submit(run_stage, job)

    def wait(self, handles: Sequence[Any]) -> list[Any]:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle: cf.Future) -> StageOutcome:
        try:
            return handle.result()
        except Exception as exc:  # the worker process died (killed, out of memory): the pool says so
            text = "".join(traceback.format_exception(exc))
            return StageOutcome(
                "?", False, error=f"worker process failed: {type(exc).__name__}: {exc}\n{text}"
            )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
