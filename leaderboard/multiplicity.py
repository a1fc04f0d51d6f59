"""Multiple-comparison corrections for tables that show many p-values at once.

A Table 1 with a dozen rows and as many metrics makes well over a hundred comparisons: at α = 0.05 some
are "significant" by chance alone. Holm's step-down method controls the family-wise error rate (the
default); Benjamini–Hochberg controls the false discovery rate (scipy's ``false_discovery_control``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = {"holm": "Holm (family-wise error rate)", "bh": "Benjamini–Hochberg (false discovery rate)"}


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values: sort ascending, multiply the i-th smallest (0-based) by m − i, make the
    sequence non-decreasing, cap at 1. NaN p-values stay NaN and do not count in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """BH-adjusted p-values (scipy), NaN kept as NaN and left out of m."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = false_discovery_control(p[ok], method="bh")
    return out


def adjust(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise ValueError(f"unknown correction {method!r} (valid: {', '.join(METHODS)})")
