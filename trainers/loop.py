"""The one training loop of the hand-written trainers (``lm``, ``nap``, ``planner``, ``reward_weighted``).

A trainer builds its model, optimizer and scheduler (after seeding), then hands them to a
``TrainingLoop``, which owns everything they used to repeat:

* ``resume()``: load the newest checkpoint that verifies (weights, optimizer, scheduler, step, the
  tracked losses and the trainer's own ``extra``), ``accelerator.prepare``, then restore every RNG last,
  so the first step sees exactly the RNG state the killed run saw;
* ``run(loss)``: for each step ``before_step`` → forward (``loss(model, step)`` under autocast) →
  non-finite check → backward → gradient clipping → optimizer and scheduler step → tqdm →
  ``after_step`` → a checkpoint every ``checkpoint_every`` steps and after the last one (with
  ``checkpoint_extra``) → the test-only stop (``stop_after``: raise ``TrainingInterrupted``, as a kill);
* ``LoopResult.summary()``: the fields every ``training.json`` shares;
* the full history: every step's tracked loss, the loss function's stats and the learning rate, kept
  across resumes (in each checkpoint) and appended to the artifact's ``history.jsonl`` when the loop
  ends (``trainers.history``), so a training curve can be drawn and tracked from any run.

Bit-exact resume needs one thing from the trainer: the batch of step ``s`` must be a pure function of
``(seed, s)`` (never drawn from a global RNG), which every trainer here does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from trainers.base import TrainContext
from trainers.checkpointing import (
    TrainingInterrupted,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from trainers.finite import check_loss
from trainers.history import append_history

#: losses carried in checkpoints and summaries (the final loss is the mean of the last ``FINAL``)
RECENT, FINAL = 50, 10
#: what the loop itself keeps in a checkpoint's ``extra`` (the rest is the trainer's)
_OWN = ("losses", "step_seconds", "history")

#: ``loss(model, step)`` → (the loss to minimise, floats to show next to it)
LossFn = Callable[[torch.nn.Module, int], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class LoopResult:
    max_steps: int
    start: int  # the step this process resumed from (0: a fresh run)
    losses: list[float]  # the last RECENT tracked losses (across resumes)
    seconds: float  # wall time of this process's loop
    step_seconds: float  # time in forward, backward and optimizer steps, summed across resumes
    history: list[dict[str, Any]] = field(default_factory=list)  # every step's row (across resumes)

    @property
    def final_loss(self) -> float | None:
        return float(np.mean(self.losses[-FINAL:])) if self.losses else None

    def tokens_per_s(self, tokens_per_step: int) -> float | None:
        steps = self.max_steps - self.start
        return steps * tokens_per_step / self.seconds if steps and self.seconds > 0 else None

    def summary(self) -> dict[str, Any]:
        """The fields every trainer's ``training.json`` shares."""
        return {
            "steps": self.max_steps,
            "resumed_from_step": self.start or None,
            "final_train_loss": self.final_loss,
        }


