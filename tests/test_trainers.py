"""The plain-LM and unigram trainers, and checkpointing: learning, round trips, exact resume."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from _models import micro_model, sample_texts, tiny_tokenizer
from accelerate.utils import set_seed
from pydantic import ValidationError
from safetensors.torch import load_file

from harness.corpus import Corpus, Document
from harness.sampling import Sampling
from harness.specs import CorpusSpec, VariantSpec
from trainers.base import TRAINERS, TrainContext
from trainers.checkpointing import (
    TrainingInterrupted,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from trainers.lm import LMConfig, PlainLMTrainer, build_model, eval_loss, token_stream
from trainers.unigram import UnigramConfig, UnigramLM, UnigramTrainer


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    def docs(split: str, n: int, seed: int) -> list[Document]:
        return [Document(id=f"{split}{i}", text=t) for i, t in enumerate(sample_texts(n, seed=seed))]

    return Corpus(
        spec=CorpusSpec(), train=docs("train", 60, 1), val=docs("val", 8, 2), test=docs("test", 8, 3)
    )


def context(tmp_path: Path, name: str, config, corpus: Corpus, tokenizer, trainer: str = "lm", log=None):
    out = tmp_path / name / "out"
    out.mkdir(parents=True, exist_ok=True)
    return TrainContext(
        variant=VariantSpec(name=name, family="test", trainer=trainer),
        config=config,
        seed=3,
        corpus=corpus,
        tokenizer=tokenizer,
        out_dir=out,
        checkpoint_dir=tmp_path / name / "ckpt",
        progress=False,
        log=log if log is not None else (lambda s: None),
    )


MICRO = dict(weights="preset:micro", batch_size=4, seq_len=32, lr=3e-3, warmup_steps=2, dropout=0.1)


def test_registered() -> None:
    assert TRAINERS.get("lm") is PlainLMTrainer
    assert TRAINERS.get("unigram") is UnigramTrainer


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="unknown preset"):
        LMConfig(weights="preset:huge")
    with pytest.raises(ValidationError, match="cannot override"):
        LMConfig(weights="hf:gpt2", n_layer=3)
    with pytest.raises(ValidationError, match="extra"):
        LMConfig(weights="preset:micro", learning_rate=1.0)
    assert LMConfig(weights="preset:micro", n_positions=96).architecture()["n_positions"] == 96


def test_lm_learns_and_round_trips(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    cfg = LMConfig(max_steps=20, checkpoint_every=10, **MICRO)
    ctx = context(tmp_path, "learn", cfg, corpus, tokenizer)
    trainer = PlainLMTrainer()
    trainer.train(ctx)
    summary = json.loads((ctx.out_dir / "training.json").read_text())
    assert summary["steps"] == 20 and summary["tokens_per_s"] > 0 and summary["val_loss"] is not None

    # loss decreases: the trained model beats its own initialisation on held-out windows
    set_seed(ctx.seed)
    initial, _ = build_model(cfg, tokenizer)
    val = token_stream(corpus.val, tokenizer)
    lm = trainer.load(ctx.out_dir, identity="test:learn")
    before = eval_loss(initial, val, 32, 8, 0, 2)
    after = eval_loss(lm.model, val, 32, 8, 0, 2)
    assert after < before - 0.5, (before, after)
    assert summary["val_loss"] < before

    # the artifact holds exactly the last checkpoint's weights, and save → load keeps the logits
    ckpt = load_file(str(latest_checkpoint(ctx.checkpoint_dir) / "model.safetensors"))
    state = lm.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ckpt.items())
    lm.model.save_pretrained(tmp_path / "again", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "again")
    (tmp_path / "wrapped").mkdir()
    (tmp_path / "again").rename(tmp_path / "wrapped" / "model")
    again = trainer.load(tmp_path / "wrapped", identity="test:again")
    ids = torch.tensor([lm.document_ids(corpus.test[0].text)[:64]])
    with torch.no_grad():
        assert torch.equal(lm.model(ids).logits, again.model(ids).logits)
    assert lm.tokenizer.get_vocab() == again.tokenizer.get_vocab()
    assert lm.max_length == 64 and lm.prefix_token_id == tokenizer.eos_token_id


def test_kill_and_resume_is_bit_exact(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    """A run stopped between checkpoints (as a kill would: the steps after the last checkpoint are
    lost) and resumed ends with the same weights as an uninterrupted run."""
    cfg = LMConfig(max_steps=12, checkpoint_every=4, **MICRO)
    whole = context(tmp_path, "whole", cfg, corpus, tokenizer)
    PlainLMTrainer().train(whole)

    logs: list[str] = []
    killed = context(tmp_path, "killed", cfg, corpus, tokenizer, log=logs.append)
    with pytest.raises(TrainingInterrupted):
        PlainLMTrainer(stop_after=6).train(killed)
    assert [p.name for p in list_checkpoints(killed.checkpoint_dir)] == ["step-00000004"]
    assert not (killed.out_dir / "model").exists()
    random.seed(999)  # disturb every RNG in between, as a new process would
    np.random.seed(999)
    torch.manual_seed(999)
    PlainLMTrainer().train(killed)
    assert any("resuming from step-00000004" in line for line in logs)

    a = load_file(str(whole.out_dir / "model" / "model.safetensors"))
    b = load_file(str(killed.out_dir / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa = json.loads((whole.out_dir / "training.json").read_text())
    sb = json.loads((killed.out_dir / "training.json").read_text())
    assert sa["final_train_loss"] == sb["final_train_loss"] and sa["val_loss"] == sb["val_loss"]
    assert sb["resumed_from_step"] == 4
    # only the newest two checkpoints are kept
    assert [p.name for p in list_checkpoints(killed.checkpoint_dir)] == ["step-00000008", "step-00000012"]


def test_checkpoint_restores_state_and_rng(tmp_path: Path, tokenizer) -> None:
    model = micro_model(len(tokenizer), seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    loss = model(torch.tensor([[1, 2, 3, 4]]), labels=torch.tensor([[1, 2, 3, 4]])).loss
    loss.backward()
    opt.step()
    sched.step()
    # a killed writer's leftover (pid beyond Linux's pid_max: dead); a live process's would be kept
    (tmp_path / "ck" / ".tmp-step-00000001-99999999-abcdef").mkdir(parents=True)
    path = save_checkpoint(tmp_path / "ck", 1, model=model, optimizer=opt, scheduler=sched, extra={"x": 1})
    assert not list((tmp_path / "ck").glob(".tmp-*"))
    draws = (random.random(), np.random.rand(), torch.rand(3))

    other = micro_model(len(tokenizer), seed=1)
    opt2 = torch.optim.AdamW(other.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0 / (1 + s))
    state = load_checkpoint(path, model=other, optimizer=opt2, scheduler=sched2)
    assert state == {"step": 1, "extra": {"x": 1}}
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True)
    )
    assert sched2.last_epoch == 1 and opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert draws[:2] == again[:2] and torch.equal(draws[2], again[2])
    for step in (2, 3):
        save_checkpoint(tmp_path / "ck", step, model=model)
    assert [p.name for p in list_checkpoints(tmp_path / "ck")] == ["step-00000002", "step-00000003"]
    assert latest_checkpoint(tmp_path / "nothing") is None


# -- unigram ---------------------------------------------------------------------------------------


def test_unigram_matches_hand_counts(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    alpha = 0.5
    ctx = context(tmp_path, "uni", UnigramConfig(alpha=alpha), corpus, tokenizer, trainer="unigram")
    trainer = UnigramTrainer()
    trainer.train(ctx)
    lm = trainer.load(ctx.out_dir, identity="test:uni")
    assert isinstance(lm, UnigramLM)

    counts = Counter(
        t for d in corpus.train for t in tokenizer(d.text, add_special_tokens=False)["input_ids"]
    )
    n, vocab = sum(counts.values()), len(tokenizer)
    assert np.exp(lm.logp).sum() == pytest.approx(1.0, abs=1e-12)
    text = corpus.test[0].text
    want = [np.log((counts[t] + alpha) / (n + alpha * vocab)) for t in lm.encode(text)]
    np.testing.assert_allclose(lm.token_logprobs([text], mode="rolling")[0], want, rtol=1e-12)
    np.testing.assert_allclose(lm.token_logprobs([text], mode="paper", window=8)[0], want, rtol=1e-12)
    unseen = next(v for v in range(vocab) if counts[v] == 0)
    assert lm.logp[unseen] == pytest.approx(np.log(alpha / (n + alpha * vocab)))


def test_unigram_generation(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    ctx = context(tmp_path, "unigen", UnigramConfig(), corpus, tokenizer, trainer="unigram")
    UnigramTrainer().train(ctx)
    lm = UnigramTrainer().load(ctx.out_dir, identity="test:unigen")
    a = lm.generate(["x", "y"], Sampling(max_new_tokens=40, seed=1))
    assert [g.token_ids for g in a] == [
        g.token_ids for g in lm.generate(["x", "y"], Sampling(max_new_tokens=40, seed=1))
    ]
    assert a[0].token_ids != a[1].token_ids
    assert a[0].text == tokenizer.decode(a[0].token_ids, skip_special_tokens=True)
    greedy = lm.generate([""], Sampling(max_new_tokens=5, temperature=0))[0]
    assert greedy.token_ids == [int(np.argmax(lm.logp))] * 5
    top1 = lm.distribution(1.0, top_k=1, top_p=None)
    assert top1.max() == 1.0
    nucleus = lm.distribution(1.0, top_k=None, top_p=0.5)
    kept = np.sort(np.exp(lm.logp))[::-1][: (nucleus > 0).sum()]
    assert kept.sum() >= 0.5 and kept[:-1].sum() < 0.5
    stop = a[0].text[5:8]
    cut = lm.generate(["x"], Sampling(max_new_tokens=40, seed=1, stop=[stop]))[0]
    assert cut.text == a[0].text[: a[0].text.find(stop)] and cut.meta["finish"] == "stop"


def test_fine_tunes_a_pretrained_folder_and_switches_precision(
    tmp_path: Path, corpus: Corpus, tokenizer
) -> None:
    """``weights: hf:<path>`` starts from the saved weights (with their tokenizer); a bf16 run after an
    fp32 one in the same process gets a fresh accelerator configuration."""
    base = micro_model(len(tokenizer), n_positions=64, seed=4)
    base.save_pretrained(tmp_path / "base", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "base")
    cfg = LMConfig(weights=f"hf:{tmp_path / 'base'}", max_steps=3, batch_size=2, seq_len=16, lr=1e-3)
    ctx = context(tmp_path, "ft", cfg, corpus, tokenizer)
    PlainLMTrainer().train(ctx)
    tuned = PlainLMTrainer().load(ctx.out_dir, identity="test:ft").model
    changed = [k for k, v in base.state_dict().items() if not torch.equal(v, tuned.state_dict()[k])]
    assert changed and tuned.config.n_embd == 32

    bf16 = LMConfig(max_steps=2, checkpoint_every=2, mixed_precision="bf16", **MICRO)
    ctx = context(tmp_path, "bf16", bf16, corpus, tokenizer)
    PlainLMTrainer().train(ctx)
    assert json.loads((ctx.out_dir / "training.json").read_text())["final_train_loss"] > 0


def test_window_longer_than_the_context_is_refused(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    from harness.errors import PlanevalError

    ctx = context(
        tmp_path, "long", LMConfig(weights="preset:micro", seq_len=128, max_steps=1), corpus, tokenizer
    )
    with pytest.raises(PlanevalError, match="exceeds the model's context of 64"):
        PlainLMTrainer().train(ctx)


def test_unigram_fixed_length_never_draws_eos(tokenizer) -> None:
    """EOS dominates the counts: by default texts end at once; ``stop_at_eos=False`` never draws it."""
    counts = np.ones(len(tokenizer))
    counts[tokenizer.eos_token_id] = 1e6
    lm = UnigramLM(counts, alpha=1.0, tokenizer=tokenizer, identity="test:eos")
    assert lm.generate(["x"], Sampling(max_new_tokens=20, seed=0))[0].meta["finish"] == "eos"
    fixed = lm.generate(["x", "y"], Sampling(max_new_tokens=20, seed=0, stop_at_eos=False))
    assert all(len(g.token_ids) == 20 and tokenizer.eos_token_id not in g.token_ids for g in fixed)


def test_fingerprint_follows_local_starting_weights(tmp_path: Path, tokenizer) -> None:
    """Fine-tuning from a local folder: new weights there give a new fingerprint (so a new model key)."""
    cfg = LMConfig(weights=f"hf:{tmp_path / 'base'}", max_steps=3)
    micro_model(len(tokenizer), n_positions=64, seed=1).save_pretrained(tmp_path / "base")
    first = PlainLMTrainer().fingerprint(cfg)
    micro_model(len(tokenizer), n_positions=64, seed=2).save_pretrained(tmp_path / "base")
    assert first and PlainLMTrainer().fingerprint(cfg) != first
    assert PlainLMTrainer().fingerprint(LMConfig(**MICRO)) == ""
