"""The comparison table: variants as rows, (task, metric) as columns, seeds aggregated.

The table stays numeric (a data frame) so that it can be saved, diffed and rendered in any format;
``leaderboard.render`` turns it into text. Metric directions travel in ``table.attrs["higher_is_better"]``,
and the runs behind every cell (their ids and seeds, so a checker can find each number's run) in
``table.attrs["runs"]``.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.errors import PlanevalError
from harness.statistics import seed_summary

ROW_KEYS = ["family", "variant"]
NEEDED = [*ROW_KEYS, "task", "seed", "metric", "value", "ci_low", "ci_high", "higher_is_better"]
STATS = ("mean", "std", "n", "ci_low", "ci_high")
SIGNIFICANCE = ["variant", "task", "metric", "p_value"]  # columns of a significance_vs frame


def _check(results: pd.DataFrame, metrics: list[str] | None) -> pd.DataFrame:
    missing = [c for c in NEEDED if c not in results.columns]
    if missing:
        raise PlanevalError(f"results lack columns {missing} (expected the long form of Store.results)")
    if results.empty:
        raise PlanevalError("no results to tabulate (no successful runs match the selection)")
    if metrics is not None:
        unknown = sorted(set(metrics) - set(results["metric"]))
        if unknown:
            valid = ", ".join(sorted(set(results["metric"])))
            raise PlanevalError(f"unknown metrics {unknown} (in these results: {valid})")
        results = results[results["metric"].isin(metrics)]
    dup = results.duplicated(subset=[*ROW_KEYS, "task", "metric", "seed"], keep=False)
    if dup.any():
        first = results[dup].iloc[0]
        raise PlanevalError(
            f"{int(dup.sum())} results repeat a (variant, task, metric, seed), e.g. {first['variant']}/"
            f"{first['task']}/{first['metric']}/seed {first['seed']}: filter to one suite "
            "(or use Store.results(latest=True)) so seeds are not double counted"
        )
    return results


def _directions(results: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """Each (task, metric)'s direction; mixed directions mean a task bug, so refuse to guess."""
    out: dict[tuple[str, str], bool] = {}
    for (task, metric), hib in results.groupby(["task", "metric"], sort=False)["higher_is_better"]:
        values = set(hib.astype(bool))
        if len(values) > 1:
            raise PlanevalError(f"{task}/{metric} is recorded both as higher- and lower-is-better")
        out[(task, metric)] = values.pop()
    return out


def _column_order(results: pd.DataFrame, metrics: list[str] | None) -> list[tuple[str, str]]:
    """Tasks in order of first appearance; within a task, metrics in the order asked for (or seen)."""
    pairs = list(dict.fromkeys(zip(results["task"], results["metric"], strict=True)))
    if metrics is None:
        return pairs
    rank = {m: i for i, m in enumerate(metrics)}
    tasks = list(dict.fromkeys(t for t, _ in pairs))
    return sorted(pairs, key=lambda tm: (tasks.index(tm[0]), rank[tm[1]]))


def _float(x: object) -> float:
    return float(x) if pd.notna(x) else math.nan


def cell_runs(results: pd.DataFrame) -> dict[tuple[str, str, str, str], dict[str, list]]:
    """(family, variant, task, metric) → the ``run_ids`` and ``seeds`` behind the cell, in seed order
    (empty when the results carry no run ids)."""
    if "run_id" not in results.columns:
        return {}
    out = {}
    for key, group in results.groupby([*ROW_KEYS, "task", "metric"], sort=False):
        group = group.sort_values(["seed", "run_id"])
        out[tuple(str(k) for k in key)] = {
            "run_ids": [str(r) for r in group["run_id"]],
            "seeds": [int(s) for s in group["seed"]],
        }
    return out


def cells(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, variant, task, metric): the seed summary, and the run's CI when 1 seed."""
    rows = []
    for key, group in results.groupby([*ROW_KEYS, "task", "metric"], sort=False):
        mean, std, n = seed_summary(group["value"])
        # a run's bootstrap CI describes that run; averaged over seeds it would describe nothing
        lo, hi = (group["ci_low"].iloc[0], group["ci_high"].iloc[0]) if len(group) == 1 else (None, None)
        rows.append((*key, mean, std, float(n), _float(lo), _float(hi)))
    return pd.DataFrame(rows, columns=[*ROW_KEYS, "task", "metric", *STATS])


def _with_p(summary: pd.DataFrame, significance: pd.DataFrame) -> pd.DataFrame:
    """Each cell's p-value against the reference row (NaN where untested, e.g. the reference itself)."""
    missing = [c for c in SIGNIFICANCE if c not in significance.columns]
    if missing:
        raise PlanevalError(f"significance lacks columns {missing} (expected compare.significance_vs)")
    p = significance[SIGNIFICANCE].astype({"p_value": float})
    return summary.merge(p, on=["variant", "task", "metric"], how="left").rename(columns={"p_value": "p"})


def comparison_table(
    results: pd.DataFrame,
    metrics: list[str] | None = None,
    ci: bool = True,
    significance: pd.DataFrame | None = None,
    reference: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Rows (family, variant) by columns (task, metric, stat), rows sorted by family then variant.

    ``stat`` is ``mean`` always; ``std`` and ``n`` when some cell has more than one seed; ``ci_low`` and
    ``ci_high`` when ``ci`` and some single-seed cell has a bootstrap interval; ``p`` (the paired test
    against the ``reference`` row, from ``compare.significance_vs``) when ``significance`` is given, and
    renderers then mark cells with p < ``alpha``. Missing cells are NaN.
    """
    results = _check(results, metrics)
    directions = _directions(results)
    summary = cells(results)
    stats = ["mean"]
    if (summary["n"] > 1).any():
        stats += ["std", "n"]
    if ci and summary[["ci_low", "ci_high"]].notna().any().any():
        stats += ["ci_low", "ci_high"]
    if significance is not None:
        summary = _with_p(summary, significance)
        stats.append("p")
    wide = summary.set_index([*ROW_KEYS, "task", "metric"])[stats].unstack(["task", "metric"])
    wide.columns = wide.columns.reorder_levels([1, 2, 0])
    wide.columns.names = ["task", "metric", "stat"]
    order = [(t, m, s) for t, m in _column_order(results, metrics) for s in stats]
    table = wide.reindex(columns=pd.MultiIndex.from_tuples(order, names=wide.columns.names))
    table = table.sort_index(level=ROW_KEYS)
    pairs = dict.fromkeys((t, m) for t, m, _ in order)
    table.attrs["higher_is_better"] = {tm: directions[tm] for tm in pairs}
    table.attrs["runs"] = cell_runs(results)
    if significance is not None:
        table.attrs.update(reference=reference, alpha=alpha)
    return table
