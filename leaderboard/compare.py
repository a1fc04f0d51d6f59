"""Compare two variants of a leaderboard run by run, on the samples both were scored on.

The store keeps one row per run and metric; the per-sample tables live in the evaluation cache
(``samples.parquet``). For each task both variants ran, the two sample tables are paired on the task's
sample id and every metric is re-aggregated by the task's own ``aggregate`` (``leaderboard.paired``).
With several seeds, the seeds both variants ran are pooled: a sample is then (seed, sample id), and the
test asks whether these trained models differ on the evaluation data, given the training seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.errors import PlanevalError
from harness.statistics import Aggregate
from leaderboard.paired import Difference, compare_samples, same_values
from leaderboard.store import cached_samples

if TYPE_CHECKING:
    from tasks.fast_aggregates import Factory

UNIT = "_planeval_unit"  # the pooled sample key: "<seed>/<sample id>"
COLUMNS = [
    "task", "metric", "higher_is_better", "a", "b", "diff", "ci_low", "ci_high", "p_value", "test", "n",
    "seeds", "better",
]  # fmt: skip
SampleLoader = Callable[[dict[str, Any]], "pd.DataFrame | None"]


def task_aggregate(task_name: str, params: dict[str, Any]) -> tuple[Aggregate, str]:
    """The registered task's ``aggregate`` bound to a run's params, and the task's sample-id column."""
    aggregate, unit, _ = task_functions(task_name, params)
    return aggregate, unit


def task_functions(task_name: str, params: dict[str, Any]) -> tuple[Aggregate, str, Factory | None]:
    """``task_aggregate`` plus the task's array kernel (``fast_aggregates``; None: pandas only)."""
    from tasks.base import TASKS
    from tasks.fast_aggregates import lookup

    cls = TASKS.get(task_name)
    impl = cls()
    validated = cls.Params.model_validate(params)
    return (lambda df: impl.aggregate(df, validated)), impl.sample_id, lookup(task_name, validated)


#: a run's table from its cache file only, for callers without a store (``Store.load_samples`` reads
#: the database first)
cache_samples: SampleLoader = cached_samples


def memoised(load: SampleLoader) -> SampleLoader:
    """``load`` reading each run's table once (by run id); callers must not modify what it returns."""
    seen: dict[str, pd.DataFrame | None] = {}

    def cached(run: dict[str, Any]) -> pd.DataFrame | None:
        key = str(run["run_id"])
        if key not in seen:
            seen[key] = load(run)
        return seen[key]

    return cached


def _one_suite(results: pd.DataFrame) -> None:
    """Pairing needs one run per (variant, task, seed): two suites would give two."""
    if results.duplicated(["variant", "task", "seed", "metric"]).any():
        suites = ", ".join(sorted(set(results["suite"])))
        raise PlanevalError(f"these results span several suites ({suites}): choose one with --suite")


def _require_variant(results: pd.DataFrame, name: str) -> None:
    if name not in set(results["variant"]):
        from harness.registry import did_you_mean

        valid = sorted(set(results["variant"]))
        raise PlanevalError(
            f"no results for variant {name!r}{did_you_mean(name, valid)} in this selection "
            f"(valid: {', '.join(valid)})"
        )


def _pooled(
    runs: list[dict[str, Any]], unit: str, load: SampleLoader, lengths: list[int] | None = None
) -> pd.DataFrame:
    """The runs' sample tables stacked, each sample keyed by (seed, sample id); ``lengths`` receives
    each run's row count."""
    frames = []
    for run in runs:
        samples = load(run)
        if samples is None:
            raise PlanevalError(
                f"the per-sample table of run {run['run_id'][:12]} ({run['variant']}/{run['task']}/seed "
                f"{run['seed']}) is no longer in the cache: re-run the suite to compare it"
            )
        if unit not in samples.columns:
            raise PlanevalError(f"run {run['run_id'][:12]}: its samples have no {unit!r} column to pair on")
        frames.append(samples.assign(**{UNIT: str(run["seed"]) + "/" + samples[unit].astype(str)}))
        if lengths is not None:
            lengths.append(len(samples))
    return pd.concat(frames, ignore_index=True)


