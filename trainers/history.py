"""A training run's full history, one JSON object per logged step in the artifact's ``history.jsonl``.

Every trainer writes it — the hand-written loop (``trainers.loop``) each step, the TRL trainers from
their ``log_history`` — with a ``phase`` naming the loop (``lm``, ``nap``, ``planner``, ``policy``,
``sft``, ``grpo``...), a 1-based ``step`` and numeric fields (``loss``, ``lr``, the loss function's own
stats, TRL's ``reward``...). The runner records it in the leaderboard (``training_curves``) and hands it
to the trackers (``harness.tracking``); ``planeval plot --kind training`` draws it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

FILE = "history.jsonl"


def _numeric(row: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric fields of a row (booleans and text are not curves)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = float(v)
    return out


def append_history(out_dir: Path, phase: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Append ``rows`` (each with a ``step``) under ``phase``; returns how many were written."""
    lines = []
    for row in rows:
        values = _numeric(row)
        step = values.pop("step", None)
        if step is None or not values:
            continue
        lines.append(json.dumps({"phase": phase, "step": int(step), **values}))
    if lines:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(out_dir) / FILE, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return len(lines)


def read_history(artifact_dir: Path) -> list[dict[str, Any]]:
    """The rows of an artifact's history (empty when the trainer wrote none, e.g. ``unigram``)."""
    path = Path(artifact_dir) / FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
