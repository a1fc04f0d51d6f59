"""``ray``: each stage a Ray core task (``planeval[ray]``; not Ray Workflows). Resources map to task
options — ``num_cpus``, ``num_gpus``, ``memory`` — and ``max_retries`` lets Ray rerun a task whose worker
process died; a stage that fails is retried by planeval's scheduler like on every back end. Ray has no
per-task time limit, so the driver keeps one: a task still running ``timeout_min`` after it was submitted
is cancelled (``ray.cancel(force=True)`` ends its worker) and fails as timed out, as Slurm's limit would
end it; planeval's retries then resubmit it. The driver joins the cluster of the profile's
``ray.address`` (default ``auto``: the one ``ray start`` runs); the workers share the cache through a
shared filesystem and get the runner's planeval variables through the job's runtime environment."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import PlanevalError
from harness.executors.base import Executor
from harness.executors.profile import Profile
from harness.executors.resources import Resources
from harness.executors.worker import StageJob, StageOutcome, carried_env, run_stage

#: Ray reruns a task whose worker process crashed this many times (its own retries, not planeval's)
CRASH_RETRIES = 2


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, profile: Profile, home: Path):
        super().__init__(profile, home)
        try:
            import ray
        except ImportError:
            raise PlanevalError("--executor ray needs ray: pip install 'planeval[ray]'") from None
        self.ray = ray
        try:
            ray.init(address=profile.ray.address, runtime_env={"env_vars": carried_env()},
                     log_to_driver=False, logging_level="ERROR")  # fmt: skip
        except ConnectionError as exc:
            where = profile.ray.address
            raise PlanevalError(f"--executor ray: no Ray cluster at {where!r} ({exc})") from None
        self.remote = ray.remote(run_stage)
        #: each running task's deadline (monotonic seconds) and its limit, for the timeout
        self.deadlines: dict[Any, tuple[float, int]] = {}
        self.timed_out: set[Any] = set()

    def submit(self, job: StageJob, resources: Resources, label: str) -> Any:
        options: dict[str, Any] = {
            "num_cpus": resources.cpus,
            "num_gpus": resources.gpus,
            "max_retries": CRASH_RETRIES,
            "retry_exceptions": False,
            "name": f"planeval {label}",
        }
        if self.profile.ray.memory:
            options["memory"] = int(resources.mem_gb * 1024**3)
        handle = self.remote.options(**options).remote(job)
        self.deadlines[handle] = (time.monotonic() + resources.timeout_min * 60, resources.timeout_min)
        return handle

    def describe(self, handle: Any) -> str:
        return f"ray task {handle.task_id().hex()[:12]}"

    def wait(self, handles: Sequence[Any]) -> list[Any]:
        """The finished tasks, or the ones past their time limit (cancelled here), whichever come first."""
        while True:
            now = time.monotonic()
            late = [h for h in handles if self.deadlines.get(h, (float("inf"), 0))[0] <= now]
            if late:
                for h in late:
                    self.ray.cancel(h, force=True)
                    self.timed_out.add(h)
                return late
            nearest = min((self.deadlines[h][0] for h in handles if h in self.deadlines), default=None)
            timeout = None if nearest is None else max(0.0, nearest - now)
            ready, _ = self.ray.wait(list(handles), num_returns=1, timeout=timeout)
            if ready:
                return list(ready)

    def outcome(self, handle: Any) -> StageOutcome:
        _, limit = self.deadlines.pop(handle, (0.0, 0))
        if handle in self.timed_out:
            self.timed_out.discard(handle)
            return StageOutcome("?", False, error=f"ray task cancelled: past its time limit of {limit} min "
                                                  "(resources timeout_min)")  # fmt: skip
        try:
            return self.ray.get(handle)
        except Exception as exc:  # the worker died past Ray's retries, or the task could not run
            return StageOutcome("?", False, error=f"ray task failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.ray.shutdown()
