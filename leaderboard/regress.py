"""Regression checks: compare current leaderboard numbers with a stored baseline snapshot.

A snapshot (``planeval leaderboard --format baseline``) holds, per (variant, task, metric), the value
(the mean over seeds), its interval and its direction, plus the tolerances to check with. A metric
*regresses* when it moved in its worse direction by more than the tolerance allows; it *improved* when it
moved the other way by as much (not a failure, but a hint to refresh the baseline). A metric the baseline
has and the current results lack is *missing*, which fails too: a run that silently vanished must not
pass. The allowed move is the largest of the tolerances that are set:

* ``absolute``: a fixed amount in the metric's units;
* ``relative``: a fraction of the baseline value;
* ``ci``: as far as the baseline's interval reaches on the worse side ("outside the CI" regresses).

The file's ``tolerance.default`` applies to every metric; ``tolerance.metrics`` maps glob patterns on
``metric`` or ``task/metric`` to their own tolerance (first match wins).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import PlanevalError, SpecError
from harness.specs import read_yaml, validate
from harness.statistics import seed_interval
from leaderboard.render import md_escape
from leaderboard.select import matches
from leaderboard.tables import cells

FORMAT_VERSION = 1
DEFAULT_TOLERANCE = {"relative": 0.01}  # what an exported snapshot starts with; edit the file to change
KEY = ["variant", "task", "metric"]


class Tolerance(BaseModel):
    """How far a metric may move in its worse direction before it counts as a regression."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: float = Field(0.0, ge=0)
    relative: float = Field(0.0, ge=0)
    ci: bool = False

    def allowed(
        self, base: float, higher_is_better: bool, ci_low: float | None, ci_high: float | None
    ) -> float:
        """The largest worse-direction move that still passes."""
        slack = max(self.absolute, self.relative * abs(base))
        if self.ci:
            bound = ci_low if higher_is_better else ci_high
            if bound is not None and math.isfinite(bound):
                slack = max(slack, abs(base - bound))
        return slack


