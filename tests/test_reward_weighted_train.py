"""The reward_weighted trainer end to end on micro models: Algorithm 2's schedule as it runs, the
artifact, every objective, exact resume, planning (one shared base) and config checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _models import micro_model, sample_texts, tiny_tokenizer
from pydantic import ValidationError
from safetensors.torch import load_file

from harness.adapters import PlanevalLM
from harness.catalog import SUITES
from harness.corpus import Corpus, Document
from harness.runner import plan_suite
from harness.sampling import Sampling
from harness.specs import CorpusSpec, VariantSpec
from trainers.base import TRAINERS, TrainContext
from trainers.checkpointing import TrainingInterrupted, list_checkpoints
from trainers.reward_weighted.config import RewardWeightedConfig
from trainers.reward_weighted.trainer import RewardWeightedTrainer

SMALL = dict(
    max_steps=10,
    batch_size=4,
    min_prefix_tokens=8,
    target_tokens=12,
    reward_steps=2,
    reward_first_steps=3,
    reward_batch_size=2,
    retrain_every_steps=2,
    reward_hidden=16,
    eval_prompts=3,
    checkpoint_every=4,
    lr=1e-3,
    reward_weights="preset:micro",
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A micro GPT-2 artifact laid out like the lm trainer's (``model/`` with the tokenizer)."""
    root = tmp_path_factory.mktemp("base")
    tok = tiny_tokenizer()
    micro_model(len(tok), n_positions=64).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    return root


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    def docs(split: str, n: int, seed: int) -> list[Document]:
        texts = sample_texts(n, seed=seed, sentences=(4, 8))
        return [Document(id=f"{split}{i}", text=t) for i, t in enumerate(texts)]

    return Corpus(
        spec=CorpusSpec(), train=docs("train", 30, 1), val=docs("val", 6, 2), test=docs("test", 4, 3)
    )


def _ctx(tmp_path: Path, name: str, cfg, corpus: Corpus, base: Path) -> TrainContext:
    out = tmp_path / name / "out"
    out.mkdir(parents=True, exist_ok=True)
    return TrainContext(
        variant=VariantSpec(name=name, family="reward_weighted", trainer="reward_weighted"),
        config=cfg,
        seed=0,
        corpus=corpus,
        tokenizer=tiny_tokenizer(),
        out_dir=out,
        checkpoint_dir=tmp_path / name / "ckpt",
        progress=False,
        inputs={"weights": base},
        log=lambda s: None,
    )


def test_registered_with_a_shared_base_requirement() -> None:
    assert TRAINERS.get("reward_weighted") is RewardWeightedTrainer
    req = RewardWeightedTrainer().requires(RewardWeightedConfig())
    assert req["weights"].variant == "tiny-lm"


def test_config_checks() -> None:
    with pytest.raises(ValidationError, match="unknown sequence metric"):
        RewardWeightedConfig(metric="meteor")
    with pytest.raises(ValidationError, match="article"):
        RewardWeightedConfig(template="no slot")
    with pytest.raises(ValidationError, match="k"):
        RewardWeightedConfig(k=1)
    # an action-based sequence metric requests the writing actions; the others need none
    assert RewardWeightedTrainer().artifacts(RewardWeightedConfig(metric="action_edit")) == ("actions",)
    assert RewardWeightedTrainer().artifacts(RewardWeightedConfig()) == ()


def test_wmle_run_follows_the_schedule_and_saves_a_loadable_policy(tmp_path, corpus, base) -> None:
    cfg = RewardWeightedConfig(**SMALL)
    ctx = _ctx(tmp_path, "wmle", cfg, corpus, base)
    trainer = RewardWeightedTrainer()
    trainer.train(ctx)
    info = json.loads((ctx.out_dir / "training.json").read_text())
    # initial training, then re-training after steps 2 and 4 (6 and 8 are in the second half of 10)
    assert info["retrain_after_steps"] == [2, 4]
    assert [r["after_policy_step"] for r in info["reward_rounds"]] == [0, 2, 4]
    assert [r["round"] for r in info["reward_rounds"]] == [0, 1, 2]
    assert 0 < info["reward_share"] < 1
    assert info["reward_train_seconds"] == pytest.approx(sum(r["seconds"] for r in info["reward_rounds"]))
    assert (ctx.out_dir / "reward_model" / "head.safetensors").is_file()
    model = trainer.load(ctx.out_dir, identity="test")
    assert isinstance(model, PlanevalLM)
    gen = model.generate(["The plan"], Sampling(max_new_tokens=5, seed=0, stop_at_eos=False))
    assert len(gen[0].token_ids) == 5
    # the policy moved away from the base
    start = load_file(str(base / "model" / "model.safetensors"))
    end = load_file(str(ctx.out_dir / "model" / "model.safetensors"))
    assert any(not torch.equal(start[k], end[k]) for k in start)


@pytest.mark.parametrize("objective", ["mle", "reinforce"])
def test_other_objectives(tmp_path, corpus, base, objective: str) -> None:
    cfg = RewardWeightedConfig(**{**SMALL, "max_steps": 4, "retrain": False}, objective=objective)
    ctx = _ctx(tmp_path, objective, cfg, corpus, base)
    RewardWeightedTrainer().train(ctx)
    info = json.loads((ctx.out_dir / "training.json").read_text())
    if objective == "mle":
        assert info["reward_rounds"] == [] and info["reward_share"] == 0.0
        assert not (ctx.out_dir / "reward_model").exists()
    else:
        assert [r["after_policy_step"] for r in info["reward_rounds"]] == [0]  # retrain: false
        assert info["final_policy_loss"] is not None


def test_resume_is_exact(tmp_path, corpus, base) -> None:
    cfg = RewardWeightedConfig(**{**SMALL, "max_steps": 6, "checkpoint_every": 1})
    whole = _ctx(tmp_path, "whole", cfg, corpus, base)
    RewardWeightedTrainer().train(whole)
    cut = _ctx(tmp_path, "cut", cfg, corpus, base)
    with pytest.raises(TrainingInterrupted):
        RewardWeightedTrainer(stop_after=3).train(cut)  # after the re-training at step 2
    assert list_checkpoints(cut.checkpoint_dir)
    RewardWeightedTrainer().train(cut)
    for sub in (
        "model/model.safetensors",
        "reward_model/head.safetensors",
        "reward_model/body/model.safetensors",
    ):
        a, b = load_file(str(whole.out_dir / sub)), load_file(str(cut.out_dir / sub))
        assert all(torch.equal(a[k], b[k]) for k in a), sub
    rounds = json.loads((cut.out_dir / "training.json").read_text())["reward_rounds"]
    assert [r["after_policy_step"] for r in rounds] == [0, 2]


def test_reward_suite_plans_one_shared_base() -> None:
    """Every variant of the reward suite builds on the same tiny-lm artifact (one train stage)."""
    suite = SUITES.get("reward")
    plan = plan_suite(suite)
    by_name = {m.variant.name: m for m in plan.models}
    expected = {
        "supervised-mle",
        "pg-avg",
        "pg-sum",
        "pg-max",
        "pg-min",
        "pg-seq-level",
        "pg-no-retrain",
        "pg-k2",
        "pg-k3",
        "pg-k5",
        "pg-reinforce",
    }
    assert expected <= set(by_name)
    bases = {by_name[n].requires["weights"].key for n in expected}
    assert bases == {by_name["tiny-lm"].key}
    assert by_name["pg-k3"].key == by_name["pg-avg"].key  # the same configuration: one model
    assert len({by_name[n].key for n in expected}) == len(expected) - 1