def _one_task(
    task: str,
    runs_a: list[dict[str, Any]],
    runs_b: list[dict[str, Any]],
    keep: Callable[[str], bool],
    load: SampleLoader,
    n_boot: int,
    alpha: float,
    seed: int,
    ci: bool,
    engine: str = "arrays",
    stored: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    first = runs_a[0]
    for run in [*runs_a, *runs_b]:
        if run["task_name"] != first["task_name"] or run["params"] != first["params"]:
            raise PlanevalError(
                f"task {task!r} was run with different settings ({first['task_name']} {first['params']} vs "
                f"{run['task_name']} {run['params']}): its samples are not comparable"
            )
    diffs = None
    if engine == "arrays":
        diffs = _on_arrays(first, runs_a, runs_b, keep, load, stored or {}, n_boot, alpha, seed, ci)
    if diffs is not None:
        seeds = ",".join(str(r["seed"]) for r in runs_a)
        return [{"task": task, **asdict(d), "seeds": seeds} for d in diffs]
    aggregate, unit, kernel = task_functions(first["task_name"], first["params"])
    diffs = compare_samples(
        _pooled(runs_a, unit, load),
        _pooled(runs_b, unit, load),
        aggregate,
        unit=UNIT,
        n_boot=n_boot,
        alpha=alpha,
        seed=seed,
        metrics=keep,
        ci=ci,
        kernel=kernel if engine == "arrays" else None,
    )
    seeds = ",".join(str(r["seed"]) for r in runs_a)
    return [{"task": task, **asdict(d), "seeds": seeds} for d in diffs]


def _stored(results: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each run's metric values as its task's ``aggregate`` computed them when the run was recorded."""
    out: dict[str, dict[str, float]] = {}
    for run_id, metric, value in zip(results["run_id"], results["metric"], results["value"], strict=True):
        out.setdefault(str(run_id), {})[str(metric)] = math.nan if value is None else float(value)
    return out


def _on_arrays(
    first: dict[str, Any],
    runs_a: list[dict[str, Any]],
    runs_b: list[dict[str, Any]],
    keep: Callable[[str], bool],
    load: SampleLoader,
    stored: dict[str, dict[str, float]],
    n_boot: int,
    alpha: float,
    seed: int,
    ci: bool,
) -> list[Difference] | None:
    """The paired tests on the task's array kernel, without importing the task; None when there is no
    kernel, it declines these tables, or it does not reproduce every run's stored metric values (the
    task's own ``aggregate`` of each run's whole table) — the pandas path then decides.

    The two sides share one index of (seed, sample id) units: each side's per-unit feature sums are
    taken at the units both have, and one matrix of draws weights both."""
    from leaderboard.paired import Sums, binary_outcomes, compare_sums, pair
    from tasks.fast_aggregates import UNITS, light_lookup

    factory = light_lookup(first["task_name"], first["params"])
    if factory is None:
        return None
    unit = UNITS.get(first["task_name"], "sample_id")
    counts: tuple[list[int], list[int]] = ([], [])
    frames = (_pooled(runs_a, unit, load, counts[0]), _pooled(runs_b, unit, load, counts[1]))
    try:
        kernel = factory(list(frames), UNIT)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError):
        return None
    if kernel is None:
        return None
    names = None
    sides = []
    for side, (frame, runs, lengths) in enumerate(zip(frames, (runs_a, runs_b), counts, strict=True)):
        codes, units = pd.factorize(frame[UNIT])
        sums = np.zeros((len(units), kernel.width))
        np.add.at(sums, codes, kernel.features(frame, side))
        # every run on its own: its units' sums must give what the task's aggregate stored for it
        weights = np.zeros((len(runs), len(units)))
        for r, (start, n) in enumerate(zip(np.cumsum([0, *lengths[:-1]]), lengths, strict=True)):
            weights[r, codes[start : start + n]] = 1.0
        values = kernel.finalize(weights @ sums)
        for r, run in enumerate(runs):
            known = {k for k, v in stored.get(str(run["run_id"]), {}).items() if keep(k)}
            names = known if names is None else names & known
            if not _reproduces(values, r, stored.get(str(run["run_id"]), {}), known):
                return None
        sides.append((pd.Index(units), sums))
    (units_a, sums_a), (units_b, sums_b) = sides
    common = units_a.intersection(units_b)
    if common.empty:
        raise ValueError(f"the two sample tables share no {UNIT!r}: they were not scored on the same samples")
    paired_sums = Sums(kernel, sums_a[units_a.get_indexer(common)], sums_b[units_b.get_indexer(common)])
    ones, zero = np.ones((1, len(common))), np.zeros((1, len(common)))
    full_a = kernel.finalize(ones @ paired_sums.a + zero @ paired_sums.b)
    full_b = kernel.finalize(zero @ paired_sums.a + ones @ paired_sums.b)
    va, vb = ({k: float(v[0]) for k, v in full.items()} for full in (full_a, full_b))
    # the aggregate's order (the kernels report in it), restricted to metrics stored for every run
    ordered = [k for k in va if k in (names or set()) and k in vb]
    if not ordered:
        return []
    binary = {}
    if any(k in frames[0].columns and k in frames[1].columns for k in ordered):  # McNemar candidates
        paired = pair(frames[0], frames[1], UNIT)
        binary = {
            k: v for k in ordered if (v := binary_outcomes(paired, k, float(va[k]), float(vb[k]))) is not None
        }
    return compare_sums(paired_sums, va, vb, ordered, binary, n_boot, alpha, seed, ci)


def _reproduces(values: dict[str, np.ndarray], row: int, stored: dict[str, float], names: set[str]) -> bool:
    """The kernel's value of every metric at ``row`` equals the stored one (``paired.same_values``)."""
    return same_values({k: v[row] for k, v in values.items()}, stored, names)


def compare_variants(
    results: pd.DataFrame,
    runs: pd.DataFrame,
    a: str,
    b: str,
    keep: Callable[[str], bool] | None = None,
    load: SampleLoader = cache_samples,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    engine: str = "arrays",
) -> pd.DataFrame:
    """Per (task, metric): a, b, a - b, its CI, p-value, test, paired sample count and the better side.

    ``results`` is the long form (``Store.results``) already narrowed to one suite and the wanted tasks
    and seeds; ``runs`` holds those runs' rows (``Store.runs``); ``keep`` filters metric names.
    ``engine``: "arrays" resamples through the tasks' array kernels where they reproduce the pandas
    aggregate (``tasks.fast_aggregates``), "pandas" always re-runs the aggregate (the reference).
    """
    if a == b:
        raise PlanevalError(f"compare needs two different variants, got {a!r} twice")
    for name in (a, b):
        _require_variant(results, name)
    _one_suite(results)
    out = _compare(results, runs, a, b, keep, load, n_boot, alpha, seed, ci=True, engine=engine)
    if out.empty:
        raise PlanevalError(f"{a!r} and {b!r} share no (task, seed) with results in this selection")
    return out


def _compare(
    results: pd.DataFrame,
    runs: pd.DataFrame,
    a: str,
    b: str,
    keep: Callable[[str], bool] | None,
    load: SampleLoader,
    n_boot: int,
    alpha: float,
    seed: int,
    ci: bool,
    engine: str = "arrays",
) -> pd.DataFrame:
    """``compare_variants`` without the checks; empty when the two share no (task, seed)."""
    if engine not in ("arrays", "pandas"):
        raise ValueError(f"engine must be 'arrays' or 'pandas', got {engine!r}")
    wanted = set(results["metric"]) if keep is None else {m for m in set(results["metric"]) if keep(m)}
    stored = _stored(results)
    by_id = runs.set_index("run_id", drop=False)
    directions = results.drop_duplicates(["task", "metric"]).set_index(["task", "metric"])["higher_is_better"]
    rows: list[dict[str, Any]] = []
    for task in dict.fromkeys(results["task"]):
        ids = results[results["task"] == task].drop_duplicates("run_id")
        seeds = sorted(set(ids.loc[ids["variant"] == a, "seed"]) & set(ids.loc[ids["variant"] == b, "seed"]))
        if not seeds:
            continue
        runs_a, runs_b = (
            [by_id.loc[r].to_dict() for r in ids[(ids["variant"] == v) & ids["seed"].isin(seeds)]
             .sort_values("seed")["run_id"]]
            for v in (a, b)
        )  # fmt: skip
        rows += _one_task(
            task, runs_a, runs_b, wanted.__contains__, load, n_boot, alpha, seed, ci, engine, stored
        )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.DataFrame(rows)
    out["higher_is_better"] = [
        bool(directions.get((t, m), True)) for t, m in zip(out["task"], out["metric"], strict=True)
    ]
    out["better"] = [_better(r, a, b, alpha) for r in out.itertuples()]
    return out[COLUMNS]


def _better(row: Any, a: str, b: str, alpha: float) -> str:
    """The variant that is better on this metric when the difference is significant and its paired
    CI excludes 0, else '' (a permutation p just under α with a bootstrap CI across 0 is no winner)."""
    if math.isnan(row.p_value) or row.p_value >= alpha or row.diff == 0:
        return ""
    lo, hi = getattr(row, "ci_low", math.nan), getattr(row, "ci_high", math.nan)
    if not (math.isnan(lo) or math.isnan(hi)) and lo <= 0 <= hi:
        return ""
    return a if (row.diff > 0) == bool(row.higher_is_better) else b


def corrected(frame: pd.DataFrame, a: str, b: str, alpha: float, method: str = "holm") -> pd.DataFrame:
    """The comparison with ``p_adjusted`` (``method`` over every row shown: several metrics are several
    tests) and ``better`` decided on it; ``method`` "none" keeps the raw p-values."""
    from leaderboard.multiplicity import adjust

    p = frame["p_value"].astype(float)
    out = frame.assign(p_adjusted=p if method == "none" else adjust(p, method), correction=method)
    out["better"] = [
        _better(r._replace(p_value=r.p_adjusted), a, b, alpha) for r in out.itertuples(index=False)
    ]
    return out


def significance_vs(
    results: pd.DataFrame,
    runs: pd.DataFrame,
    reference: str,
    load: SampleLoader = cache_samples,
    n_boot: int = 1000,
    seed: int = 0,
    engine: str = "arrays",
) -> pd.DataFrame:
    """p-value of every other variant's difference from ``reference`` per (task, metric), for tables.

    The reference's sample tables are read once (every other variant is compared with them)."""
    _require_variant(results, reference)
    _one_suite(results)
    load = memoised(load)
    frames = []
    for variant in dict.fromkeys(results["variant"]):
        if variant == reference:
            continue
        # a variant that shares no (task, seed) with the reference gets no marks: not an error
        diff = _compare(results, runs, variant, reference, None, load, n_boot, 0.05, seed, False, engine)
        frames.append(diff.assign(variant=variant)[["variant", "task", "metric", "diff", "p_value"]])
    if not frames:
        return pd.DataFrame(columns=["variant", "task", "metric", "diff", "p_value"])
    return pd.concat(frames, ignore_index=True)
