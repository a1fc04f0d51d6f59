"""Sentence splitting with spaCy's rule-based sentencizer: no model download, so it works offline.

Line breaks are hard boundaries by default: the sentencizer alone glues a heading or the end of a
paragraph (e.g. WikiText's ``= = History = =`` lines) to the next sentence, which would give writing
actions that mix two units. Text without line breaks (the synthetic corpus) is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import spacy
from spacy.language import Language

_MAX_LENGTH = 50_000_000  # a blank pipeline + sentencizer needs no per-character model memory


@lru_cache(maxsize=1)
def sentencizer() -> Language:
    """The cached ``spacy.blank("en")`` pipeline with only the ``sentencizer`` component."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = _MAX_LENGTH
    return nlp


def _units(text: str, by_line: bool) -> list[str]:
    if not by_line:
        return [text] if text.strip() else []
    return [line for line in text.splitlines() if line.strip()]


def split_sentences(text: str, *, by_line: bool = True) -> list[str]:
    """The sentences of ``text``, stripped, empty ones dropped."""
    return split_sentences_batch([text], by_line=by_line)[0]


def split_sentences_batch(
    texts: Iterable[str], *, by_line: bool = True, batch_size: int = 256
) -> list[list[str]]:
    """``split_sentences`` for many texts at once through ``nlp.pipe`` (several times faster)."""
    texts = list(texts)
    units: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        for unit in _units(text, by_line):
            units.append(unit)
            owner.append(i)
    out: list[list[str]] = [[] for _ in texts]
    for i, doc in zip(owner, sentencizer().pipe(units, batch_size=batch_size), strict=True):
        out[i].extend(s for s in (span.text.strip() for span in doc.sents) if s)
    return out
