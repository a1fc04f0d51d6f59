"""Which metrics a leaderboard product shows: glob patterns on ``metric`` or ``task/metric``."""

from __future__ import annotations

import fnmatch
from typing import Any

import pandas as pd

from harness.errors import PlanevalError

ALL = "all"


def is_breakdown(results: Any) -> pd.Series:
    """Rows of a long-form results frame that are a metric's breakdown: stored coordinates along a
    declared dimension (``{"length": 64}``). Rows recorded before the coordinates were stored (``dims``
    NULL) count as values over all samples."""
    if "dims" not in results.columns:
        return pd.Series(False, index=results.index)
    return results["dims"].map(lambda d: isinstance(d, dict) and bool(d)).astype(bool)


def select_metrics(results: Any, patterns: str | None) -> Any:
    """Keep the rows of a long-form results frame whose metric matches comma-separated glob patterns.

    By default breakdowns (``rouge1@64``: a value at some coordinates, see ``is_breakdown``) are left
    out: they multiply the columns and repeat the headline number; ``all`` keeps them.
    """
    names = results["metric"]
    full = results["task"] + "/" + names
    if patterns is None:
        return results[~is_breakdown(results)]
    if patterns == ALL:
        return results
    keep = [p.strip() for p in patterns.split(",") if p.strip()]
    mask = names.apply(lambda n: any(fnmatch.fnmatchcase(n, p) for p in keep))
    mask |= full.apply(lambda n: any(fnmatch.fnmatchcase(n, p) for p in keep))
    if not mask.any():
        valid = ", ".join(sorted(set(names)))
        raise PlanevalError(f"no metric matches {patterns!r} (valid: {valid})")
    return results[mask]


def matches(patterns: dict[str, Any], task: str, metric: str) -> Any | None:
    """The value of the first pattern (in order) that matches ``metric`` or ``task/metric``."""
    for pattern, value in patterns.items():
        if fnmatch.fnmatchcase(metric, pattern) or fnmatch.fnmatchcase(f"{task}/{metric}", pattern):
            return value
    return None


def metric_order(results: Any, patterns: str | None) -> list[str] | None:
    """The selected metric names in the order their patterns were given (None: keep the stored order),
    so ``--metrics perplexity,bits_per_byte`` shows perplexity first."""
    if patterns is None or patterns == ALL:
        return None
    keep = [p.strip() for p in patterns.split(",") if p.strip()]

    def rank(task: str, metric: str) -> int:
        hits = [i for i, p in enumerate(keep) if fnmatch.fnmatchcase(metric, p)]
        hits += [i for i, p in enumerate(keep) if fnmatch.fnmatchcase(f"{task}/{metric}", p)]
        return min(hits, default=len(keep))

    pairs = dict.fromkeys(zip(results["task"], results["metric"], strict=True))
    best = {}
    for task, metric in pairs:
        best[metric] = min(best.get(metric, len(keep)), rank(task, metric))
    return sorted(best, key=lambda m: best[m])  # stable: ties keep the stored order
