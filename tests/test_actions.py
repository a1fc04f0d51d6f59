"""Writing actions (docs/actions.md): the real packaged sentence encoder, sklearn k-means, and the ground
truth check that clustering recovers the synthetic corpus' planted actions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.actions import ActionsSpec, ActionTagger, cluster, fit_actions
from harness.corpus import build_corpus
from harness.specs import CorpusSpec


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(CorpusSpec(source="synthetic", params={"n_articles": 80}))


@pytest.fixture(scope="module")
def tagger(corpus) -> ActionTagger:
    return fit_actions(corpus, ActionsSpec(n_actions=32, seed=0), log=lambda _: None)


def test_discovered_actions_recover_the_planted_ones(tagger: ActionTagger) -> None:
    # 32 planted discourse roles shared by every entity kind. MiniLM embeddings cluster by topic as
    # much as by role, so recovery is partial (ARI ≈ 0.18 at 300 articles), but far above chance (≈ 0)
    assert tagger.info["ari"] > 0.1
    assert tagger.info["used_actions"] > 20


def test_tagging_text_matches_the_corpus_tags_and_is_memoised(corpus, tagger: ActionTagger) -> None:
    docs = corpus.test[:5]
    tagged = tagger.tag([d.text for d in docs])
    for d, ids in zip(docs, tagged, strict=True):
        assert ids == tagger.document(d.id).actions.tolist()
    calls = []
    model = tagger.embedder.model
    original = model.encode
    model.encode = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        tagger.tag([d.text for d in docs])  # every sentence already embedded: no encoder call
        assert calls == []
        tagger.tag(["A sentence nobody wrote before. And another one."])
        assert len(calls) == 1  # one batched call for all new sentences
    finally:
        model.encode = original


def test_save_load_round_trip(tmp_path: Path, tagger: ActionTagger, corpus) -> None:
    tagger.save(tmp_path)
    loaded = ActionTagger.load(tmp_path)
    assert np.array_equal(loaded.centroids, tagger.centroids)
    d = corpus.val[0]
    assert loaded.document(d.id).actions.tolist() == tagger.document(d.id).actions.tolist()
    assert loaded.info["ari"] == tagger.info["ari"]


def test_cluster_backends_agree_on_separated_blobs() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 8)) * 10
    x = np.concatenate([c + rng.normal(size=(50, 8)) for c in centers]).astype(np.float32)
    for algorithm in ("kmeans", "minibatch", "faiss"):
        cents, _ = cluster(x, ActionsSpec(n_actions=4, algorithm=algorithm, n_init=5))
        nearest = np.linalg.norm(cents[:, None] - centers[None], axis=-1).min(axis=0)
        assert nearest.max() < 1.0, algorithm
    with pytest.raises(ValueError, match="cannot make"):
        cluster(x[:3], ActionsSpec(n_actions=4))
