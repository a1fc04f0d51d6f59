"""``slurm``: each stage a Slurm job through submitit (``planeval[slurm]``). Resources map to submitit's
``gpus_per_node`` / ``cpus_per_task`` / ``mem_gb`` / ``timeout_min``; partition, account, QoS, a
constraint, setup lines and any other sbatch option come from the profile file. Jobs' pickles and logs
live in ``<home>/jobs`` (or the profile's ``slurm.folder``), on the filesystem the workers share.

A stage job is ``Checkpointable``: when Slurm preempts it or its time runs out, submitit requeues it,
and a training stage resumes from its last checkpoint in the cache (``<key>.partial``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import PlanevalError
from harness.executors.base import Executor
from harness.executors.profile import Profile
from harness.executors.resources import Resources
from harness.executors.worker import StageJob, StageOutcome, run_stage

try:
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:  # the optional extra: the executor says how to install it when chosen
    submitit = None
    Checkpointable = object

LOG_TAIL = 40
#: a job gone from the queue is given this long to have its result file appear (shared filesystems lag)
GONE_GRACE_S = 30.0


class StageTask(Checkpointable):  # type: ignore[misc, valid-type]
    """``run_stage`` as a callable submitit can requeue on preemption or timeout (same job, resumed)."""

    def __call__(self, job: StageJob) -> StageOutcome:
        return run_stage(job)


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, profile: Profile, home: Path):
        super().__init__(profile, home)
        if submitit is None:
            raise PlanevalError("--executor slurm needs submitit: pip install 'planeval[slurm]'")
        folder = Path(profile.slurm.folder or Path(home).resolve() / "jobs")
        try:
            self.executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
        except RuntimeError as exc:  # no sbatch/srun here
            raise PlanevalError(f"--executor slurm: {exc}") from None
        self._gone: dict[str, float] = {}

    def _parameters(self, resources: Resources, label: str) -> dict[str, Any]:
        s = self.profile.slurm
        params: dict[str, Any] = {
            "name": f"planeval {label}"[:120],
            "cpus_per_task": resources.cpus,
            "mem_gb": resources.mem_gb,
            "timeout_min": resources.timeout_min,
            "nodes": 1,
            "tasks_per_node": 1,
        }
        if resources.gpus:
            params["gpus_per_node"] = resources.gpus
        optional = {"slurm_partition": s.partition, "slurm_account": s.account, "slurm_qos": s.qos,
                    "slurm_constraint": s.constraint}  # fmt: skip
        params.update({k: v for k, v in optional.items() if v})
        if s.setup:
            params["slurm_setup"] = list(s.setup)
        if s.additional:
            params["slurm_additional_parameters"] = dict(s.additional)
        return params

    def submit(self, job: StageJob, resources: Resources, label: str) -> Any:
        self.executor.update_parameters(**self._parameters(resources, label))
        return self.executor.submit(StageTask(), job)

    def describe(self, handle: Any) -> str:
        return f"slurm job {handle.job_id}"

    def _queued(self, handles: Sequence[Any]) -> set[str]:
        ids = ",".join(str(h.job_id) for h in handles)
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ids], capture_output=True, text=True)
        if out.returncode != 0:  # e.g. squeue forgets finished ids: treat none as queued
            return set()
        return {line.split("_")[0].strip() for line in out.stdout.splitlines() if line.strip()}

    def wait(self, handles: Sequence[Any]) -> list[Any]:
        """Finished: a result file exists (submitit), or the job left the queue without one (killed)."""
        while True:
            finished = [h for h in handles if h.paths.result_pickle.exists()]
            if finished:
                return finished
            queued = self._queued(handles)
            now = time.monotonic()
            gone = []
            for h in handles:
                if str(h.job_id) in queued:
                    self._gone.pop(str(h.job_id), None)
                elif now - self._gone.setdefault(str(h.job_id), now) > GONE_GRACE_S:
                    gone.append(h)
            if gone:
                return gone
            time.sleep(self.profile.slurm.poll_s)

    def outcome(self, handle: Any) -> StageOutcome:
        if handle.paths.result_pickle.exists():
            try:
                return handle.result()
            except Exception as exc:  # timed out past its requeues, or the job script itself failed
                why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            why = "it left the queue without a result (cancelled, killed or its node failed)"
        log = (handle.stderr() or "") + (handle.stdout() or "")
        tail = "\n".join(log.splitlines()[-LOG_TAIL:])
        error = f"slurm job {handle.job_id} failed: {why}\n--- job log ---\n{tail}"
        return StageOutcome("?", False, error=error)
