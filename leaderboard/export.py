"""``planeval export``: leaderboard runs written as lm-evaluation-harness writes results (docs/interop.md).

Per model (a variant at a seed) one ``results_<date>.json`` with lm-eval's top-level keys
(``lm_eval.result_schema.EvalResults``, as ``EvaluationTracker.save_results_aggregated`` writes them)
and, with ``log_samples``, one ``samples_<task>_<date>.jsonl`` per task with lm-eval's per-sample fields,
in ``<output>/<model>/`` as lm-eval lays them out. Everything comes from the leaderboard database (the
run rows, their metric rows and their stored per-sample tables), never from a model or the cache, so a
board on another machine exports the same files.

What lm-eval records and planeval's database does not (the tokenizer's special tokens, the model's
parameter count, the task's YAML version) is written as ``null`` under lm-eval's key rather than left
out or guessed; planeval's own values (run and eval keys, bootstrap CIs, breakdown coordinates) are under
the extra top-level key ``planeval``. planeval has no task groups that aggregate across tasks, so, as
lm-eval does for groups without an aggregate, there is no ``groups`` key: the suite is a group in
``group_subtasks`` only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import PlanevalError
from leaderboard.commands import jsonable

#: lm-eval's filter name for a score computed on the raw response (planeval's scores are filter-free)
FILTER = "none"
#: per-sample columns read as lm-eval's prompt, response and target, first present wins
PROMPT_COLUMNS = ("prompt", "question")
RESPONSE_COLUMNS = ("output", "generated", "text")
TARGET_COLUMNS = ("gold", "reference", "target", "answer")
#: columns that locate a sample rather than score it (never a per-sample metric)
_NOT_METRICS = ("sample_id", "length", "level", "seed", "n_tokens", "n_bytes", "n_generated")
#: lm-eval's tokenizer keys (``add_tokenizer_info``): not in planeval's database
_TOKENIZER_KEYS = (
    "tokenizer_pad_token",
    "tokenizer_eos_token",
    "tokenizer_bos_token",
    "eot_token_id",
    "max_length",
)


def hash_string(text: str) -> str:
    """lm-eval's ``hash_string``: the SHA-256 hex digest of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sanitize_model_name(name: str) -> str:
    """lm-eval's ``sanitize_model_name``: the model's folder name."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


@dataclass
class Model:
    """The runs of one model (a variant at a seed) to write as one lm-eval results file."""

    name: str
    runs: list[dict[str, Any]]


def select_runs(store: Any, run_ids: Sequence[str] = (), suite: str | None = None) -> list[dict[str, Any]]:
    """The runs to export (``get_run`` dicts, metrics included): those named by id or unique prefix, or
    the newest successful run of every (variant, task, seed) of ``suite``."""
    if bool(run_ids) == bool(suite):
        raise PlanevalError("export: name runs (RUN ...) or a suite (--suite S), not both and not neither")
    if suite:
        results = store.results(suite=suite)
        if results.empty:
            raise PlanevalError(f"export: no successful run of suite {suite!r} in {store.url}")
        ids = list(dict.fromkeys(results["run_id"]))
    else:
        ids = list(run_ids)
    runs = [store.get_run(i) for i in ids]
    failed = [r["run_id"] for r in runs if r["status"] != "ok"]
    if failed:
        raise PlanevalError(f"export: run {failed[0]} failed; it has no results to export")
    return runs


def group_models(runs: Iterable[dict[str, Any]]) -> list[Model]:
    """One model per (suite, variant, seed), named by the variant (``<variant>__<suite>__seed<k>`` when
    the export holds several seeds or suites of it)."""
    by_key: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        by_key.setdefault((run["suite"], run["variant"], int(run["seed"])), []).append(run)
    per_variant: dict[str, int] = {}
    for _, variant, _ in by_key:
        per_variant[variant] = per_variant.get(variant, 0) + 1
    models = []
    for (suite, variant, seed), group in by_key.items():
        labels = [r["task"] for r in group]
        if len(set(labels)) != len(labels):
            raise PlanevalError(
                f"export: {variant} seed {seed} has two runs of task {labels[0]!r} in {suite}"
            )
        name = variant if per_variant[variant] == 1 else f"{variant}__{suite}__seed{seed}"
        models.append(Model(name, sorted(group, key=lambda r: r["task"])))
    return models


def _first(row: dict[str, Any], columns: Sequence[str]) -> Any:
    return next((row[c] for c in columns if c in row and row[c] is not None), None)


def _is_metric(column: str, values: pd.Series) -> bool:
    return column not in _NOT_METRICS and (
        pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)
    )


def sample_records(samples: pd.DataFrame) -> list[dict[str, Any]]:
    """A per-sample table as lm-eval's ``samples_*.jsonl`` rows: ``doc_id`` (the row's position),
    ``doc`` (the row), ``target``, ``arguments``, ``resps``, ``filtered_resps``, ``filter``,
    ``metrics`` (the row's numeric score columns, each also a key) and the three hashes, plus
    planeval's ``sample_id``. Prompt, response and target are those the table holds (a table
    without prompts has empty ``arguments``); a stored ``prompt_hash`` (lm-eval protocols) is kept."""
    metrics = [str(c) for c in samples.columns if _is_metric(str(c), samples[c])]
    out = []
    for doc_id, row in enumerate(jsonable(samples.to_dict(orient="records"))):
        prompt, response = _first(row, PROMPT_COLUMNS), _first(row, RESPONSE_COLUMNS)
        target = _first(row, TARGET_COLUMNS)
        target_text = "" if target is None else str(target)
        doc_text = json.dumps(row, indent=2, ensure_ascii=False)
        record: dict[str, Any] = {
            "doc_id": doc_id,
            "doc": row,
            "target": target_text,
            "arguments": {} if prompt is None else {"gen_args_0": {"arg_0": str(prompt)}},
            "resps": [] if response is None else [[jsonable(response)]],
            "filtered_resps": [] if response is None else [jsonable(response)],
            "filter": FILTER,
            "metrics": metrics,
            "doc_hash": hash_string(doc_text),
            "prompt_hash": row.get("prompt_hash") or hash_string("" if prompt is None else str(prompt)),
            "target_hash": hash_string(target_text),
            "sample_id": row.get("sample_id"),
        }
        record.update({m: row[m] for m in metrics})
        out.append(record)
    return out


def task_hash(records: Sequence[dict[str, Any]]) -> str:
    """lm-eval's cumulative task hash over its samples' doc, prompt and target hashes."""
    return hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in records))


def _n_shot(params: dict[str, Any]) -> int:
    for key in ("num_fewshot", "n_shots"):
        if params.get(key) is not None:
            return int(params[key])
    return 0


def _versions(run: dict[str, Any]) -> dict[str, Any]:
    return run.get("package_versions") or {}


def results_document(
    model: Model, samples: dict[str, pd.DataFrame | None], records: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The lm-eval results JSON of one model: its runs' metrics under lm-eval's keys (``<metric>,none``,
    ``<metric>_stderr,none`` as ``"N/A"``: planeval reports bootstrap CIs, under ``planeval``)."""
    first = model.runs[0]
    results, configs, versions, n_shot, higher, n_samples, own = {}, {}, {}, {}, {}, {}, {}
    for run in model.runs:
        label = run["task"]
        table = samples.get(label)
        n_rows = len(table) if table is not None else max((m["n"] for m in run["metrics"]), default=0)
        entry: dict[str, Any] = {"name": label, "alias": label, "sample_len": n_rows}
        for m in run["metrics"]:
            entry[f"{m['name']},{FILTER}"] = m["value"]
            entry[f"{m['name']}_stderr,{FILTER}"] = "N/A"
        results[label] = entry
        configs[label] = {
            "task": label,
            "task_name": run["task_name"],
            "params": run["params"],
            "metadata": {"version": None, "eval_key": run["eval_key"]},
        }
        versions[label] = None  # planeval's task version is part of the eval key, not stored apart
        n_shot[label] = _n_shot(run["params"])
        higher[label] = {m["name"]: bool(m["higher_is_better"]) for m in run["metrics"]}
        n_samples[label] = {"original": n_rows, "effective": n_rows}
        own[label] = {
            "run_id": run["run_id"],
            "eval_key": run["eval_key"],
            "config_hash": run["config_hash"],
            "task_name": run["task_name"],
            "timings": run["timings"],
            "model_settings": run.get("model_settings"),
            "item_limit": run.get("item_limit"),
            "rescored_from": run.get("rescored_from"),
            "metrics": {
                m["name"]: {k: m[k] for k in ("value", "ci_low", "ci_high", "n", "base", "dims")}
                for m in run["metrics"]
            },
        }
    created = min(r["created_at"] for r in model.runs)
    seconds = sum(float(v) for r in model.runs for k, v in (r["timings"] or {}).items() if k.endswith("_s"))
    packages = _versions(first)
    settings = first.get("model_settings") or {}  # what the model was loaded with (revision 0006)
    doc: dict[str, Any] = {
        "results": results,
        "group_subtasks": {first["suite"]: [r["task"] for r in model.runs]},
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": higher,
        "n-samples": n_samples,
        "config": {
            "model": "planeval",
            "model_args": {"variant": first["variant"], "family": first["family"], "suite": first["suite"]},
            "model_num_parameters": None,
            "model_dtype": settings.get("dtype"),
            "model_revision": None,
            "model_sha": first["model_key"],
            "batch_size": settings.get("batch_size"),
            "batch_sizes": [],
            "device": settings.get("device"),
            "use_cache": None,
            "limit": first.get("item_limit"),
            "bootstrap_iters": None,
            "gen_kwargs": None,
            "random_seed": int(first["seed"]),
            "numpy_seed": int(first["seed"]),
            "torch_seed": int(first["seed"]),
            "fewshot_seed": int(first["seed"]),
        },
        "git_hash": first["git_commit"],
        "date": created.timestamp(),
        "pretty_env_info": "\n".join(f"{k}: {v}" for k, v in sorted(packages.items())),
        "transformers_version": packages.get("transformers"),
        "lm_eval_version": packages.get("lm_eval") or packages.get("lm-eval"),
        "upper_git_hash": None,
        **dict.fromkeys(_TOKENIZER_KEYS),
        "max_length": settings.get("max_length"),
        "task_hashes": {label: task_hash(rs) for label, rs in records.items()},
        "model_source": "planeval",
        "model_name": model.name,
        "model_name_sanitized": sanitize_model_name(model.name),
        "system_instruction": None,
        "system_instruction_sha": None,
        "fewshot_as_multiturn": None,
        "chat_template": None,
        "chat_template_sha": None,
        "total_evaluation_time_seconds": str(seconds),
        "planeval": {
            "suite": first["suite"],
            "variant": first["variant"],
            "family": first["family"],
            "seed": int(first["seed"]),
            "model_key": first["model_key"],
            "package_versions": packages,
            "tasks": own,
        },
    }
    return jsonable(doc)


def date_id(when: datetime | None = None) -> str:
    """lm-eval's file-name date: ISO 8601 with ``:`` as ``-``."""
    return (when or datetime.now(timezone.utc)).replace(tzinfo=None).isoformat().replace(":", "-")


def export(
    store: Any,
    runs: Sequence[dict[str, Any]],
    output_path: Path,
    log_samples: bool,
    when: datetime | None = None,
) -> list[Path]:
    """Write each model's results JSON (and its samples files) under ``output_path/<model>/``; returns
    the paths written."""
    stamp = date_id(when)
    written = []
    for model in group_models(runs):
        folder = Path(output_path) / sanitize_model_name(model.name)
        folder.mkdir(parents=True, exist_ok=True)
        samples = {r["task"]: store.load_samples(r) for r in model.runs}
        records = {label: sample_records(t) for label, t in samples.items() if t is not None and log_samples}
        for label, rows in records.items():
            path = folder / f"samples_{label}_{stamp}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            written.append(path)
        path = folder / f"results_{stamp}.json"
        path.write_text(
            json.dumps(results_document(model, samples, records), indent=2, ensure_ascii=False),
            encoding="utf-8",
        )
        written.append(path)
    return written
