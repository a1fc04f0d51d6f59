"""The engine's score requests: each document's per-token log-probabilities under a model, computed once
per (model key, windowing, documents) and cached as a stage of their own (``scores/<key>``).

A perplexity number is a sum over these; the forward passes are the whole cost. Keyed by the request
alone — the mode and window (``harness.windows``), the encoding, and a digest of the documents' ids and
texts — the stored table serves every task and task version that asks the same, and a re-run after a
crash. The table holds one row per document: ``sample_id`` and ``logprobs`` (float64, exactly what the
adapter returned, so sums over them are bit-identical to scoring afresh). Without a cache or a model
key, the model simply scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.adapters import PlanevalLM
from harness.hashing import stable_hash
from harness.request_cache import cached_table, model_cache_key

if TYPE_CHECKING:
    from harness.cache import Cache

#: bump when the stored table changes: it is part of every score key
SCORE_VERSION = "1"
STAGE = "scores"
FILE = "scores.parquet"


@dataclass(frozen=True)
class Scores:
    """One model's score requests, each cached per model key in ``cache``."""

    model: PlanevalLM
    cache: Cache | None = None
    model_key: str = ""
    progress: bool = False

    def token_logprobs(
        self,
        sample_ids: Sequence[str],
        texts: Sequence[str],
        *,
        mode: str,
        window: int,
        encoding: str = "plain",
    ) -> list[np.ndarray]:
        """``PlanevalLM.token_logprobs`` of ``texts``, from the cache when this model scored them so."""
        if len(sample_ids) != len(texts):
            raise ValueError(f"{len(sample_ids)} sample ids for {len(texts)} documents")
        request = {"mode": mode, "window": window, "encoding": encoding}
        mkey = model_cache_key(self.model_key, self.model)
        key = (
            stable_hash(STAGE, SCORE_VERSION, mkey, request, list(sample_ids), list(texts)) if mkey else None
        )

        def produce() -> pd.DataFrame:
            logprobs = self.model.token_logprobs(
                list(texts), mode=mode, window=window, progress=self.progress, encoding=encoding
            )
            return pd.DataFrame(
                {
                    "sample_id": list(sample_ids),
                    "logprobs": [np.asarray(lp, dtype=np.float64) for lp in logprobs],
                }
            )

        manifest = {"model_key": mkey, "request": request, "n_documents": len(texts)}
        table = cached_table(
            self.cache, STAGE, key, manifest, produce, file=FILE, read=_read, describe=_counts
        )
        return list(table["logprobs"])


def _read(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    table["logprobs"] = [np.asarray(v, dtype=np.float64) for v in table["logprobs"]]
    return table


def _counts(table: pd.DataFrame) -> dict[str, Any]:
    return {"n_rows": len(table), "n_tokens": int(sum(len(v) for v in table["logprobs"]))}
