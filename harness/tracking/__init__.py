"""Experiment trackers: what a run trains and evaluates, logged to W&B or MLflow as it finishes.

``planeval run --log-to wandb,mlflow`` (or ``PLANEVAL_LOG_TO``) hands each trained model's history
and summary (``trainers.history``) and each evaluation's metrics, with the config, keys and provenance
the leaderboard keeps, to every tracker named. A tracker is one module in this package registering a
``Tracker`` under its name (entry-point group ``planeval.trackers`` for outside packages). Trackers
see what ran in this invocation; stages served from the cache were logged when they ran. A tracker
that fails to log warns in one line and never fails the run: the leaderboard is the record.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import PlanevalError
from harness.registry import Registry

log = logging.getLogger(__name__)
ENV = "PLANEVAL_LOG_TO"


@dataclass(frozen=True)
class TrainingLog:
    """One trained model: who it is, how it was configured, its summary and every logged step."""

    suite: str
    variant: str
    family: str
    seed: int
    train_key: str
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]]  # {"phase", "step", <name>: value, ...}
    provenance: dict[str, Any] = field(default_factory=dict)  # git commit, package versions, threads


@dataclass(frozen=True)
class EvalLog:
    """One evaluation as the leaderboard recorded it."""

    suite: str
    variant: str
    family: str
    seed: int
    task: str  # the task label
    task_name: str
    run_id: str
    eval_key: str
    model_key: str
    params: dict[str, Any]
    status: str
    metrics: dict[str, float]  # name → value
    intervals: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    error: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


class Tracker(ABC):
    """Logs trainings and evaluations of one suite run somewhere outside the leaderboard."""

    def __init__(self, home: Path, suite: str) -> None:
        self.home, self.suite = Path(home), suite

    @abstractmethod
    def log_training(self, entry: TrainingLog) -> None: ...

    @abstractmethod
    def log_eval(self, entry: EvalLog) -> None: ...

    def close(self) -> None:  # noqa: B027 - most trackers end each run as they log it
        """Flush and end whatever the tracker holds open."""


TRACKERS: Registry[type[Tracker]] = Registry(
    "tracker", "planeval.trackers", builtin_packages=("harness.tracking",)
)


def tracker_names(spelled: str | None) -> list[str]:
    """``wandb,mlflow`` (or ``PLANEVAL_LOG_TO``) as registered tracker names, checked before any work."""
    names = [n.strip() for n in (spelled or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        valid = ", ".join(sorted(TRACKERS.names()))
        raise PlanevalError(f"--log-to: unknown tracker {unknown[0]!r} (valid: {valid})")
    return list(dict.fromkeys(names))


class Trackers:
    """The trackers of one run; each call goes to all of them, and a failing one only warns."""

    def __init__(self, names: list[str], home: Path, suite: str) -> None:
        self.active = [TRACKERS.get(n)(home, suite) for n in names]

    def _each(self, what: str, call: Any) -> None:
        for tracker in self.active:
            try:
                call(tracker)
            except Exception as exc:  # a tracker never fails the run: the leaderboard is the record
                log.warning("tracker %s: could not log %s: %s: %s", type(tracker).__name__, what,
                            type(exc).__name__, exc)  # fmt: skip

    def training(self, entry: TrainingLog) -> None:
        self._each(f"training {entry.variant} seed={entry.seed}", lambda t: t.log_training(entry))

    def eval(self, entry: EvalLog) -> None:
        self._each(f"eval {entry.task} × {entry.variant}", lambda t: t.log_eval(entry))

    def close(self) -> None:
        self._each("the end of the run", lambda t: t.close())

    def __bool__(self) -> bool:
        return bool(self.active)


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``a.b.c`` keys (both trackers show flat parameters best)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out
