"""One model's request results, stored once per (model key, request) in the cache as a parquet table.

Generations (``harness.generation``) and token scores (``harness.scoring``) are the expensive part of
most evaluations and depend on the model and the request alone, not on how a task turns them into
metrics. So each is its own cache stage: a task version bump, a second task asking the same thing, or a
re-run after a crash reads the stored table instead of running the model again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from harness.cache import Cache

log = logging.getLogger(__name__)


def model_cache_key(model_key: str, model: Any) -> str:
    """The key a model's requests are stored under: the runner's model key, else the adapter's identity;
    empty (never stored) when neither names the model."""
    key = model_key or getattr(model, "identity", "")
    return "" if key in ("", "unknown") else key


def cached_table(
    cache: Cache | None,
    stage: str,
    key: str | None,
    manifest: dict[str, Any],
    produce: Callable[[], pd.DataFrame],
    *,
    file: str,
    read: Callable[[Path], pd.DataFrame] = pd.read_parquet,
    describe: Callable[[pd.DataFrame], dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """The table stored under ``stage/key``, or ``produce()`` it and store it atomically under the
    stage's lease (no cache or no key: just produce it). It is read back after it is written, so the
    first caller sees exactly what every later one will; ``describe`` adds manifest fields from it."""
    if cache is None or not key:
        return produce()
    if cache.exists(stage, key):
        log.info("%s %s: cached", stage, key)
        return read(cache.path(stage, key) / file)
    with cache.build(stage, key, manifest) as b:
        table = produce()
        table.to_parquet(b.dir / file, index=False)
        b.manifest.update(describe(table) if describe else {"n_rows": len(table)})
    return read(cache.path(stage, key) / file)
