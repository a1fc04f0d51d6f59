"""``ray``: each stage a Ray core task (``planeval[ray]``; not Ray Workflows). Resources map to task
options — ``num_cpus``, ``num_gpus``, ``memory`` — and ``max_retries`` lets Ray rerun a task whose worker
process died; a stage that fails is retried by planeval's scheduler like on every back end. Ray has no
per-task time limit: ``timeout_min`` is not enforced here. The driver joins the cluster of the profile's
``ray.address`` (default ``auto``: the one ``ray start`` runs); the workers share the cache through a
shared filesystem and get the runner's planeval variables through the job's runtime environment."""

from __future__ import annotations

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
        return self.remote.options(**options).remote(job)

    def describe(self, handle: Any) -> str:
        return f"ray task {handle.task_id().hex()[:12]}"

    def wait(self, handles: Sequence[Any]) -> list[Any]:
        ready, _ = self.ray.wait(list(handles), num_returns=1)
        return list(ready)

    def outcome(self, handle: Any) -> StageOutcome:
        try:
            return self.ray.get(handle)
        except Exception as exc:  # the worker died past Ray's retries, or the task could not run
            return StageOutcome("?", False, error=f"ray task failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.ray.shutdown()
