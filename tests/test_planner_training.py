"""The planner trainers end to end on micro pieces: NAP pretraining beats its baselines on a corpus
with a learnable plan, and a killed fine-tuning run resumes to exactly the uninterrupted result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _models import micro_model, tiny_tokenizer
from safetensors.torch import load_file

from harness.actions import ActionTagger, DocActions
from harness.corpus import Corpus, Document
from harness.specs import CorpusSpec, VariantSpec
from trainers.base import TrainContext
from trainers.checkpointing import TrainingInterrupted
from trainers.planner.nap import NAPConfig, NAPTrainer
from trainers.planner.trainer import PlannerConfig, PlannerTrainer

K, D = 4, 8


def _corpus_and_tagger(n_docs: int = 60) -> tuple[Corpus, ActionTagger]:
    """Documents whose action sequence is a fixed cycle 0→1→2→3→0 with a random start: the next
    action is a function of the current one (NAP can reach 100%; the majority class gets ~25%)."""
    rng = np.random.default_rng(0)
    centroids = np.eye(K, D, dtype=np.float32) * 3
    words = ["Alpha river runs.", "Bravo stone sits.", "Charlie city grows.", "Delta plan ends."]
    docs, tagged = {"train": [], "val": [], "test": []}, {}
    for i in range(n_docs):
        start, n = int(rng.integers(0, K)), int(rng.integers(3, 7))
        acts = [(start + j) % K for j in range(n)]
        sents = [words[a] for a in acts]
        split = "train" if i < n_docs * 0.7 else ("val" if i < n_docs * 0.85 else "test")
        d = Document(id=f"d{i}", text=" ".join(sents), sentences=tuple(sents), actions=tuple(acts))
        docs[split].append(d)
        emb = centroids[acts] + rng.normal(0, 0.1, (n, D)).astype(np.float32)
        tagged[d.id] = DocActions(sents, emb, np.asarray(acts))
    corpus = Corpus(spec=CorpusSpec(), n_actions=K, **docs)
    return corpus, ActionTagger(centroids, "unused", corpus=tagged)


def _ctx(tmp: Path, cfg, corpus, tagger, variant: str, inputs: dict | None = None) -> TrainContext:
    out = tmp / f"{variant}-out"
    out.mkdir(parents=True, exist_ok=True)
    return TrainContext(
        variant=VariantSpec(name=variant, family="planner", trainer=variant),
        config=cfg,
        seed=0,
        corpus=corpus,
        tokenizer=tiny_tokenizer(),
        out_dir=out,
        checkpoint_dir=tmp / f"{variant}-ckpt",
        progress=False,
        inputs=inputs or {},
        log=lambda _: None,
        artifacts={"actions": tagger},
    )


def test_nap_pretraining_beats_the_majority_baseline(tmp_path: Path) -> None:
    corpus, tagger = _corpus_and_tagger()
    cfg = NAPConfig(max_steps=150, batch_size=8, lr=3e-3, arch={"max_sentences": 8})
    ctx = _ctx(tmp_path, cfg, corpus, tagger, "nap")
    NAPTrainer().train(ctx)
    info = __import__("json").loads((ctx.out_dir / "nap.json").read_text())
    assert info["majority_accuracy"] < 0.5
    assert info["bigram_accuracy"] > 0.7  # the cycle is a bigram process (first action is random)
    assert info["val_accuracy"] > info["majority_accuracy"] + 0.3


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    path = tmp_path / "base" / "model"
    micro_model(len(tiny_tokenizer())).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path.parent


def test_killed_finetuning_resumes_to_the_uninterrupted_result(tmp_path: Path, base_dir: Path) -> None:
    corpus, tagger = _corpus_and_tagger(30)
    cfg = PlannerConfig(
        weights="variant:micro", selection="soft", unfreeze="halfway", nap_pretrain=False, max_steps=6,
        batch_size=4, seq_len=32, lr=1e-3, checkpoint_every=2, planner={"max_sentences": 8},
    )  # fmt: skip
    whole = _ctx(tmp_path / "a", cfg, corpus, tagger, "whole", {"weights": base_dir})
    PlannerTrainer().train(whole)
    killed = _ctx(tmp_path / "b", cfg, corpus, tagger, "killed", {"weights": base_dir})
    with pytest.raises(TrainingInterrupted):
        PlannerTrainer(stop_after=4).train(killed)
    PlannerTrainer().train(killed)  # resumes from the step-4 checkpoint
    a = load_file(str(whole.out_dir / "planner.safetensors"))
    b = load_file(str(killed.out_dir / "planner.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    summary = __import__("json").loads((killed.out_dir / "training.json").read_text())
    assert summary["resumed_from_step"] == 4 and summary["unfrozen_at_step"] == 3
    model = PlannerTrainer().load(killed.out_dir, "test")
    model.embedder = (
        lambda sents, progress=False: (
            np.stack(  # the artifact's encoder is a stand-in
                [tagger.corpus[d.id].embeddings[0] for d in corpus.train[: len(sents)]]
            )
            if sents
            else np.zeros((0, D), np.float32)
        )
    )
    assert model.token_logprobs([corpus.test[0].text])[0].shape[0] > 0
