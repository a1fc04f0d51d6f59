"""Planner collapse: how many actions the planner's predictions actually use.

An unfrozen planner can drift to predicting one action for every sentence; the predicted-action rows
then carry no plan, and tables compare models that differ only by noise. The normalised entropy of the
predicted-action histogram (0: one action always, 1: all K equally) makes that visible in the training
summary, and ``plan_match``'s ``plan_entropy`` shows it at evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.action_usage import COLLAPSE_ENTROPY, usage_stats

__all__ = ["COLLAPSE_ENTROPY", "plan_usage", "usage_stats"]

_MAX_DOCS = 64


@torch.no_grad()
def plan_usage(model: Any, examples: Sequence[Any]) -> dict[str, Any]:
    """``usage_stats`` of the planner's argmax action for every sentence of (up to 64) documents.

    Runs in eval mode (no dropout, so no RNG draw: training stays bit-identical with or without it)."""
    planner = model.planner
    was_training = planner.training
    planner.eval()
    try:
        docs = [ex.embeddings for ex in examples[:_MAX_DOCS] if len(ex.embeddings)]
        logits = planner.plan_documents(docs)
        ids = torch.cat([lg[:-1].argmax(-1) for lg in logits]).cpu().numpy() if logits else []
    finally:
        planner.train(was_training)
    return usage_stats(ids, int(model.spec.n_actions))