class Tolerances(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Tolerance = Field(default_factory=lambda: Tolerance(**DEFAULT_TOLERANCE))
    metrics: dict[str, Tolerance] = Field(default_factory=dict)

    def for_metric(self, task: str, metric: str) -> Tolerance:
        return matches(self.metrics, task, metric) or self.default


class Entry(BaseModel):
    """One (variant, task, metric) of the snapshot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variant: str
    family: str = ""
    task: str
    metric: str
    higher_is_better: bool
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    std: float | None = None
    seeds: list[int] = Field(default_factory=list)
    config_hashes: list[str] = Field(default_factory=list)


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    planeval_baseline: Literal[1] = FORMAT_VERSION
    suite: str | None = None
    created_at: str = ""
    git_commits: list[str] = Field(default_factory=list)
    tolerance: Tolerances = Field(default_factory=Tolerances)
    entries: list[Entry] = Field(min_length=1)


# -- export ----------------------------------------------------------------------------------------
def _opt(x: Any) -> float | None:
    return None if x is None or pd.isna(x) or not math.isfinite(float(x)) else float(x)


def snapshot(results: pd.DataFrame, suite: str | None, tolerance: Tolerances | None = None) -> Baseline:
    """The baseline of a long-form results frame (one suite): seed means, intervals, directions."""
    if results.empty:
        raise PlanevalError("no results to snapshot (no successful runs match the selection)")
    summary = cells(results)
    extra = results.groupby(KEY, sort=False).agg(
        seeds=("seed", lambda s: sorted({int(x) for x in s})),
        config_hashes=("config_hash", lambda s: sorted(set(s))),
        higher_is_better=("higher_is_better", "first"),
    )
    entries = []
    for row in summary.itertuples(index=False):
        info = extra.loc[(row.variant, row.task, row.metric)]
        lo, hi = (row.ci_low, row.ci_high) if row.n == 1 else seed_interval(row.mean, row.std, int(row.n))
        entries.append(
            Entry(
                variant=row.variant, family=row.family, task=row.task, metric=row.metric,
                higher_is_better=bool(info["higher_is_better"]), value=float(row.mean),
                ci_low=_opt(lo), ci_high=_opt(hi), std=_opt(row.std),
                seeds=info["seeds"], config_hashes=info["config_hashes"],
            )
        )  # fmt: skip
    return Baseline(
        suite=suite,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        git_commits=sorted(set(results["git_commit"])),
        tolerance=tolerance or Tolerances(),
        entries=entries,
    )


def dump(baseline: Baseline, fmt: Literal["json", "yaml"] = "json") -> str:
    doc = baseline.model_dump(mode="json")
    if fmt == "yaml":
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def load(path: str | Path) -> Baseline:
    """A snapshot from JSON or (safe-loaded) YAML, validated; errors name the file and field."""
    path = Path(path)
    if path.suffix == ".json":
        if not path.exists():
            raise PlanevalError(f"{path}: no such baseline file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SpecError(str(path), f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    else:
        data = read_yaml(path)
    if not isinstance(data, dict) or "planeval_baseline" not in data:
        raise SpecError(str(path), "", "not a planeval baseline (export one with --format baseline)")
    return validate(Baseline, data, str(path))


# -- check -----------------------------------------------------------------------------------------
STATUSES = ("regressed", "missing", "improved", "new", "ok")
FAILING = frozenset({"regressed", "missing"})
REPORT_COLUMNS = [
    "status", "variant", "task", "metric", "higher_is_better", "baseline", "current", "change", "allowed",
    "note",
]  # fmt: skip


@dataclass(frozen=True)
class Report:
    rows: pd.DataFrame  # REPORT_COLUMNS, worst first

    def count(self, status: str) -> int:
        return int((self.rows["status"] == status).sum())

    def failed(self, allow_missing: bool = False) -> bool:
        failing = {"regressed"} if allow_missing else FAILING
        return bool(self.rows["status"].isin(failing).any())

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in STATUSES if self.count(s))
        return f"{len(self.rows)} metrics checked: {counts or 'none'}"


def _status(change: float, higher: bool, allowed: float) -> str:
    worse = -change if higher else change
    if worse > allowed:
        return "regressed"
    if -worse > allowed:
        return "improved"
    return "ok"


def _note(entry: Entry, cur: Entry) -> str:
    """Why a number may have moved: other seeds, or another configuration behind it."""
    notes = []
    if entry.seeds and cur.seeds != entry.seeds:
        notes.append(f"seeds {entry.seeds} -> {cur.seeds}")
    if entry.config_hashes and cur.config_hashes != entry.config_hashes:
        notes.append("config changed")
    return "; ".join(notes)


def check(baseline: Baseline, results: pd.DataFrame, default: Tolerance | None = None) -> Report:
    """Every baseline metric against the current results (long form of one suite).

    ``default`` replaces the file's default tolerance (the CLI flags); per-metric tolerances in the
    file still apply, since someone chose them for that metric on purpose.
    """
    tolerances = (
        baseline.tolerance if default is None else baseline.tolerance.model_copy(update={"default": default})
    )
    current = snapshot(results, baseline.suite) if not results.empty else None
    now = {} if current is None else {(e.variant, e.task, e.metric): e for e in current.entries}
    rows = []
    for entry in baseline.entries:
        cur = now.pop((entry.variant, entry.task, entry.metric), None)
        tol = tolerances.for_metric(entry.task, entry.metric)
        allowed = tol.allowed(entry.value, entry.higher_is_better, entry.ci_low, entry.ci_high)
        base = {
            "variant": entry.variant, "task": entry.task, "metric": entry.metric,
            "higher_is_better": entry.higher_is_better, "baseline": entry.value, "allowed": allowed,
        }  # fmt: skip
        if cur is None:
            rows.append({**base, "status": "missing", "current": math.nan, "change": math.nan, "note": ""})
            continue
        change = cur.value - entry.value
        note = _note(entry, cur)
        status = _status(change, entry.higher_is_better, allowed)
        if not math.isfinite(cur.value):  # NaN compares false with every bound: never "ok"
            status, note = "regressed", "; ".join(filter(None, ["non-finite current value", note]))
        rows.append({**base, "status": status, "current": cur.value, "change": change, "note": note})
    for e in now.values():
        rows.append({"status": "new", "variant": e.variant, "task": e.task, "metric": e.metric,
                     "higher_is_better": e.higher_is_better, "baseline": math.nan, "current": e.value,
                     "change": math.nan, "allowed": math.nan, "note": ""})  # fmt: skip
    frame = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    frame["_order"] = frame["status"].map({s: i for i, s in enumerate(STATUSES)})
    frame = frame.sort_values(["_order", *KEY], kind="stable").drop(columns="_order")
    return Report(frame.reset_index(drop=True))


def report_text(report: Report, show_all: bool = False) -> str:
    """A markdown table of what moved (every metric with ``show_all``) and the summary line."""
    rows = report.rows if show_all else report.rows[report.rows["status"] != "ok"]
    lines = []
    if not rows.empty:
        lines += [
            "| status | variant | task | metric | baseline | current | change | allowed | note |",
            "|---|---|---|---|---:|---:|---:|---:|---|",
        ]
        for r in rows.itertuples(index=False):
            arrow = "↑" if r.higher_is_better else "↓"
            rel = f" ({r.change / abs(r.baseline):+.2%})" if r.baseline and math.isfinite(r.change) else ""
            cells_ = [r.status, r.variant, r.task, f"{r.metric} {arrow}", _num(r.baseline), _num(r.current),
                      _num(r.change, sign=True) + rel, _num(r.allowed), r.note]  # fmt: skip
            lines.append("| " + " | ".join(md_escape(str(c)) for c in cells_) + " |")
        lines.append("")
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def _num(x: float, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.6g}" if sign else f"{x:.6g}"
