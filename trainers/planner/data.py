"""Training examples for the planner family: per document its token ids, the sentence each position
is conditioned on, the sentence embeddings and the k-means (oracle) action ids.

Batches are a function of ``(seed, step)``, so a resumed run sees exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.corpus import Document
from trainers.planner.alignment import align


@dataclass
class Example:
    ids: np.ndarray  # document_ids (prefix first)
    plan_index: np.ndarray  # per position: the sentence whose action conditions it
    embeddings: torch.Tensor  # (S, d_enc)
    actions: torch.Tensor  # (S,) oracle ids


def examples(docs: Sequence[Document], tagger: Any, tokenizer: Any, prefix_id: int) -> list[Example]:
    """Align every document that has at least one sentence (the tagger's split and embeddings)."""
    out = []
    for d in docs:
        tagged = tagger.document(d.id, d.text)
        if not tagged.sentences:
            continue
        a = align(d.text, tagged.sentences, tokenizer, prefix_id)
        out.append(
            Example(
                np.asarray(a.ids, dtype=np.int64),
                a.plan_index,
                torch.from_numpy(np.asarray(tagged.embeddings, dtype=np.float32)),
                torch.from_numpy(np.asarray(tagged.actions, dtype=np.int64)),
            )
        )
    return out


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T)
    targets: torch.Tensor  # (B, T), -100 where padded
    plan_index: torch.Tensor  # (B, T) sentence index into that row's document plans
    docs: list[Example]

    def spans(self) -> list[tuple[int, int]]:
        """Per row, the first and last sentence its scored positions are conditioned on (a window of a
        long article reads a few of its sentences: only those need a plan)."""
        out = []
        for r, ex in enumerate(self.docs):
            idx = self.plan_index[r][self.targets[r] != -100]
            last = len(ex.actions)  # the row after the final sentence
            lo, hi = (int(idx.min()), int(idx.max())) if len(idx) else (0, 0)
            out.append((min(lo, last), min(hi, last)))
        return out


def sample_batch(data: Sequence[Example], batch_size: int, seq_len: int, seed: Sequence[int]) -> Batch:
    """``batch_size`` random windows of up to ``seq_len`` inputs (+1 target) from random documents."""
    rng = np.random.default_rng(list(seed))
    picks = rng.integers(0, len(data), size=batch_size)
    rows = []
    for p in picks:
        ex = data[p]
        n = len(ex.ids)
        start = int(rng.integers(0, n - seq_len)) if n > seq_len + 1 else 0
        end = min(n, start + seq_len + 1)
        rows.append((ex, start, end))
    width = max(e - s - 1 for _, s, e in rows)
    input_ids = torch.zeros(batch_size, width, dtype=torch.long)
    targets = torch.full((batch_size, width), -100, dtype=torch.long)
    plan_index = torch.zeros(batch_size, width, dtype=torch.long)
    for r, (ex, s, e) in enumerate(rows):
        k = e - s - 1
        input_ids[r, :k] = torch.from_numpy(ex.ids[s : e - 1])
        targets[r, :k] = torch.from_numpy(ex.ids[s + 1 : e])
        plan_index[r, :k] = torch.from_numpy(ex.plan_index[s : e - 1])
    return Batch(input_ids, targets, plan_index, [ex for ex, _, _ in rows])


def token_weights(sentence_weights: list[torch.Tensor], plan_index: torch.Tensor) -> torch.Tensor:
    """Per-row (S + 1, K) sentence weights gathered at each position → (B, T, K). Indices are
    clamped into the rows given: padded positions (never scored) may point outside them."""
    return torch.stack(
        [w[idx.clamp(0, len(w) - 1)] for w, idx in zip(sentence_weights, plan_index, strict=True)]
    )
