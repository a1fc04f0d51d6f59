"""Token ↔ sentence alignment (docs/actions.md).

Each token carries the action of its own sentence, except the last token of a sentence, which
carries the next sentence's action: the hidden state at position t predicts token t+1, so it is
conditioned on the plan of the sentence that token t+1 belongs to. Over ``document_ids`` (the prefix
token first) that is: position t uses sentence ``own[t + 1]``; the last position uses the sentence
after its own (the plan for what would come next).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def sentence_starts(text: str, sentences: Sequence[str]) -> list[int]:
    """Character offset of each sentence in ``text`` (sentences in order, as the splitter gives them)."""
    starts, at = [], 0
    for i, s in enumerate(sentences):
        found = text.find(s, at)
        if found < 0:
            raise ValueError(f"sentence {i} ({s[:40]!r}) is not in the text after offset {at}")
        starts.append(found)
        at = found + len(s)
    return starts


@dataclass(frozen=True)
class Alignment:
    ids: list[int]  # document_ids: the prefix token, then the text's tokens
    plan_index: np.ndarray  # (len(ids),) the sentence whose action conditions each input position
    n_sentences: int


def token_anchor(text: str, start: int, end: int) -> int:
    """The character that decides a token's sentence: its last one, or — for a whitespace-only token
    between sentences — the first character after it (it belongs to the sentence it introduces, as a
    leading-space token like " The" does)."""
    return end - 1 if text[start:end].strip() else end


def plan_positions(anchors: Sequence[int], starts: Sequence[int], complete: bool = True) -> np.ndarray:
    """Per position of ``[prefix] + tokens`` the sentence whose action conditions it, from each
    token's anchor character and the sentence start offsets. ``complete=False`` says the text stops
    inside its last sentence, so its last token keeps that sentence's action."""
    own = [-1]  # the prefix token precedes sentence 0
    for anchor in anchors:
        own.append(max(0, bisect_right(starts, max(0, anchor)) - 1) if starts else 0)
    own_arr = np.asarray(own, dtype=np.int64)
    plan = np.empty_like(own_arr)
    plan[:-1] = own_arr[1:]
    plan[-1] = own_arr[-1] + (1 if complete else 0)
    return np.maximum(plan, 0)


def align(
    text: str, sentences: Sequence[str], tokenizer: Any, prefix_id: int, complete: bool = True
) -> Alignment:
    """The document's ids and, for every position, which sentence's action it is conditioned on
    (``n_sentences`` at the last position means "the sentence after the last")."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    anchors = [token_anchor(text, a, b) for a, b in enc["offset_mapping"]]
    plan = plan_positions(anchors, sentence_starts(text, sentences), complete)
    return Alignment([prefix_id, *enc["input_ids"]], plan, len(sentences))
