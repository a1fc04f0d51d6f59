"""The task API: ``Params`` (validated spec parameters) + ``evaluate`` (per-sample scores) +
``aggregate`` (metrics from those scores, so they can be recomputed and bootstrapped without the model).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict

from harness.adapters import PlanevalLM
from harness.corpus import Corpus
from harness.registry import Registry


class TaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class MetricInfo:
    """What a metric means for comparisons: its direction and how to print it."""

    higher_is_better: bool
    description: str = ""
    fmt: str = ".3f"


@dataclass
class TaskContext:
    corpus: Corpus
    params: Any  # the task's validated Params instance
    seed: int
    work_dir: Path  # scratch space inside the stage's temporary directory
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: the suite's ``ActionTagger`` (harness.actions) when the task sets ``uses_actions``
    actions: Any = None
    #: the evaluated model's key, and a cache shared by tasks (e.g. generations reused across metrics:
    #: ``cache.build("generations", stable_hash(model_key, protocol, seed))``)
    model_key: str = ""
    cache: Any = None  # a harness.cache.Cache


class Task(ABC):
    """Subclass, set ``Params``/``metrics``, implement ``evaluate`` and ``aggregate``, and register."""

    Params: ClassVar[type[BaseModel]] = TaskParams
    #: bump when the task's code changes what it computes: it is part of every evaluation key
    version: ClassVar[str] = "1"
    metrics: ClassVar[dict[str, MetricInfo]] = {}
    #: columns of the sample table that identify a sample across models (for paired comparisons)
    sample_id: ClassVar[str] = "sample_id"
    #: whether the task needs the suite's writing actions (then their key is part of the eval key)
    uses_actions: ClassVar[bool] = False
    #: per-sample columns that may hold NaN by definition (e.g. "undefined for this sample"); every
    #: other numeric column must be finite or the evaluation fails (harness.finite)
    nullable_columns: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        """One row per sample, with ``sample_id`` and the columns ``aggregate`` needs."""

    @abstractmethod
    def aggregate(self, samples: pd.DataFrame, params: Any) -> dict[str, float]:
        """Metric values from (a resample of) the per-sample table."""

    def fingerprint(self, params: Any) -> str:
        """What the result depends on beyond ``params`` (e.g. a digest of a local data file), so that
        the evaluation key changes when such an input changes; empty when there is none."""
        return ""

    def context_needs(self, params: Any) -> dict[str, int]:
        """Params that need this many positions of a model's context (e.g. a scoring window), checked
        against every model of a suite when it is planned."""
        return {}

    def metric_info(self, name: str) -> MetricInfo:
        return self.metrics.get(name, MetricInfo(higher_is_better=True))

    #: params only ``aggregate`` reads, or that pick a subset of what the per-sample table holds: those
    #: ``planeval score`` may change without the model (docs/score.md)
    aggregate_params: ClassVar[tuple[str, ...]] = ()


TASKS: Registry[type[Task]] = Registry("task", "planeval.tasks", builtin_packages=("tasks",))