class TrainingLoop:
    """Resume, step, clip, checkpoint and stop for one model (see the module docstring).

    ``checkpointed``: the module whose weights go into checkpoints when it is not ``model`` itself
    (reward_weighted keeps the policy and its reward model together); ``clip``: the parameters whose
    gradient norm is clipped (default: the model's); ``track``: the key of the ``loss`` stats recorded
    as the training loss instead of the loss itself (the planner tracks its LM part)."""

    def __init__(
        self,
        ctx: TrainContext,
        name: str,
        *,
        accelerator: Accelerator,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any | None = None,
        max_steps: int,
        checkpoint_every: int,
        grad_clip: float = 0.0,
        stop_after: int | None = None,
        checkpointed: torch.nn.Module | None = None,
        clip: Iterable[torch.nn.Parameter] | None = None,
        track: str | None = None,
        desc: str | None = None,
    ) -> None:
        self.ctx, self.name, self.desc = ctx, name, desc or name
        self.accelerator = accelerator
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.checkpointed = checkpointed if checkpointed is not None else model
        self.max_steps, self.checkpoint_every, self.grad_clip = max_steps, checkpoint_every, grad_clip
        self.stop_after = stop_after
        self.clip = list(clip) if clip is not None else None
        self.track = track
        self.start, self.losses, self.step_seconds = 0, [], 0.0
        self.history: list[dict[str, Any]] = []

    # -- resume ----------------------------------------------------------------------------------------
    def resume(self) -> dict[str, Any]:
        """Restore the newest checkpoint (if any), prepare for the accelerator, restore the RNGs; return
        the trainer's part of the checkpoint's ``extra`` (empty for a fresh run). Call it once, after
        everything that draws random numbers and before anything that must see the resumed RNG."""
        ctx, acc = self.ctx, self.accelerator
        checkpoint = latest_checkpoint(ctx.checkpoint_dir, log=ctx.log)
        extra: dict[str, Any] = {}
        if checkpoint is not None:
            state = load_checkpoint(
                checkpoint,
                model=self.checkpointed,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                rng=False,
            )
            self.start, extra = state["step"], dict(state["extra"])
            self.losses = list(extra.get("losses", []))
            self.history = list(extra.get("history", []))
            self.step_seconds = float(extra.get("step_seconds", 0.0))
            ctx.log(f"[{self.name}] resuming from {checkpoint.name} (step {self.start}/{self.max_steps})")
        self.checkpointed.to(acc.device)
        if self.scheduler is None:
            self.model, self.optimizer = acc.prepare(self.model, self.optimizer)
        else:
            self.model, self.optimizer, self.scheduler = acc.prepare(
                self.model, self.optimizer, self.scheduler
            )
        if checkpoint is not None:
            restore_rng(checkpoint)  # last: the loop sees exactly the RNG the killed run saw
        return {k: v for k, v in extra.items() if k not in _OWN}

    def unwrapped(self) -> torch.nn.Module:
        """The trained model without the accelerator's wrapper (to save or evaluate)."""
        return self.accelerator.unwrap_model(self.model)

    # -- one step ----------------------------------------------------------------------------------------
    def step(self, loss_fn: LossFn, step: int) -> tuple[float, dict[str, float]]:
        """One optimizer step at (0-based) ``step``; the tracked loss (averaged over processes) and stats."""
        acc = self.accelerator
        with acc.autocast():
            loss, stats = loss_fn(self.model, step)
        check_loss(loss, step + 1, f"{self.name} {self.ctx.variant.name}")
        acc.backward(loss)
        if self.grad_clip > 0:
            params = self.clip if self.clip is not None else self.model.parameters()
            acc.clip_grad_norm_([p for p in params if p.grad is not None], self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        tracked = stats[self.track] if self.track else float(acc.reduce(loss.detach(), "mean"))
        return tracked, stats

    # -- the loop ----------------------------------------------------------------------------------------
    def run(
        self,
        loss_fn: LossFn,
        *,
        before_step: Callable[[int], None] | None = None,
        after_step: Callable[[int, float], None] | None = None,
        checkpoint_extra: Callable[[int], dict[str, Any]] | None = None,
    ) -> LoopResult:
        """Train from the resumed step to ``max_steps``. ``before_step(step)`` runs before step ``step``
        (0-based; the planner's unfreeze), ``after_step(done, loss)`` after ``done`` steps (evaluation,
        reward-model rounds), ``checkpoint_extra(done)`` gives what the trainer keeps in a checkpoint."""
        main = self.accelerator.is_main_process
        self.model.train()
        began = time.perf_counter()
        with tqdm(
            total=self.max_steps,
            initial=self.start,
            disable=not (self.ctx.progress and main),
            desc=self.desc,
            unit="step",
        ) as bar:
            for step in range(self.start, self.max_steps):
                if before_step is not None:
                    before_step(step)
                t0 = time.perf_counter()
                value, stats = self.step(loss_fn, step)
                self.step_seconds += time.perf_counter() - t0
                self.losses = [*self.losses, value][-RECENT:]
                done = step + 1
                self.history.append({"step": done, "loss": value, **stats, **self._lr()})
                bar.update(1)
                shown = {k: f"{v:.3f}" for k, v in stats.items() if k != self.track}
                bar.set_postfix(loss=f"{value:.3f}", **shown, refresh=False)
                if after_step is not None:
                    after_step(done, value)
                if done % self.checkpoint_every == 0 or done == self.max_steps:
                    self.save(done, checkpoint_extra(done) if checkpoint_extra is not None else {})
                if self.stop_after is not None and self.stop_after <= done < self.max_steps:
                    raise TrainingInterrupted(f"stopped after step {done} as asked")
        if main:
            append_history(self.ctx.out_dir, self.name, self.history)
        return LoopResult(
            self.max_steps,
            self.start,
            self.losses,
            time.perf_counter() - began,
            self.step_seconds,
            self.history,
        )

    def _lr(self) -> dict[str, float]:
        """The learning rate after this step (the first param group's), for the history."""
        groups = getattr(self.optimizer, "param_groups", None)
        return {"lr": float(groups[0]["lr"])} if groups else {}

    def save(self, done: int, extra: dict[str, Any]) -> None:
        """A checkpoint after ``done`` steps, written by the main process while the others wait."""
        if self.accelerator.is_main_process:
            save_checkpoint(
                self.ctx.checkpoint_dir,
                done,
                model=self.checkpointed,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                extra={
                    "losses": self.losses,
                    "step_seconds": self.step_seconds,
                    "history": self.history,
                    **extra,
                },
            )
        self.accelerator.wait_for_everyone()
