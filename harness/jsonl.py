"""JSON Lines read with one-line errors: a bad line names its file and line number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import PlanevalError


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file, blank lines skipped; a line that is not a JSON object fails."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PlanevalError(f"{path}: line {n}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise PlanevalError(f"{path}: line {n}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows
