"""The task API: ``Params`` (validated spec parameters) + ``evaluate`` (per-sample scores) +
``aggregate`` (metrics from those scores, so they can be recomputed and bootstrapped without the model).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict

from harness.adapters import PlanevalLM
from harness.corpus import Corpus
from harness.registry import Registry
from harness.stages import ArtifactContext


class TaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Dim:
    """A breakdown dimension of a metric and how its value is spelled in the value's stored name
    (``rouge1@64``, ``acc@level3``): names stay the strings results and baselines already hold, but
    the structure travels beside them (``MetricKey``), so nothing reads it back out of a name."""

    name: str
    spelling: str = "{}"


LENGTH = Dim("length")  # continuation length in tokens: rouge1@64
LEVEL = Dim("level", "level{}")  # difficulty level of a problem: acc@level3
SITE = Dim("site")  # a hidden-state site: acc@layer1.resid@k2
SITE_KIND = Dim("site_kind")  # a kind of site (pre_merge / post_merge): acc@pre_merge
DISTANCE = Dim("k", "k{}")  # tokens ahead: acc@k2


@dataclass(frozen=True)
class MetricInfo:
    """A declared metric: its direction, how to print it, and the breakdown dimensions it is also
    reported along (in the order their values are spelled in a breakdown's name)."""

    higher_is_better: bool
    description: str = ""
    fmt: str = ".3f"
    dims: tuple[Dim, ...] = ()
    #: whether "the best value" means something (False for a spread or a chance level): tables never
    #: bold or rank it
    rank: bool = True


@dataclass(frozen=True)
class MetricKey:
    """One reported value: its stored ``name``, the declared ``base`` metric it is a value of, and its
    breakdown coordinates (``{"length": 64}``; empty for the base value over all samples)."""

    name: str
    base: str
    dims: dict[str, Any] = field(default_factory=dict)


class MetricValues(dict[str, float]):
    """What ``aggregate`` returns: ``{name: value}`` (every consumer reads it as the dict it was), plus
    each value's ``MetricKey`` in ``key_of``, written by ``put`` from the task's declarations."""

    def __init__(self, declared: Mapping[str, MetricInfo]) -> None:
        super().__init__()
        self.declared = declared
        self.key_of: dict[str, MetricKey] = {}

    def put(self, base: str, value: float, **coords: Any) -> str:
        """Record ``base`` at the breakdown ``coords`` (none: over all samples); returns its name."""
        info = self.declared[base]
        unknown = set(coords) - {d.name for d in info.dims}
        if unknown:
            raise ValueError(f"metric {base!r} declares no breakdown dimension {sorted(unknown)}")
        dims = {d.name: _scalar(coords[d.name]) for d in info.dims if d.name in coords}
        name = metric_name(base, info.dims, dims)
        self[name] = float(value)
        self.key_of[name] = MetricKey(name, base, dims)
        return name


def metric_name(base: str, dims: tuple[Dim, ...], coords: Mapping[str, Any]) -> str:
    """The stored name of ``base`` at ``coords`` along ``dims``, in their declared order (``rouge1@64``,
    ``acc@layer1.resid@k2``): the one spelling, for ``MetricValues.put`` and the array kernels."""
    return base + "".join(f"@{d.spelling.format(coords[d.name])}" for d in dims if d.name in coords)


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value (coordinates are stored as JSON)."""
    return value.item() if hasattr(value, "item") else value


@dataclass
class TaskContext(ArtifactContext):
    corpus: Corpus
    params: Any  # the task's validated Params instance
    seed: int
    work_dir: Path  # scratch space inside the stage's temporary directory
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: the derived artifacts ``Task.artifacts`` requested, by stage name (also ``ctx.<name>``)
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: the evaluated model's key, and a cache shared by tasks (e.g. generations reused across metrics:
    #: ``cache.build("generations", stable_hash(model_key, protocol, seed))``)
    model_key: str = ""
    cache: Any = None  # a harness.cache.Cache


class Task(ABC):
    """Subclass, set ``Params``/``metrics``, implement ``evaluate`` and ``aggregate``, and register."""

    Params: ClassVar[type[BaseModel]] = TaskParams
    #: bump when the task's code changes what it computes: it is part of every evaluation key
    version: ClassVar[str] = "1"
    #: the declared metrics by base name; ``aggregate`` reports breakdowns along their ``dims`` through
    #: ``MetricValues.put`` (every name it reports is a declared metric, at some coordinates)
    metrics: ClassVar[dict[str, MetricInfo]] = {}
    #: columns of the sample table that identify a sample across models (for paired comparisons)
    sample_id: ClassVar[str] = "sample_id"
    #: per-sample columns that may hold NaN by definition (e.g. "undefined for this sample"); every
    #: other numeric column must be finite or the evaluation fails (harness.finite)
    nullable_columns: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        """One row per sample, with ``sample_id`` and the columns ``aggregate`` needs."""

    @abstractmethod
    def aggregate(self, samples: pd.DataFrame, params: Any) -> dict[str, float]:
        """Metric values from (a resample of) the per-sample table."""

    def needs(self, params: Any) -> frozenset[str]:
        """Adapter capabilities (``harness.adapters.CAPABILITIES``) this task cannot run without; a suite
        pairing it with a model that lacks one fails planning, or skips the pair (``on_incapable``)."""
        return frozenset()

    def artifacts(self, params: Any) -> tuple[str, ...]:
        """Derived stages (``harness.stages.DERIVED``) this task reads, as ``ctx.<name>``; their keys
        are part of the evaluation key."""
        return ()

    def fingerprint(self, params: Any) -> str:
        """What the result depends on beyond ``params`` (e.g. a digest of a local data file), so that
        the evaluation key changes when such an input changes; empty when there is none."""
        return ""

    def context_needs(self, params: Any) -> dict[str, int]:
        """Params that need this many positions of a model's context (e.g. a scoring window), checked
        against every model of a suite when it is planned."""
        return {}

    def metric_keys(self, values: Mapping[str, float]) -> dict[str, MetricKey]:
        """Each reported value's base metric and breakdown coordinates, as ``aggregate`` put them (the
        names of a plain dict are base metrics over all samples)."""
        key_of = getattr(values, "key_of", {})
        return {name: key_of.get(name) or MetricKey(name, name) for name in values}

    def metric_info(self, key: MetricKey | str) -> MetricInfo:
        """The declaration of a value's base metric (a ``MetricKey``, or a base metric's name);
        undeclared metrics count as higher-is-better."""
        base = key.base if isinstance(key, MetricKey) else key
        return self.metrics.get(base, MetricInfo(higher_is_better=True))

    #: the params that count the items evaluated (``max_docs``, ``n_samples``...): ``planeval run --limit N``
    #: sets each to at most N (an unset one, meaning all, to N), so the task's own seeded pickers choose
    #: the subset; a task without one cannot be limited
    limit_params: ClassVar[tuple[str, ...]] = ()
    #: params only ``aggregate`` reads, or that pick a subset of what the per-sample table holds: those
    #: ``planeval score`` may change without the model (docs/score.md)
    aggregate_params: ClassVar[tuple[str, ...]] = ()
    #: params only the per-sample function (``score_samples``) reads: ``planeval score`` may change them
    #: too, and then scores every stored sample again from what its row holds
    sample_params: ClassVar[tuple[str, ...]] = ()

    def score_samples(self, samples: pd.DataFrame, params: Any) -> pd.DataFrame:
        """The per-sample metric function: the table's score columns computed from what each row stores
        of its sample (the model's output, the reference), under ``params`` — the sample level of a
        metric, as ``aggregate`` is its corpus level. ``evaluate`` ends with it, and ``planeval score``
        runs it on a stored table (a changed ``sample_params`` param, or ``--samples``: the current
        code's scoring), so scoring needs no model. Tasks whose per-sample scores need the model
        (log-probabilities, hidden states, features) keep this default."""
        raise NotImplementedError(
            f"task {type(self).__name__} scores its samples with the model: its stored table holds no "
            "outputs to score again"
        )

    @classmethod
    def scores_samples(cls) -> bool:
        """Whether the task has a per-sample function of its stored rows (``score_samples``)."""
        return cls.score_samples is not Task.score_samples


TASKS: Registry[type[Task]] = Registry("task", "planeval.tasks", builtin_packages=("tasks",))
