"""``planeval import-lm-eval``: an lm-evaluation-harness results JSON (and its samples files) recorded in
the leaderboard, so lm-eval's numbers and planeval's share one table (docs/interop.md).

Each task of the file's ``results`` becomes one run row, marked as imported: family ``lm-eval``,
``params["imported_from"] = "lm-eval"`` with lm-eval's model config and the task's config. Its metrics are
lm-eval's ``<metric>,<filter>`` values, named ``<metric>`` for the ``none`` filter and
``<metric>_<filter>`` otherwise (``exact_match_strict_match``, as planeval names lm-eval's scores under
its lm-eval protocols); lm-eval's standard errors are kept in the params, not turned into CIs (planeval's
CIs are bootstrap intervals). A samples file adds the task's per-sample table (one row per document and
filter). The run id and keys are digests of what was imported, so importing the same file again
replaces its rows instead of adding new ones.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import PlanevalError
from harness.hashing import stable_hash
from harness.jsonl import read_jsonl
from leaderboard.store import MetricRecord, RunRecord

FAMILY = "lm-eval"
SUITE = "lm-eval"
#: planeval's model settings and the keys of lm-eval's ``config`` that hold them
_SETTINGS = {"dtype": "model_dtype", "device": "device", "batch_size": "batch_size"}
_SAMPLES_FILE = re.compile(r"samples_(?P<task>.+)_\d{4}-\d{2}-\d{2}T[\d.-]+\.jsonl$")


def metric_name(metric: str, filter_name: str) -> str:
    """The stored name of lm-eval's ``<metric>,<filter>`` score."""
    if filter_name == "none":
        return metric
    return metric + "_" + re.sub(r"\W+", "_", filter_name).strip("_")


def read_results(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanevalError(f"import-lm-eval: {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise PlanevalError(f"import-lm-eval: {path}: not an lm-eval results JSON (no 'results' object)")
    return doc


def samples_table(path: Path) -> tuple[str, pd.DataFrame]:
    """(task, per-sample table) of an lm-eval ``samples_<task>_<date>.jsonl`` file: ``sample_id`` (the
    doc id), ``filter``, ``target``, ``response`` (the filtered response), the three hashes and each
    per-sample metric."""
    m = _SAMPLES_FILE.search(Path(path).name)
    if m is None:
        raise PlanevalError(
            f"import-lm-eval: {path}: not named samples_<task>_<date>.jsonl as lm-eval names it"
        )
    rows = []
    for s in read_jsonl(Path(path)):
        filtered = s.get("filtered_resps") or [None]
        row = {
            "sample_id": str(s["doc_id"]),
            "filter": s.get("filter", "none"),
            "target": str(s.get("target", "")),
            "response": None if filtered[0] is None else str(filtered[0]),
            **{k: s.get(k) for k in ("doc_hash", "prompt_hash", "target_hash")},
        }
        row.update(
            {name: float(s[name]) for name in s.get("metrics", []) if isinstance(s.get(name), int | float)}
        )
        rows.append(row)
    return m["task"], pd.DataFrame(rows)


def records(
    doc: dict[str, Any],
    suite: str = SUITE,
    variant: str | None = None,
    samples: dict[str, pd.DataFrame] | None = None,
) -> list[tuple[RunRecord, list[MetricRecord], bytes | None]]:
    """The run rows, metric rows and per-sample tables (parquet bytes) of an lm-eval results document."""
    config = doc.get("config") or {}
    name = (
        variant or doc.get("model_name") or str(config.get("model_args") or config.get("model") or "lm-eval")
    )
    model_key = stable_hash("lm-eval", config.get("model"), config.get("model_args"))
    out = []
    for task, entry in sorted(doc["results"].items()):
        metrics, stderr = [], {}
        higher = (doc.get("higher_is_better") or {}).get(task, {})
        n = int(entry.get("sample_len") or (doc.get("n-samples") or {}).get(task, {}).get("effective") or 0)
        for key, value in entry.items():
            metric, sep, filter_name = key.partition(",")
            if not sep or isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                continue  # lm-eval's "N/A" stderr, its name/alias keys, or a NaN
            if metric.endswith("_stderr"):
                stderr[metric_name(metric[: -len("_stderr")], filter_name)] = value
                continue
            hib = higher.get(metric)
            metrics.append(
                MetricRecord(
                    metric_name(metric, filter_name), float(value), n, higher_is_better=hib is not False
                )
            )
        task_config = (doc.get("configs") or {}).get(task, {})
        params = {
            "imported_from": "lm-eval",
            "config": config,
            "task_config": task_config,
            "version": (doc.get("versions") or {}).get(task),
            "n-shot": (doc.get("n-shot") or {}).get(task),
            "stderr": stderr,
            "task_hash": (doc.get("task_hashes") or {}).get(task),
            "date": doc.get("date"),
        }
        eval_key = stable_hash("lm-eval", model_key, task, task_config, params["task_hash"], params["date"])
        run = RunRecord(
            run_id=stable_hash("lm-eval-import", suite, name, eval_key),
            suite=suite,
            variant=name,
            family=FAMILY,
            task=task,
            task_name=f"lm-eval:{task}",
            seed=int(config.get("random_seed") or 0),
            config_hash=stable_hash(task_config),
            model_key=model_key,
            eval_key=eval_key,
            git_commit=str(doc.get("git_hash") or "unknown"),
            package_versions={
                k: v
                for k, v in (
                    ("lm_eval", doc.get("lm_eval_version")),
                    ("transformers", doc.get("transformers_version")),
                )
                if v
            },
            timings={},
            params=params,
            model_settings={
                k: config.get(v) for k, v in _SETTINGS.items() if config.get(v) not in (None, "", [])
            }
            or None,
            # lm-eval's --limit (a count, or a fraction of the documents): a quick look, marked as ours
            item_limit=n if config.get("limit") else None,
        )
        table = (samples or {}).get(task)
        data = None
        if table is not None:
            buf = io.BytesIO()
            table.to_parquet(buf, index=False)
            data = buf.getvalue()
        out.append((run, metrics, data))
    return out


def import_files(
    store: Any, results: Path, sample_files: list[Path], suite: str = SUITE, variant: str | None = None
) -> list[RunRecord]:
    """Record an lm-eval results file (and its samples files) in ``store``; returns the runs written."""
    doc = read_results(results)
    samples = dict(samples_table(p) for p in sample_files)
    unknown = sorted(set(samples) - set(doc["results"]))
    if unknown:
        raise PlanevalError(
            f"import-lm-eval: samples of task {unknown[0]!r}, which {results} has no results for"
        )
    written = []
    for run, metrics, data in records(doc, suite, variant, samples):
        store.record(run, metrics, data)
        written.append(run)
    return written
