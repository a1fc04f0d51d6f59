"""The corpus layer: documents from a registered source, split deterministically into train/val/test.

A source is one module in this package that registers a ``CorpusSource`` subclass under a name;
``CorpusSpec.source`` picks it and ``CorpusSpec.params`` is validated by its ``Params`` model.
"""

from __future__ import annotations

from harness.corpus.base import (
    SPLITS,
    Corpus,
    CorpusSource,
    Document,
    build_corpus,
    corpus_sources,
    load_corpus,
    save_corpus,
)

__all__ = [
    "SPLITS",
    "Corpus",
    "CorpusSource",
    "Document",
    "build_corpus",
    "corpus_sources",
    "load_corpus",
    "save_corpus",
]
