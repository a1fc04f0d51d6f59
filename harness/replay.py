"""A cached re-run without planning: the stage keys of the last complete run, read instead of recomputed.

Planning a suite imports every task and trainer (their params are validated by the classes that
define them), and those modules import torch, transformers, spaCy and scikit-learn: seconds before the
first key is known, and on a re-run of an unchanged suite every stage is cached anyway. So after a run
in which nothing failed, ``remember`` writes the plan's keys to ``<home>/replay/<fingerprint>.json``,
where the fingerprint covers everything planning reads — the command (suite name or file, ``--include``
folders, home, database URL), the source and YAML of planeval's packages, the suite file and included
YAML, and the plug-ins registered through entry points. ``replay`` finds that file on the next run of the
same command, checks every stage the runner would check (each train and eval stage present and passing
the cache's fast verification, no lease held on it, its leaderboard row present) and then prints what
``planeval run`` prints. Anything else — a changed file, a missing or corrupt stage, a stage being
built, a plan that read inputs the fingerprint does not cover (local data files, pretrained folders,
Hub models), or ``PLANEVAL_REPLAY=0`` — falls back to full planning, which rebuilds what is needed.
Nothing here imports the model stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VERSION = 1
PACKAGES = ("harness", "tasks", "trainers", "leaderboard", "baselines")
SOURCE_SUFFIXES = (".py", ".yaml", ".yml")
GROUPS = (
    "planeval.tasks",
    "planeval.trainers",
    "planeval.corpus_sources",
    "planeval.variants",
    "planeval.suites",
)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file())


def fingerprint(suite: str, includes: Sequence[str], home: Path, db_url: str) -> str | None:
    """A digest of every input of planning this command; None when it cannot be known cheaply (a
    plug-in registered through an entry point: its code lives elsewhere)."""
    from importlib.metadata import entry_points

    if any(True for group in GROUPS for _ in entry_points(group=group)):
        return None
    h = hashlib.sha256(f"replay v{VERSION}\0{suite}\0{Path(home).resolve()}\0{db_url}\0".encode())
    root = Path(__file__).resolve().parents[1]
    folders = [root / p for p in PACKAGES] + [Path(d).resolve() for d in includes]
    if Path(suite).is_file():
        folders.append(Path(suite).resolve())
    for folder in folders:
        files = [folder] if folder.is_file() else _files(folder)
        for path in files:
            h.update(f"{path}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:32]


def _record_path(home: Path, digest: str) -> Path:
    return Path(home) / "replay" / f"{digest}.json"


def reads_only_code(plan: Any) -> bool:
    """Whether the plan's keys depend on nothing but code and YAML: no corpus or task data files (their
    digests are in the keys), no pretrained or Hub models, no existing path among the params."""
    if plan.suite.tokenizer.kind == "hf" or any(m.pretrained for m in plan.models):
        return False
    from harness.corpus.base import make_source

    if make_source(plan.suite.corpus, plan.source).fingerprint():
        return False
    if any(e.impl.fingerprint(e.params) for e in plan.evals):
        return False
    configs = [m.config.model_dump(mode="json") for m in plan.models if m.config is not None]
    params = [e.params.model_dump(mode="json") for e in plan.evals]
    texts = [plan.suite.model_dump_json(), json.dumps(configs, default=str), json.dumps(params, default=str)]
    return not any(_names_outside(t) for t in texts)


def _names_outside(text: str) -> bool:
    """A string value in the JSON that names a loaded model (``<loader>:…``) or an existing path."""
    from harness.loaders import split_reference

    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            return any(walk(v) for v in value.values())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        if isinstance(value, str):
            return split_reference(value) is not None or (os.sep in value and os.path.exists(value))
        return False

    return walk(json.loads(text))


def remember(digest: str | None, home: Path, plan: Any, summary: Any) -> None:
    """Keep the keys of a run in which nothing failed, for ``replay``."""
    if digest is None or summary.failed or not reads_only_code(plan):
        return
    record = {
        "version": VERSION,
        "suite": plan.suite.name,
        "train": sorted({m.train_key for m in plan.models if m.pretrained is None}),
        "eval": [e.key for e in plan.evals],
        "run_ids": [e.run_id for e in plan.evals],
        "stages": len(summary.ran) + len(summary.cached),
    }
    path = _record_path(home, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def replay(digest: str | None, home: Path, db_url: str) -> tuple[str, int, float] | None:
    """(suite name, stage count, seconds) when the last complete run of this command still stands: every stage
    verifies and every run is on the leaderboard; None: plan and run as usual."""
    start = time.perf_counter()
    if digest is None or os.environ.get("PLANEVAL_REPLAY", "").strip() == "0":  # 0: always plan
        return None
    path = _record_path(home, digest)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("version") != VERSION:
        return None
    from harness.cache import Cache

    cache = Cache(Path(home) / "cache")
    for stage in ("train", "eval"):
        for key in record[stage]:
            if cache.lease_path(stage, key).exists() or not cache.inspect(stage, key).ok:
                return None
    from leaderboard.store import Store

    store = Store(db_url)
    try:
        recorded = set(store.runs(suite=record["suite"])["run_id"])
    finally:
        store.close()
    if not set(record["run_ids"]) <= recorded:
        return None
    return record["suite"], int(record["stages"]), time.perf_counter() - start
