"""Next-Action-Prediction (NAP) pretraining of the planner (docs/families/planner.md): cross-entropy between
the planner's prediction from the preceding sentences and the k-means id of the next sentence.

Validation accuracy is reported next to two baselines computed on the same split, so a number means
something: the majority class and a bigram model (most frequent next action after the previous one).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from pydantic import Field
from safetensors.torch import load_file, save_file

from harness.adapters import PlanevalLM
from trainers.base import TRAINERS, TrainContext, Trainer, TrainerConfig
from trainers.lm import make_accelerator
from trainers.loop import TrainingLoop
from trainers.planner.modules import Planner


class PlannerArch(TrainerConfig):
    """The planner's shape (paper: 1 layer, 2 heads, d = the encoder's width, no dropout)."""

    d_model: int | None = Field(None, ge=8, description="None: the sentence encoder's width")
    n_layers: int = Field(1, ge=1)
    n_heads: int = Field(2, ge=1)
    max_sentences: int = Field(64, ge=1, description="preceding sentences the planner reads")
    dropout: float = Field(0.0, ge=0, lt=1)


class NAPConfig(TrainerConfig):
    arch: PlannerArch = Field(default_factory=PlannerArch)
    max_steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1, description="documents per step")
    lr: float = Field(1e-3, gt=0)
    eval_every: int = Field(0, ge=0)
    checkpoint_every: int = Field(200, ge=1)


def documents(ctx: TrainContext, split: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(sentence embeddings, action ids) of every document of a split with at least one sentence."""
    out = []
    for d in ctx.corpus.split(split):
        t = ctx.actions.document(d.id, d.text)
        if len(t.actions):
            out.append((torch.from_numpy(np.asarray(t.embeddings)), torch.from_numpy(np.asarray(t.actions))))
    return out


def nap_loss(planner: torch.nn.Module, docs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Cross-entropy of every next action. ``planner`` may be wrapped (DDP): the forward runs through
    the wrapper, so gradients are averaged across processes."""
    core: Planner = getattr(planner, "module", planner)
    context, mask, sizes = core.document_inputs([e for e, _ in docs])
    logits = torch.split(planner(context, mask), sizes)
    pred = torch.cat([lg[:-1] for lg in logits])  # the last row plans past the end: no target
    gold = torch.cat([a for _, a in docs])
    return torch.nn.functional.cross_entropy(pred, gold)


@torch.no_grad()
def nap_accuracy(
    planner: Planner, docs: Sequence[tuple[torch.Tensor, torch.Tensor]], batch: int = 64
) -> float:
    hits = total = 0
    planner.eval()
    for b in range(0, len(docs), batch):
        chunk = docs[b : b + batch]
        for lg, (_, a) in zip(planner.plan_documents([e for e, _ in chunk]), chunk, strict=True):
            hits += int((lg[:-1].argmax(-1) == a).sum())
            total += len(a)
    return hits / total if total else float("nan")


def baselines(train: Sequence[Sequence[int]], val: Sequence[Sequence[int]]) -> dict[str, float]:
    """Majority-class and bigram (previous action → most frequent next; <bos> for the first) accuracy."""
    unigram = Counter(a for seq in train for a in seq)
    majority = unigram.most_common(1)[0][0]
    follow: dict[int, Counter] = {}
    for seq in train:
        for prev, nxt in zip([-1, *seq[:-1]], seq, strict=True):
            follow.setdefault(prev, Counter())[nxt] += 1
    n = sum(len(s) for s in val)
    maj = sum(a == majority for s in val for a in s)
    big = sum(
        a == (follow[p].most_common(1)[0][0] if p in follow else majority)
        for s in val
        for p, a in zip([-1, *s[:-1]], s, strict=True)
    )
    return {
        "majority_accuracy": maj / n if n else float("nan"),
        "bigram_accuracy": big / n if n else float("nan"),
    }


@TRAINERS.register("nap")
class NAPTrainer(Trainer):
    """Pretrains the planner alone; its artifact is shared by every planner variant that needs it."""

    Config = NAPConfig
    version = "1"

    def artifacts(self, config: NAPConfig) -> tuple[str, ...]:
        return ("actions",)

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after  # tests: stop once this many steps are done (a simulated kill)

    def train(self, ctx: TrainContext) -> None:
        cfg: NAPConfig = ctx.config
        wall = time.perf_counter()
        set_seed(ctx.seed)
        accelerator = make_accelerator("no")
        rank, world = accelerator.process_index, accelerator.num_processes
        if cfg.batch_size % world:
            raise ValueError(f"NAP: batch_size {cfg.batch_size} is not divisible by {world} processes")
        centroids = torch.from_numpy(ctx.actions.centroids)
        planner = Planner(centroids, **cfg.arch.model_dump())
        train, val = documents(ctx, "train"), documents(ctx, "val")
        if not train:
            raise ValueError("NAP pretraining: the training split has no sentences")
        optimizer = torch.optim.AdamW(planner.parameters(), lr=cfg.lr)
        loop = TrainingLoop(
            ctx, "nap", accelerator=accelerator, model=planner, optimizer=optimizer,
            max_steps=cfg.max_steps, checkpoint_every=cfg.checkpoint_every, stop_after=self.stop_after,
        )  # fmt: skip
        curve: list[float] = list(loop.resume().get("curve", []))
        main = accelerator.is_main_process

        def loss(model: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            rng = np.random.default_rng([ctx.seed, 1, step])
            batch = [train[i] for i in rng.integers(0, len(train), cfg.batch_size)]
            # under `accelerate launch`, each process takes its share of the same global batch
            return nap_loss(model, batch[rank::world]), {}

        def after_step(done: int, value: float) -> None:
            curve.append(value)
            if cfg.eval_every and done % cfg.eval_every == 0 and val and main:
                accuracy = nap_accuracy(loop.unwrapped(), val)
                ctx.log(f"[nap] step {done}: val accuracy {accuracy:.3f}")
                loop.model.train()

        result = loop.run(loss, after_step=after_step, checkpoint_extra=lambda done: {"curve": curve})
        planner = loop.unwrapped()
        if not main:
            return
        summary = {
            **result.summary(),
            "val_accuracy": nap_accuracy(planner, val) if val else None,
            "train_accuracy": nap_accuracy(planner, train[:500]),
            **baselines([a.tolist() for _, a in train], [a.tolist() for _, a in val]),
            "n_actions": int(centroids.shape[0]),
            "processes": world,
            "loss_curve": curve,
            "wall_seconds": time.perf_counter() - wall,
        }
        save_file(
            {k: v.contiguous() for k, v in planner.state_dict().items()},
            str(ctx.out_dir / "planner.safetensors"),
        )
        (ctx.out_dir / "nap.json").write_text(
            json.dumps({"arch": cfg.arch.model_dump(), **summary}, indent=2)
        )
        ctx.log(
            f"[nap] val accuracy {summary['val_accuracy']:.3f} "
            f"(majority {summary['majority_accuracy']:.3f}, bigram {summary['bigram_accuracy']:.3f})"
        )

    def load(self, artifact_dir: Path, identity: str) -> PlanevalLM:
        raise TypeError("a NAP planner is a component of planner variants, not a language model to evaluate")


def load_planner(artifact_dir: Path, centroids: torch.Tensor) -> tuple[Planner, dict]:
    """The pretrained planner of a ``nap`` artifact and its summary."""
    info = json.loads((Path(artifact_dir) / "nap.json").read_text())
    planner = Planner(centroids, **info["arch"])
    planner.load_state_dict(load_file(str(Path(artifact_dir) / "planner.safetensors")))
    return planner, info
