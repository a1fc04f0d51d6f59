"""Linear probes: a site that linearly encodes the token k ahead is decoded near perfectly at that k; a noise
site stays near the most-frequent-token baseline; site selection, splits, aggregation and the plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from _models import micro_model, sample_texts, tiny_tokenizer
from _tagger import single_thread  # noqa: F401

from harness.adapters import PlanevalLM
from harness.corpus import Corpus, Document
from harness.hf_adapter import HFCausalLM
from harness.specs import CorpusSpec
from tasks.base import TASKS, TaskContext
from tasks.probes import ProbeParams, Probes, resolve_sites, targets

PLANTED_K = 2
DIM = 48


class PlantedLM(PlanevalLM):
    """Hidden sites of a fake planner: ``layer1.pre_merge`` is a fixed random code of the token
    ``PLANTED_K`` ahead (plus a little noise), ``layer1.post_merge`` is pure noise."""

    identity = "test:planted"

    def __init__(self) -> None:
        super().__init__()
        self._tok = tiny_tokenizer()
        rng = np.random.default_rng(0)
        self.codes = rng.normal(size=(len(self._tok), DIM)).astype(np.float32)

    @property
    def tokenizer(self):
        return self._tok

    @property
    def max_length(self) -> int:
        return 512

    @property
    def prefix_token_id(self) -> int:
        return self._tok.eos_token_id

    def score_spans(self, requests, *, progress=False):
        raise NotImplementedError

    def generate(self, prompts, sampling, *, progress=False):
        raise NotImplementedError

    def hidden_sites(self) -> list[str]:
        return ["embed", "layer1.pre_merge", "layer1.post_merge"]

    def hidden_states(self, texts: Sequence[str], sites: Sequence[str]) -> dict[str, list[np.ndarray]]:
        out: dict[str, list[np.ndarray]] = {s: [] for s in sites}
        for i, text in enumerate(texts):
            ids = np.asarray(self.document_ids(text))
            rng = np.random.default_rng(i)
            ahead = np.zeros((len(ids), DIM), np.float32)
            ahead[: len(ids) - PLANTED_K] = self.codes[ids[PLANTED_K:]]
            for s in sites:
                noise = rng.normal(size=(len(ids), DIM)).astype(np.float32)
                out[s].append(ahead + 0.05 * noise if s == "layer1.pre_merge" else noise)
        return out


def _ctx(tmp_path: Path, params: ProbeParams, n_docs: int = 40) -> TaskContext:
    docs = [Document(f"d{i}", t) for i, t in enumerate(sample_texts(n_docs, seed=4, sentences=(4, 7)))]
    corpus = Corpus(spec=CorpusSpec(), train=[], val=[], test=docs)
    return TaskContext(corpus=corpus, params=params, seed=0, work_dir=tmp_path, progress=False)


def test_targets() -> None:
    t = targets(np.array([5, 6, 7, 8]), 3)
    np.testing.assert_array_equal(t, [[6, 7, 8], [7, 8, -1], [8, -1, -1], [-1, -1, -1]])


def test_planted_signal_and_noise(tmp_path: Path) -> None:
    params = ProbeParams(max_distance=3, n_docs=40, epochs=60, batch_size=256, lr=2e-2)
    task = Probes()
    assert TASKS.get("probes") is Probes
    table = task.evaluate(PlantedLM(), _ctx(tmp_path, params))
    assert set(table["site"]) == {"layer1.pre_merge", "layer1.post_merge"}  # auto: the planner sites
    m = task.aggregate(table, params)
    planted, noise = "layer1.pre_merge", "layer1.post_merge"
    assert m[f"acc@{planted}@k{PLANTED_K}"] > 0.95
    for k in (1, 2, 3):
        chance = m[f"chance@k{k}"]
        assert 0 < chance < 0.2
        assert m[f"acc@{noise}@k{k}"] < chance + 0.05
    # the same held-out tokens for every site: per (site, k) counts agree
    counts = table.groupby(["site", "k"])["n_tokens"].sum().unstack(0)
    assert (counts[planted] == counts[noise]).all()
    assert table["sample_id"].nunique() == 10  # a quarter of 40 documents held out
    assert m["acc@pre_merge"] > m["acc@post_merge"]
    assert (tmp_path / "probes_vs_distance.png").stat().st_size > 0
    assert (tmp_path / "probes_vs_layer.png").stat().st_size > 0
    # deterministic in the seed
    again = task.evaluate(PlantedLM(), _ctx(tmp_path, params))
    assert again.equals(table)


def test_site_resolution_on_a_plain_lm() -> None:
    tok = tiny_tokenizer()
    lm = HFCausalLM(micro_model(len(tok), seed=0), tok, identity="test:micro")
    assert resolve_sites(lm, "auto") == ["layer0.resid", "layer1.resid"]
    assert resolve_sites(lm, ("embed",)) == ["embed"]
    with pytest.raises(ValueError, match="has no hidden sites"):
        resolve_sites(lm, ("layer9.pre_merge",))
    assert resolve_sites(PlantedLM(), "auto") == ["layer1.pre_merge", "layer1.post_merge"]


def test_model_without_sites(tmp_path: Path) -> None:
    class NoSites(PlantedLM):
        def hidden_sites(self) -> list[str]:
            return []

    with pytest.raises(ValueError, match="exposes no probe sites"):
        Probes().evaluate(NoSites(), _ctx(tmp_path, ProbeParams()))
    assert Probes().needs(ProbeParams()) == {"hidden_sites"}  # planning keeps such models away


def test_probes_on_a_real_model(tmp_path: Path) -> None:
    """A micro GPT-2's residual streams: the pipeline runs on ``hidden_states`` of a real adapter."""
    tok = tiny_tokenizer()
    lm = HFCausalLM(micro_model(len(tok), n_positions=128, seed=0), tok, identity="test:micro")
    params = ProbeParams(max_distance=2, n_docs=8, epochs=2)
    table = Probes().evaluate(lm, _ctx(tmp_path, params, n_docs=8))
    m = Probes().aggregate(table, params)
    assert set(table["site"]) == {"layer0.resid", "layer1.resid"} and set(table["layer"]) == {0, 1}
    assert 0 <= m["acc"] <= 1 and {"acc@k1", "acc@k2", "acc@layer0.resid@k1"} <= set(m)
    # the first 10 positions of each document, with targets beyond them: 10 tokens at every distance
    capped = ProbeParams(max_distance=2, n_docs=8, epochs=2, max_tokens=10, max_classes=3)
    small = Probes().evaluate(lm, _ctx(tmp_path, capped, n_docs=8))
    assert (small["n_tokens"] == 10).all()
    # three predictable tokens: accuracy cannot beat their share of the held-out targets
    assert Probes().aggregate(small, capped)["acc"] <= 0.6
