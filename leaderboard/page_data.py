"""What the web page embeds besides the table: each run's per-sample rows (for the drill-down) and each
variant's metric values across the commits the store has recorded (its history).

Both become JSON inside the page, so the page stays one file: the samples are capped per run (the
page pages through what it holds and says how many rows the run has; ``planeval show RUN --json -n -1``
prints them all), long texts are cut, and the history keeps the table's own columns only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

#: rows of a run's sample table embedded in the page (the drill-down pages through them)
SAMPLE_ROWS = 200
#: characters of one text cell kept (prompts and outputs of generation tasks can be long)
TEXT_CHARS = 2000
#: columns shown first when a sample table has them: what a reader looks for in a sample
FIRST_COLUMNS = ("sample_id", "prompt", "input", "output", "generation", "prediction", "reference", "target")


def _cell(x: Any) -> Any:
    """A JSON value for one sample cell: numbers as they are (NaN/inf as null), lists and arrays as
    JSON text, long strings cut to ``TEXT_CHARS``."""
    if hasattr(x, "tolist") and not isinstance(x, str):
        x = x.tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, bool | int) or x is None:
        return x
    if isinstance(x, list | dict | tuple):
        x = json.dumps(x, default=str)
    text = str(x)
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + f"… (+{len(text) - TEXT_CHARS} chars)"


def sample_doc(samples: pd.DataFrame, limit: int = SAMPLE_ROWS) -> dict[str, Any]:
    """``{"columns", "rows", "n_rows"}`` of a run's table: its first ``limit`` rows, columns reordered so
    that id, prompt, output and reference come first."""
    cols = [c for c in FIRST_COLUMNS if c in samples.columns]
    cols += [str(c) for c in samples.columns if c not in cols]
    head = samples.head(limit)
    rows = [[_cell(v) for v in row] for row in head[cols].itertuples(index=False, name=None)]
    return {"columns": cols, "rows": rows, "n_rows": len(samples)}


def samples_doc(
    runs: pd.DataFrame, load: Callable[[Any], pd.DataFrame | None] | None, limit: int = SAMPLE_ROWS
) -> dict[str, dict[str, Any]]:
    """run id → its ``sample_doc``, for every run whose table can still be read."""
    out: dict[str, dict[str, Any]] = {}
    if load is None or runs.empty:
        return out
    for run in runs.to_dict("records"):
        samples = load(run)
        if samples is not None:
            out[str(run["run_id"])] = sample_doc(samples, limit)
    return out


def history_doc(
    history: pd.DataFrame | None, rows: Iterable[tuple[str, str]], columns: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """Row index → ``{"columns", "points"}``: per commit the variant was recorded at (oldest first), the
    mean over seeds of each table column, the seeds behind it and when it was first recorded.

    ``history`` is the long form of every ok run (``Store.results(latest=False)``) with the runs'
    ``created_at``; only rows with more than one commit get a history (one point is the table itself)."""
    out: dict[str, dict[str, Any]] = {}
    if history is None or history.empty:
        return out
    wanted = set(columns)
    keep = [tm in wanted for tm in zip(history["task"], history["metric"], strict=True)]
    frame = history[keep]
    labels = [f"{t}/{m}" for t, m in columns]
    for i, (family, variant) in enumerate(rows):
        mine = frame[(frame["family"] == family) & (frame["variant"] == variant)]
        if mine["git_commit"].nunique() < 2:
            continue
        points = []
        order = mine.groupby("git_commit")["created_at"].min().sort_values()
        for commit, at in order.items():
            at_commit = mine[mine["git_commit"] == commit]
            means = at_commit.groupby(["task", "metric"])["value"].mean()
            values = [_cell(float(means[tm])) if tm in means.index else None for tm in columns]
            points.append(
                {
                    "commit": str(commit)[:12],
                    "at": pd.Timestamp(at).isoformat(timespec="seconds") if pd.notna(at) else "",
                    "seeds": sorted({int(s) for s in at_commit["seed"]}),
                    "values": values,
                }
            )
        out[str(i)] = {"columns": labels, "points": points}
    return out
