"""What the tasks declare about the metrics a table shows: whether "the best value" means anything.

The store keeps each metric's direction but not whether it ranks (a spread such as ``mauve_seed_sd`` or
a chance level has a direction only for sorting): that is read from the registered task's
``MetricInfo.rank``, through the run's ``task_name`` and the metric's ``base``.
"""

from __future__ import annotations

import pandas as pd


def rankable(results: pd.DataFrame, runs: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """(task label, metric) → whether tables may rank and bold it; True where the task is unknown."""
    from tasks.base import TASKS

    if results.empty or runs.empty or "task_name" not in runs.columns:
        return {}
    names = dict(zip(runs["run_id"], runs["task_name"], strict=True))
    bases = results["base"] if "base" in results.columns else results["metric"]
    out: dict[tuple[str, str], bool] = {}
    for task, metric, base, run_id in zip(
        results["task"], results["metric"], bases.fillna(results["metric"]), results["run_id"], strict=True
    ):
        key = (str(task), str(metric))
        if key in out or run_id not in names:
            continue
        cls = TASKS.get(names[run_id]) if names[run_id] in TASKS else None
        out[key] = True if cls is None else cls().metric_info(str(base)).rank
    return out
