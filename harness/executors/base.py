"""The narrow interface every back end implements: submit one stage job with its resources, wait for
some to finish, read an outcome. The DAG, the cache and the leaderboard stay planeval's
(``harness.executors.dag``); a back end only moves ``worker.run_stage`` somewhere and back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.executors.profile import Profile
from harness.executors.resources import Resources
from harness.executors.worker import StageJob, StageOutcome


class Executor(ABC):
    """A back end. ``share``: how many stages may run side by side on one machine (their torch threads
    are divided by it); ``max_parallel``: how many the scheduler keeps submitted at once (None: all)."""

    name: ClassVar[str]
    share: int = 1
    max_parallel: int | None = None

    def __init__(self, profile: Profile, home: Path):
        self.profile, self.home = profile, Path(home)
        if profile.max_parallel is not None:
            self.max_parallel = profile.max_parallel

    @abstractmethod
    def submit(self, job: StageJob, resources: Resources, label: str) -> Any:
        """Start the job; a handle for ``wait`` and ``outcome``."""

    @abstractmethod
    def wait(self, handles: Sequence[Any]) -> list[Any]:
        """Block until at least one of ``handles`` is finished; the finished ones."""

    @abstractmethod
    def outcome(self, handle: Any) -> StageOutcome:
        """A finished job's outcome; a job that died (killed, timed out, crashed) is a failed outcome."""

    def prepare(self, job: StageJob) -> None:  # noqa: B027 - most back ends start nothing ahead
        """Called once before the first submission with a job of no stage (``stage_id`` empty)."""

    def describe(self, handle: Any) -> str:
        """Where the job runs, for the log (a Slurm job id, a Ray task id)."""
        return ""

    def close(self) -> None:  # noqa: B027 - most back ends hold nothing to release
        """Release the back end's resources (a process pool, the Ray connection)."""
