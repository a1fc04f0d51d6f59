"""What a suite will cost before it runs (``planeval run --dry-run``): each stage's resource request and
an estimate of its time from the leaderboard's recorded timings — the same stage when it was recorded
(same model or evaluation key), else the runs of the same trainer or task scaled by size
(``harness.sizes``: tokens trained on, samples scored) — and the suite's CPU- and GPU-hours. An
estimate: recorded on whatever machine recorded it, and blind to model size beyond what the units say."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.catalog import VARIANTS
from harness.errors import PlanevalError
from harness.executors.graph import Stage


@dataclass
class Estimate:
    seconds: float | None
    source: str


def recorded_runs(db_url: str) -> pd.DataFrame:
    """The successful runs of the leaderboard, or none (a dry run never creates a database)."""
    from leaderboard.store import Store

    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return pd.DataFrame(columns=["variant", "task_name", "model_key", "eval_key", "timings"])
    try:
        return Store(db_url).runs()
    except PlanevalError:
        return pd.DataFrame(columns=["variant", "task_name", "model_key", "eval_key", "timings"])


def _trainer(variant: str) -> str | None:
    try:
        return VARIANTS.get(variant).trainer
    except PlanevalError:
        return None


class Estimator:
    """Recorded times by key, and (seconds, units) samples by trainer and by task name."""

    def __init__(self, runs: pd.DataFrame):
        self.train_by_key: dict[str, float] = {}
        self.eval_by_key: dict[str, float] = {}
        self.train: dict[str, dict[str, tuple[float, float | None]]] = {}
        self.eval: dict[str, dict[str, tuple[float, float | None]]] = {}
        for row in runs.itertuples():
            t: dict[str, Any] = row.timings or {}
            # a resumed training's seconds are its last attempt's only: not a time for the whole stage
            whole = not t.get("train_resumed_from_step")
            if t.get("train_s") and whole and (trainer := _trainer(row.variant)):
                seconds = self.train_by_key[row.model_key] = float(t["train_s"])
                self.train.setdefault(trainer, {})[row.model_key] = (seconds, t.get("train_units"))
            if t.get("eval_s"):
                seconds = self.eval_by_key[row.eval_key] = float(t["eval_s"])
                self.eval.setdefault(row.task_name, {})[row.eval_key] = (seconds, t.get("eval_units"))

    def observe(self, s: Stage, seconds: float) -> None:
        """A stage this run just built: later stages of the same trainer or task are estimated from it,
        so a suite whose kinds were never recorded gets an ETA once the first of each kind is done."""
        if s.kind == "train" and s.model is not None:
            self.train_by_key[s.model.key] = seconds
            self.train.setdefault(s.model.variant.trainer, {})[s.model.key] = (seconds, s.size)
        elif s.kind == "eval" and s.evals:
            self.eval_by_key[s.key] = seconds
            self.eval.setdefault(s.evals[0].task.name, {})[s.key] = (seconds, s.size)

    def stage(self, s: Stage) -> Estimate:
        if s.kind == "train" and s.model is not None:
            if s.model.key in self.train_by_key:
                return Estimate(self.train_by_key[s.model.key], "recorded")
            return _scaled(self.train.get(s.model.variant.trainer, {}), s.size, s.model.variant.trainer)
        if s.kind == "eval" and s.evals:
            if s.key in self.eval_by_key:
                return Estimate(self.eval_by_key[s.key], "recorded")
            return _scaled(self.eval.get(s.evals[0].task.name, {}), s.size, s.evals[0].task.name)
        return Estimate(None, "no recorded timing")


def _scaled(samples: dict[str, tuple[float, float | None]], size: float | None, what: str) -> Estimate:
    if not samples:
        return Estimate(None, f"no recorded run of {what}")
    rates = [sec / units for sec, units in samples.values() if units]
    n = len(samples)
    if size and rates:
        return Estimate(statistics.median(rates) * size, f"scaled by size from {len(rates)} run(s) of {what}")
    return Estimate(statistics.median(sec for sec, _ in samples.values()), f"median of {n} run(s) of {what}")


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def report(stages: dict[str, Stage], pending: set[str], runs: pd.DataFrame) -> str:
    """Each stage's request and estimate; totals over the stages still to run."""
    est = Estimator(runs)
    width = max((len(s.label) for s in stages.values()), default=0)
    lines = ["resources and time (an ESTIMATE from recorded timings of the same stage kind, scaled by size):"]
    cpu_h = gpu_h = 0.0
    unknown = 0
    for s in stages.values():
        if s.id not in pending:
            lines.append(f"  {s.kind:<9} {s.label:<{width}}  {s.resources.describe():<32}  cached")
            continue
        e = est.stage(s)
        if e.seconds is None:
            unknown += 1
            guess = f"? ({e.source})"
        else:
            cpu_h += e.seconds * s.resources.cpus / 3600
            gpu_h += e.seconds * s.resources.gpus / 3600
            guess = f"~{duration(e.seconds)} ({e.source})"
        lines.append(f"  {s.kind:<9} {s.label:<{width}}  {s.resources.describe():<32}  {guess}")
    lines.append(
        f"estimate for the {len(pending)} stages to run: {cpu_h:.2f} CPU-hours, {gpu_h:.2f} GPU-hours"
        + (f"; {unknown} without a recorded timing are not counted" if unknown else "")
    )
    return "\n".join(lines)
