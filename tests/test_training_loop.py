"""trainers/loop.py on its own (a tiny regression model with dropout) and through NAP: hooks run in
order, a killed run resumes to the uninterrupted weights and losses, the trainer's checkpoint extra comes
back, a non-finite loss stops with its step."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from harness.corpus import Corpus
from harness.finite import NonFiniteError
from harness.specs import CorpusSpec, VariantSpec
from trainers.base import TrainContext
from trainers.checkpointing import TrainingInterrupted, list_checkpoints
from trainers.lm import make_accelerator
from trainers.loop import LoopResult, TrainingLoop


def _ctx(tmp_path: Path, name: str) -> TrainContext:
    out = tmp_path / name / "out"
    out.mkdir(parents=True, exist_ok=True)
    return TrainContext(
        variant=VariantSpec(name=name, family="test", trainer="test"),
        config=None,
        seed=0,
        corpus=Corpus(spec=CorpusSpec(), train=[], val=[], test=[]),
        tokenizer=None,
        out_dir=out,
        checkpoint_dir=tmp_path / name / "ckpt",
        progress=False,
        log=lambda s: None,
    )


def _loss(model: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Regression on a batch that is a pure function of the step (as every trainer's is)."""
    rng = np.random.default_rng([0, step])
    x = torch.from_numpy(rng.normal(size=(8, 4)).astype(np.float32))
    y = x.sum(-1, keepdim=True)
    mse = torch.nn.functional.mse_loss(model(x), y)
    return mse, {"mse": float(mse.detach()), "half": float(mse.detach()) / 2}


def _train(
    ctx: TrainContext, stop_after: int | None = None, **hooks
) -> tuple[torch.nn.Module, LoopResult, dict]:
    """A toy run of 8 steps with checkpoints every 3: (the model, the loop's result, the resumed extra)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + 0.1 * s))
    loop = TrainingLoop(
        ctx, "toy", accelerator=make_accelerator("no"), model=model, optimizer=optimizer,
        scheduler=scheduler, max_steps=8, checkpoint_every=3, grad_clip=0.5, stop_after=stop_after,
        track="half",
    )  # fmt: skip
    resumed = loop.resume()
    result = loop.run(_loss, **hooks)
    return loop.unwrapped(), result, resumed


def test_hooks_run_in_order_and_the_extra_comes_back(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "hooks")
    seen: list[tuple[str, int]] = []
    with pytest.raises(TrainingInterrupted):
        _train(
            ctx,
            stop_after=4,
            before_step=lambda step: seen.append(("before", step)),
            after_step=lambda done, loss: seen.append(("after", done)),
            checkpoint_extra=lambda done: seen.append(("checkpoint", done)) or {"mine": done},
        )
    assert seen == [
        ("before", 0), ("after", 1), ("before", 1), ("after", 2), ("before", 2), ("after", 3),
        ("checkpoint", 3), ("before", 3), ("after", 4),
    ]  # fmt: skip
    assert [p.name for p in list_checkpoints(ctx.checkpoint_dir)] == ["step-00000003"]
    _, result, resumed = _train(ctx, before_step=lambda step: seen.append(("before", step)))
    assert resumed == {"mine": 3}  # the trainer's extra, without the loop's own keys
    assert seen[-5:] == [("before", s) for s in range(3, 8)]  # the lost step 4 runs again
    assert result.start == 3 and result.summary()["resumed_from_step"] == 3
    # the tracked stat ("half") is the recorded loss
    assert result.final_loss == pytest.approx(np.mean(result.losses[-10:])) and len(result.losses) == 8


def test_a_killed_run_resumes_to_the_uninterrupted_weights_and_losses(tmp_path: Path) -> None:
    whole_model, whole, _ = _train(_ctx(tmp_path, "whole"))
    killed = _ctx(tmp_path, "killed")
    with pytest.raises(TrainingInterrupted):
        _train(killed, stop_after=5)
    random.seed(1)  # a new process: every RNG elsewhere
    np.random.seed(1)
    torch.manual_seed(1)
    model, resumed, _ = _train(killed)
    assert resumed.start == 3 and resumed.losses == whole.losses
    for a, b in zip(whole_model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert whole.summary() == {**resumed.summary(), "resumed_from_step": None}


def test_a_nonfinite_loss_stops_at_its_step(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "nan")
    model = torch.nn.Linear(2, 1)
    loop = TrainingLoop(
        ctx, "toy", accelerator=make_accelerator("no"), model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_steps=5, checkpoint_every=10,
    )  # fmt: skip
    loop.resume()

    def loss(model: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(torch.ones(1, 2)).sum()
        return (out * float("nan") if step == 2 else out), {}

    with pytest.raises(NonFiniteError, match="toy nan: training loss is nan at step 3"):
        loop.run(loss)
    assert not list_checkpoints(ctx.checkpoint_dir)


def test_nap_resumes_with_its_whole_loss_curve(tmp_path: Path) -> None:
    """NAP through the loop: a killed pretraining resumes to the same planner and the same loss curve."""
    from test_planner_training import _corpus_and_tagger
    from test_planner_training import _ctx as planner_ctx

    from trainers.planner.nap import NAPConfig, NAPTrainer

    corpus, tagger = _corpus_and_tagger(30)
    cfg = NAPConfig(max_steps=12, batch_size=4, lr=3e-3, checkpoint_every=5, arch={"max_sentences": 8})
    whole = planner_ctx(tmp_path / "a", cfg, corpus, tagger, "nap")
    NAPTrainer().train(whole)
    killed = planner_ctx(tmp_path / "b", cfg, corpus, tagger, "nap")
    with pytest.raises(TrainingInterrupted):
        NAPTrainer(stop_after=7).train(killed)
    NAPTrainer().train(killed)
    a = load_file(str(whole.out_dir / "planner.safetensors"))
    b = load_file(str(killed.out_dir / "planner.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = (json.loads((c.out_dir / "nap.json").read_text()) for c in (whole, killed))
    assert len(sa["loss_curve"]) == 12 and sa["loss_curve"] == sb["loss_curve"]
    assert sa["final_train_loss"] == sb["final_train_loss"] and sb["resumed_from_step"] == 5
