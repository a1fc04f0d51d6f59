"""Non-finite values are errors, never numbers.

A model whose outputs are NaN or inf must not get a perplexity (pandas sums skip NaN, so a NaN model
would score a perfect 1.0 and rank first), and a training run whose loss has diverged must stop rather
than write NaN weights. These checks run in the engine, so no task or trainer can forget them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


class NonFiniteError(RuntimeError):
    """A per-sample score, an aggregate or a training loss is NaN or infinite."""


def nonfinite_counts(samples: pd.DataFrame, allow: Iterable[str] = ()) -> dict[str, int]:
    """Non-finite cells per numeric column (NaN, +inf, -inf), leaving out the ``allow``-ed columns."""
    skip = set(allow)
    out: dict[str, int] = {}
    for col in samples.columns:
        if col in skip:
            continue
        values = samples[col]
        if values.dtype == object:
            values = values.map(lambda v: v if isinstance(v, float) else 0.0).astype(float)
        elif not (pd.api.types.is_float_dtype(values) or pd.api.types.is_complex_dtype(values)):
            continue
        bad = int((~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))).sum())
        if bad:
            out[str(col)] = bad
    return out


def check_samples(samples: pd.DataFrame, what: str, allow: Iterable[str] = ()) -> None:
    """Raise naming ``what`` (task × variant) and how many samples hold a non-finite score."""
    counts = nonfinite_counts(samples, allow)
    if not counts:
        return
    numeric = [c for c in counts]
    bad_rows = int(
        (~np.isfinite(samples[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)))
        .any(axis=1)
        .sum()
    )
    cols = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items()))
    raise NonFiniteError(
        f"{what}: {bad_rows} of {len(samples)} samples have non-finite scores ({cols}); "
        "the model produced NaN/inf outputs, so no metric is computed from them"
    )


def check_metrics(values: Mapping[str, float], what: str) -> None:
    """Raise when an aggregate is non-finite (e.g. a ratio over zero samples)."""
    bad = {k: v for k, v in values.items() if not _finite(v)}
    if bad:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(bad.items()))
        raise NonFiniteError(f"{what}: non-finite aggregate {shown}; not recorded as a result")


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
