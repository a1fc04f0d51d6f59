"""A per-sample table → the metrics a leaderboard row stores: values, bootstrap CIs, ``n``, direction and
each value's declared base metric and breakdown. Written once, for the runner (after ``evaluate``) and
for ``planeval score`` (from a stored table), so a re-scored row is computed exactly as a run's.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.finite import check_metrics, check_samples
from harness.statistics import bootstrap_ci

#: bootstrap resamples of every stored CI
N_BOOT = 1000


def summarize(task: Any, samples: pd.DataFrame, params: Any, seed: int, what: str) -> list[dict[str, Any]]:
    """The metric records of ``task`` (a ``tasks.base.Task``) on ``samples``; ``what`` names the
    evaluation in errors. A non-finite score or metric raises ``harness.finite.NonFiniteError``: pandas
    sums would skip a NaN (perplexity 1.0), so it is an error, not a number."""
    check_samples(samples, what, task.nullable_columns)
    values = task.aggregate(samples, params)
    check_metrics(values, what)
    groups = task.sample_id if task.sample_id in samples.columns else None
    cis = bootstrap_ci(
        samples, lambda df: task.aggregate(df, params), n_boot=N_BOOT, seed=seed, groups=groups
    )
    n = int(samples[groups].nunique()) if groups else len(samples)
    keys = task.metric_keys(values)  # each value's declared base metric and breakdown
    return [
        {
            "name": name,
            "value": float(v),
            "n": n,
            "ci_low": cis.get(name, (None, None))[0],
            "ci_high": cis.get(name, (None, None))[1],
            "higher_is_better": task.metric_info(keys[name]).higher_is_better,
            "base": keys[name].base,
            "dims": keys[name].dims,
        }
        for name, v in values.items()
    ]
