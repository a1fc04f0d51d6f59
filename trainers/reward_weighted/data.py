"""Training pairs (source → reference) for the two settings, and their padded batches.

* ``continuation``: held-out-style prefix / true-continuation pairs cut from the TRAINING split with the
  very function the ``rouge`` task uses on the test split (``harness.text.prompts.continuation_prompts``): the
  prefix ends at a sentence end, the target is the next ``target_tokens`` tokens.
* ``summarization``: documents of a ``pairs`` corpus; the source is
  ``harness.text.summarization.summary_prompt``
  (the task's own prompt), the target the reference summary followed by end-of-text, so the policy
  learns where a summary stops.

Sources carry the prefix token in front (as ``HFCausalLM`` generates) and are cut from the left when
source + target would not fit the model's context; the target is never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.corpus import Document
from harness.errors import PlanevalError
from harness.text.prompts import continuation_prompts
from harness.text.summarization import summary_prompt
from trainers.lm import prefix_id


@dataclass(frozen=True)
class Example:
    id: str
    source_ids: tuple[int, ...]  # what the policy conditions on (prefix token first)
    target_ids: tuple[int, ...]  # the supervised target (true continuation or reference summary)
    reference: str  # the target as text: what sampled candidates are ranked against


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_source(source: Sequence[int], room: int) -> tuple[int, ...]:
    """The last ``room`` tokens of the source (all of it when it fits)."""
    if room < 1:
        raise PlanevalError(f"no room left for the source ({room} tokens): shorten the target")
    return tuple(source[-room:])


def continuation_examples(
    docs: Sequence[Document],
    tokenizer: Any,
    *,
    min_prefix_tokens: int,
    target_tokens: int,
    max_len: int,
    seed: int,
    limit: int | None = None,
) -> list[Example]:
    """Prefix → next ``target_tokens`` tokens of every usable document (cut as the ``rouge`` task cuts)."""
    selection = continuation_prompts(
        docs,
        lambda t: _encode(tokenizer, t),
        lambda ids: tokenizer.decode(list(ids)),
        n_prompts=limit or len(docs),
        min_prefix_tokens=min_prefix_tokens,
        lengths=[target_tokens],
        seed=seed,
    )
    lead = prefix_id(tokenizer)
    out = []
    for p in selection.prompts:
        source = fit_source([lead, *_encode(tokenizer, p.prefix_text)], max_len - target_tokens)
        out.append(
            Example(
                p.sample_id, source, tuple(p.continuation_ids), p.continuation_texts_by_length[target_tokens]
            )
        )
    return out


def summarization_examples(
    docs: Sequence[Document],
    tokenizer: Any,
    *,
    max_source_tokens: int,
    template: str,
    target_tokens: int,
    max_len: int,
    seed: int,
    limit: int | None = None,
    reference_key: str = "reference",
) -> list[Example]:
    """Summary prompt → reference summary (cut to ``target_tokens - 1`` tokens) + end-of-text."""
    usable = [d for d in docs if d.meta.get(reference_key)]
    if not usable:
        raise PlanevalError(
            f"summarization setting: no training document has meta[{reference_key!r}] "
            "(use a corpus source that keeps references, e.g. 'pairs')"
        )
    order = np.random.default_rng(seed).permutation(len(usable))[: limit or len(usable)]
    lead, eos = prefix_id(tokenizer), tokenizer.eos_token_id
    out = []
    for i in order:
        d = usable[int(i)]
        prompt = summary_prompt(
            d.text,
            lambda t: _encode(tokenizer, t),
            lambda ids: tokenizer.decode(list(ids)),
            max_source_tokens,
            template,
        )
        body = _encode(tokenizer, " " + str(d.meta[reference_key]).strip())[: target_tokens - 1]
        target = (*body, eos)
        source = fit_source([lead, *_encode(tokenizer, prompt)], max_len - len(target))
        out.append(Example(d.id, source, target, tokenizer.decode(body)))
    return out


@dataclass
class SeqBatch:
    """Right-padded ``source + continuation`` rows; ``scored`` marks the continuation tokens."""

    input_ids: torch.Tensor  # (B, T) int64
    attention_mask: torch.Tensor  # (B, T) int64
    scored: torch.Tensor  # (B, T) float: 1 on continuation tokens

    def to(self, device: torch.device | str) -> SeqBatch:
        return SeqBatch(self.input_ids.to(device), self.attention_mask.to(device), self.scored.to(device))


def make_batch(
    sources: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]], pad_id: int
) -> SeqBatch:
    """One right-padded row per (source, continuation). Right padding keeps GPT-2's default positions
    (0..len-1) correct; the padding sits after every scored token, so the causal mask hides it."""
    if any(len(c) == 0 for c in continuations):
        raise ValueError("every continuation needs at least one token")
    rows = [list(s) + list(c) for s, c in zip(sources, continuations, strict=True)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    scored = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, (row, s) in enumerate(zip(rows, sources, strict=True)):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
        scored[i, len(s) : len(row)] = 1.0
    return SeqBatch(ids, mask, scored)


def supervised_batch(examples: Sequence[Example], pad_id: int) -> SeqBatch:
    return make_batch([e.source_ids for e in examples], [e.target_ids for e in examples], pad_id)
