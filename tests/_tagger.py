"""Shared fixtures for the generation-metric tests: a small synthetic corpus, a writing-action tagger and a
micro GPT-2 adapter, built once per test session.

The tagger is an ``ActionTagger`` with random (seeded) centroids and the real packaged sentence encoder;
the corpus documents carry their *planted* actions as precomputed ``DocActions`` (what the actions stage
stores), so only generated texts go through the encoder — a few dozen sentences per test.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from _models import micro_model, tiny_tokenizer

from harness.actions import ActionTagger, DocActions
from harness.corpus import Corpus, build_corpus
from harness.hf_adapter import HFCausalLM
from harness.specs import CorpusSpec

ENCODER_DIM = 384  # all-MiniLM-L6-v2


@lru_cache(maxsize=1)
def synthetic_corpus() -> Corpus:
    """60 planted-plan articles, a fifth each for validation and test."""
    spec = CorpusSpec(source="synthetic", params={"n_articles": 60}, val_fraction=0.2, test_fraction=0.2)
    return build_corpus(spec)


@lru_cache(maxsize=1)
def planted_tagger() -> ActionTagger:
    """Random unit centroids, one per planted action type; corpus documents tagged with their planted ids."""
    corpus = synthetic_corpus()
    k = int(corpus.n_actions or 8)
    centroids = np.random.default_rng(0).normal(size=(k, ENCODER_DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    docs = {}
    for split in ("train", "val", "test"):
        for d in corpus.split(split):
            sents = list(d.sentences or ())
            docs[d.id] = DocActions(
                sents, np.zeros((len(sents), ENCODER_DIM), np.float32), np.asarray(d.actions, dtype=np.int64)
            )
    return ActionTagger(centroids, corpus=docs)


def micro_lm(seed: int = 1, identity: str = "test:micro") -> HFCausalLM:
    tok = tiny_tokenizer()
    return HFCausalLM(micro_model(len(tok), n_positions=128, seed=seed), tok, identity=identity, batch_size=8)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Torch (and faiss) on one thread for the module. On this shared 2-core machine, under load, the
    two OpenMP threads of a small op spin against each other: a 2100×48 probe epoch took 40× longer
    with 2 threads than with 1, micro-model generation ~10×. Results do not depend on it."""
    import faiss
    import torch

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    faiss.omp_set_num_threads(before[1])
