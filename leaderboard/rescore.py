"""Re-score a stored run: its task's ``aggregate`` over its stored per-sample table under new params,
with the runner's non-finite checks and bootstrap, and no model (docs/score.md).

Like Inspect AI's ``inspect score`` and HELM's separate summarize step, scoring is apart from
generation: a run's row holds the task name, the validated params and the per-sample table, so the
metrics can be recomputed from the database alone. Only the params a task declares in
``aggregate_params`` (read by ``aggregate`` alone, or selecting a subset of what the table holds) or in
``sample_params`` (read by its per-sample function, ``Task.score_samples``, from the stored outputs and
references) may change, because every other param changes what the model would be asked. The result
is a new run row (its own run id and config hash, linked to the source) carrying the very same table,
or, when the samples were scored again, the re-scored table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel

from harness.errors import PlanevalError
from harness.finite import NonFiniteError
from harness.hashing import stable_hash
from harness.provenance import git_commit, package_versions
from harness.specs import validate
from harness.summary import summarize as compute_summary
from leaderboard.store import RUN_COLUMNS, MetricRecord, RunRecord, Store

#: bumped when what a re-scored row's keys are made of changes
SCORE_VERSION = "1"


@dataclass
class Rescored:
    """A re-scored run: the row written, and the source's metric values beside the new ones."""

    source: dict[str, Any]
    run: RunRecord
    metrics: list[MetricRecord]
    changed: dict[str, tuple[Any, Any]]  # param → (old, new)
    samples: bytes  # the per-sample table recorded: the source's as stored, or the re-scored one
    resampled: bool = False  # whether each sample was scored again (``Task.score_samples``)


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set param=value`` pairs, each value read as YAML (``rouge_types=[rouge1]``, ``x=2.5``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PlanevalError(f"score: --set {item!r}: expected param=value")
        try:
            out[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise PlanevalError(f"score: --set {item!r}: the value is not YAML ({exc.problem})") from None
    return out


def new_params(task_cls: Any, run: dict[str, Any], changes: dict[str, Any]) -> tuple[BaseModel, dict]:
    """The run's params with ``changes``, validated by the task's ``Params``; refused with one line
    naming the first param that is unknown or that only the model can answer."""
    name, fields = run["task_name"], task_cls.Params.model_fields
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise PlanevalError(f"score: task {name!r} has no param {unknown[0]!r} (params: {', '.join(fields)})")
    old = validate(task_cls.Params, run["params"], f"score: run {run['run_id']}", prefix="params")
    params = validate(task_cls.Params, {**run["params"], **changes}, "score", prefix="params")
    before, after = old.model_dump(mode="json"), params.model_dump(mode="json")
    changed = {k: (before[k], after[k]) for k in after if before.get(k) != after[k]}
    allowed = tuple(dict.fromkeys((*task_cls.aggregate_params, *task_cls.sample_params)))
    needs_model = [k for k in changed if k not in allowed]
    if needs_model:
        raise PlanevalError(
            f"score: param {needs_model[0]!r} of task {name!r} changes what the model is asked, so it needs "
            f"a new evaluation (planeval run); re-scorable params: {', '.join(allowed) or 'none'}"
        )
    return params, changed


def summarize(
    task: Any, samples: pd.DataFrame, params: BaseModel, seed: int, what: str
) -> list[MetricRecord]:
    """Metrics with bootstrap CIs from a stored per-sample table, exactly as a run computes them
    (``harness.summary``); a table that cannot give them is refused in one line."""
    try:
        return [MetricRecord(**m) for m in compute_summary(task, samples, params, seed, what)]
    except NonFiniteError as exc:
        raise PlanevalError(str(exc)) from None
    except (KeyError, ValueError, TypeError) as exc:
        raise PlanevalError(
            f"{what}: the stored per-sample table cannot give these metrics ({type(exc).__name__}: "
            f"{exc}); the params ask for more than was evaluated, so run the model (planeval run)"
        ) from None


def stored_table(store: Store, run: dict[str, Any]) -> bytes:
    """The run's per-sample table as recorded: from the database, else its cache file while it exists."""
    data = store.sample_bytes(run["run_id"])
    path = run.get("samples_path")
    if data is None and path and Path(path).exists():
        data = Path(path).read_bytes()
    if data is None:
        raise PlanevalError(
            f"score: run {run['run_id']}: no per-sample table (recorded without one, cache file gone)"
        )
    return data


def _answers(task: Any, samples: pd.DataFrame, params: BaseModel) -> bool:
    """Whether the stored scores give the metrics under ``params`` (the columns they read exist)."""
    try:
        task.aggregate(samples, params)
    except (KeyError, ValueError, TypeError):
        return False
    return True


def scored_again(task: Any, samples: pd.DataFrame, params: BaseModel, what: str) -> bytes:
    """The stored table's samples scored again by the task's per-sample function, as parquet bytes."""
    if not task.scores_samples():
        raise PlanevalError(
            f"{what}: task {type(task).__name__} scores its samples with the model (its table holds no "
            "outputs to score again): only its aggregation can be re-run"
        )
    try:
        table = task.score_samples(samples, params)
    except (KeyError, ValueError, TypeError) as exc:
        raise PlanevalError(
            f"{what}: the stored per-sample table cannot be scored again ({type(exc).__name__}: {exc})"
        ) from None
    buf = BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()


def _prepared(
    store: Store, run_id: str, changes: dict[str, Any], label: str | None, samples: bool = False
) -> Rescored:
    """One run re-scored in memory: params checked, its samples scored again when a per-sample param
    changed (or ``samples``), metrics computed from its table, the row built."""
    from tasks.base import TASKS  # the task's code, never its model

    start = time.perf_counter()
    run = store.get_run(run_id)
    if run["status"] != "ok":
        raise PlanevalError(
            f"score: run {run['run_id']} failed ({run['error']}): it has no samples to re-score"
        )
    task_cls = TASKS.get(run["task_name"])
    params, changed = new_params(task_cls, run, changes)
    data = stored_table(store, run)
    task_label = label or run["task"]
    what = f"score: {task_label} × {run['variant']}"
    task = task_cls()
    # the stored scores answer an aggregation param; a per-sample param, or an aggregation param the
    # stored columns cannot answer (a ROUGE type never scored), needs every sample scored again
    resampled = samples or any(k in task.sample_params and k not in task.aggregate_params for k in changed)
    if not resampled and changed and task.scores_samples():
        resampled = not _answers(task, pd.read_parquet(BytesIO(data)), params)
    if resampled:
        data = scored_again(task, pd.read_parquet(BytesIO(data)), params, what)
    metrics = summarize(task, pd.read_parquet(BytesIO(data)), params, int(run["seed"]), what)
    # a table scored again by the current code is a result of that code: "samples" joins the key
    key_parts = ("samples",) if resampled else ()
    eval_key = stable_hash(
        "score", SCORE_VERSION, run["eval_key"], run["task_name"], task_cls.version, params, *key_parts
    )
    record = replace(
        RunRecord(**{c: run[c] for c in RUN_COLUMNS if c in RunRecord.__dataclass_fields__}),
        run_id=stable_hash("run", run["suite"], task_label, run["variant"], eval_key),
        task=task_label,
        config_hash=stable_hash("score", run["config_hash"], params),
        eval_key=eval_key,
        git_commit=git_commit(),
        package_versions=package_versions(),
        timings={**(run["timings"] or {}), "score_s": time.perf_counter() - start},
        params=params.model_dump(mode="json"),
        status="ok",
        error=None,
        samples_path=None,
    )
    return Rescored(run, record, metrics, changed, data, resampled)


def rescore_runs(
    store: Store,
    run_ids: list[str],
    changes: dict[str, Any],
    label: str | None = None,
    samples: bool = False,
) -> list[Rescored]:
    """Re-score runs with ``changes`` to their params (``samples``: score every stored sample again
    with the current code even when no per-sample param changed) and record each result as a new run
    linked to its source. Every run is re-scored before the first row is written, so a refusal writes
    nothing."""
    done = [_prepared(store, run_id, changes, label, samples) for run_id in run_ids]
    if label is not None and len({r.source["task"] for r in done}) > 1:
        raise PlanevalError(
            f"score: --as {label} would give runs of several tasks one label: select one task (--tasks)"
        )
    for r in done:
        store.record(r.run, r.metrics, r.samples, rescored_from=r.source["run_id"])
    return done


def rescore(
    store: Store, run_id: str, changes: dict[str, Any], label: str | None = None, samples: bool = False
) -> Rescored:
    """Re-score one stored run (``rescore_runs`` of one)."""
    return rescore_runs(store, [run_id], changes, label, samples)[0]


def selected_runs(
    store: Store,
    suite: str | None = None,
    variants: list[str] | None = None,
    tasks: list[str] | None = None,
    seeds: list[int] | None = None,
) -> list[str]:
    """Ids of the leaderboard's current runs (the newest per suite, variant, task and seed) in a selection."""
    results = store.results(suite=suite, variants=variants, tasks=tasks, seeds=seeds)
    return list(dict.fromkeys(results["run_id"]))


def report(r: Rescored) -> str:
    """The source and the new row, what changed, and each metric's old and new value."""
    src = r.source
    lines = [f"{src['run_id']} ({src['variant']} / {src['task']} / seed {src['seed']}) → {r.run.run_id}"]
    for k, (old, new) in r.changed.items():
        lines.append(f"  {k}: {old} → {new}")
    if r.resampled:
        lines.append("  (every sample scored again from its stored output: the per-sample function)")
    if not r.changed:
        lines.append("  (params unchanged: re-scored with the current code)")
    old = {m["name"]: m["value"] for m in src["metrics"]}
    new = {m.name: m.value for m in r.metrics}
    lines.append(f"  {'metric':<24} {'old':>12} {'new':>12}")
    for name in sorted(old.keys() | new.keys()):
        a, b = (f"{d[name]:.6g}" if name in d else "–" for d in (old, new))
        lines.append(f"  {name:<24} {a:>12} {b:>12}")
    return "\n".join(lines)
