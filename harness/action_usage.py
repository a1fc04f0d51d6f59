"""Action usage: how many of the K writing actions a sequence of predictions uses.

Shared by the planner's training summary (collapse check over training) and ``plan_match``'s
``plan_entropy`` (the same check at evaluation), so both apply one definition and one threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: below this normalised entropy the planner counts as collapsed (≈ one or two actions in use)
COLLAPSE_ENTROPY = 0.2


def usage_stats(ids: Sequence[int] | np.ndarray, n_actions: int) -> dict[str, Any]:
    """Entropy (nats, and normalised by ln K), distinct actions, the top action's share, collapsed."""
    ids = np.asarray(ids, dtype=np.int64)
    counts = np.bincount(ids, minlength=n_actions).astype(float) if ids.size else np.zeros(n_actions)
    total = counts.sum()
    p = counts[counts > 0] / total if total else np.zeros(0)
    entropy = float(-(p * np.log(p)).sum()) if p.size else 0.0
    norm = entropy / math.log(n_actions) if n_actions > 1 else 0.0
    return {
        "n_predictions": int(total),
        "n_actions": int(n_actions),
        "distinct": int((counts > 0).sum()),
        "top_share": float(counts.max() / total) if total else 0.0,
        "entropy": entropy,
        "entropy_norm": norm,
        "collapsed": bool(total) and norm < COLLAPSE_ENTROPY,
    }
