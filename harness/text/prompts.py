"""Held-out prefix / true-continuation pairs for the generation tasks (ROUGE now; action edit
distance and MAUVE later), so every task cuts the same documents at the same places.

A document is cut right after a sentence end: the prefix is the text up to and including that
sentence, the rest (starting with its whitespace) is the true continuation. The cut is the first
sentence end whose prefix has at least ``min_prefix_tokens`` tokens; a document whose rest then has
fewer than ``max(lengths)`` tokens is skipped, so every prompt has a true continuation of every
length. The true continuation at length L is ``decode(encode(rest)[:L])`` — the same tokenizer
decodes the model's first L generated tokens, so both sides of a comparison are L tokens long.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.corpus import Document

log = logging.getLogger(__name__)

Encode = Callable[[str], list[int]]
Decode = Callable[[Sequence[int]], str]
SentencesOf = Callable[[Document], Sequence[str]]


@dataclass(frozen=True)
class Prompt:
    sample_id: str  # the document's id
    prefix_text: str
    continuation_ids: tuple[int, ...]  # the first max(lengths) tokens of the rest of the document
    continuation_texts_by_length: dict[int, str] = field(hash=False)


@dataclass(frozen=True)
class PromptSelection:
    """The prompts, plus the documents looked at and passed over (too short for the lengths)."""

    prompts: list[Prompt]
    skipped: list[str]  # ids of documents that had no valid cut
    n_requested: int

    def summary(self) -> str:
        return (
            f"{len(self.prompts)} of {self.n_requested} requested prompts; "
            f"{len(self.skipped)} documents skipped (no sentence end with enough tokens on both sides)"
        )


def default_sentences(doc: Document) -> Sequence[str]:
    """The document's own sentences when its source knows them, else spaCy's sentencizer."""
    if doc.sentences is not None:
        return doc.sentences
    from harness.sentences import split_sentences  # spaCy is slow to import: only when needed

    return split_sentences(doc.text)


def sentence_ends(text: str, sentences: Sequence[str]) -> list[int]:
    """Character offsets just after each sentence, found in order in ``text``. A sentence that is
    not a verbatim substring (a source that normalised whitespace) gives no boundary; the search
    goes on after the last one found."""
    ends: list[int] = []
    pos = 0
    for sent in sentences:
        s = sent.strip()
        if not s:
            continue
        i = text.find(s, pos)
        if i < 0:
            continue
        pos = i + len(s)
        ends.append(pos)
    return ends


def cut_document(
    doc: Document,
    encode: Encode,
    min_prefix_tokens: int,
    min_rest_tokens: int,
    sentences_of: SentencesOf = default_sentences,
) -> tuple[str, list[int]] | None:
    """``(prefix_text, rest_ids)`` at the first sentence end with ≥ ``min_prefix_tokens`` prefix
    tokens, or ``None`` when that leaves fewer than ``min_rest_tokens`` tokens (or none qualifies)."""
    text = doc.text
    for end in sentence_ends(text, sentences_of(doc)):
        if len(text) - end == 0:
            return None
        prefix = text[:end]
        if len(encode(prefix)) < min_prefix_tokens:
            continue
        rest_ids = encode(text[end:])
        # a later cut only shortens the rest, so the first qualifying end decides
        return (prefix, rest_ids) if len(rest_ids) >= min_rest_tokens else None
    return None


def continuation_prompts(
    docs: Sequence[Document],
    encode: Encode,
    decode: Decode,
    *,
    n_prompts: int,
    min_prefix_tokens: int,
    lengths: Sequence[int],
    seed: int,
    sentences_of: SentencesOf = default_sentences,
) -> PromptSelection:
    """Up to ``n_prompts`` prompts from documents drawn in a seeded order (the same seed gives the
    same documents, independent of the model); documents without a valid cut are skipped."""
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be positive token counts, got {list(lengths)}")
    longest = max(lengths)
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    prompts: list[Prompt] = []
    skipped: list[str] = []
    for i in order:
        if len(prompts) == n_prompts:
            break
        doc = docs[i]
        cut = cut_document(doc, encode, min_prefix_tokens, longest, sentences_of)
        if cut is None:
            skipped.append(doc.id)
            continue
        prefix, rest_ids = cut
        cont = rest_ids[:longest]
        prompts.append(
            Prompt(
                sample_id=doc.id,
                prefix_text=prefix,
                continuation_ids=tuple(cont),
                continuation_texts_by_length={int(n): decode(cont[:n]) for n in sorted(set(lengths))},
            )
        )
    selection = PromptSelection(prompts, skipped, n_prompts)
    if skipped or len(prompts) < n_prompts:
        log.warning("continuation prompts: %s", selection.summary())
    return selection
