"""``plan-sft``: supervised fine-tuning with TRL's ``SFTTrainer``, loss on completion tokens only.

``format`` picks the family member: ``solution`` (SFT baseline), ``plan`` (M1) or ``two-stage`` (M2; two
rows per problem, evaluated by ``TwoStageLM``). Rows are pre-tokenized (``data.py``) with a
``completion_mask`` and ``completion_only_loss=True``, so TRL sets the prompt's labels to -100 and the
model learns only what it will have to generate. Training resumes from TRL's last checkpoint in
``ctx.checkpoint_dir`` (weights, optimizer, scheduler, RNG and data position).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from harness.errors import PlanevalError, UnknownNameError
from harness.hf_adapter import HFCausalLM
from trainers.base import TRAINERS, Requirement, TrainContext, Trainer
from trainers.finite import stop_on_nonfinite_callback
from trainers.history import append_history
from trainers.lm import PlainLMTrainer
from trainers.plan_tuning.data import FORMAT_REVISIONS, Format, rows, tokenize_rows
from trainers.plan_tuning.model import (
    ModelFields,
    OptimConfig,
    Timer,
    interrupt_after,
    last_checkpoint,
    library_progress,
    load_artifact,
    losses,
    quiet,
    save_artifact,
    starting_model,
    trl_common,
)
from trainers.plan_tuning.plans import PLAN_SOURCES, PlanResult, cached_plans, make_plan_source


class PlanSFTConfig(ModelFields, OptimConfig):
    format: Format = "plan"
    plan_source: str = Field("gold", description="registered plan source: gold, gsm8k, teacher, …")
    plan_params: dict[str, Any] = Field(default_factory=dict, description="the plan source's parameters")
    max_length: int = Field(256, ge=8, description="tokens per row; longer rows are left out and counted")
    plan_max_tokens: int = Field(128, ge=1, description="two-stage: token budget of the plan stage")
    eval_docs: int = Field(200, ge=0, description="validation problems for the final loss (0: none)")

    @model_validator(mode="after")
    def _check_plan_source(self) -> PlanSFTConfig:
        try:
            cls = PLAN_SOURCES.get(self.plan_source)
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        try:
            cls.Params.model_validate(self.plan_params)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"plan_params.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        return self


def build_dataset(tokenizer: Any, result: PlanResult, fmt: Format, max_length: int) -> tuple[Any, int]:
    """A ``datasets.Dataset`` of ``input_ids`` + ``completion_mask`` and the number of rows left out."""
    from datasets import Dataset

    pairs = [pair for ex in result.examples for pair in rows(ex, fmt)]
    tokenized = tokenize_rows(tokenizer, pairs, max_length)
    if not tokenized.input_ids:
        raise PlanevalError(f"no training row fits max_length={max_length} tokens")
    return Dataset.from_dict(tokenized.to_dict()), tokenized.dropped


def make_sft_trainer(
    model: Any, tokenizer: Any, train: Any, cfg: PlanSFTConfig, ctx: TrainContext, eval_dataset: Any = None
) -> Any:
    """TRL's ``SFTTrainer`` on pre-tokenized rows with completion-only loss."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **trl_common(cfg, ctx),
        completion_only_loss=True,
        max_length=cfg.max_length,
        packing=False,
        dataset_num_proc=None,
        per_device_eval_batch_size=cfg.batch_size,
    )
    return SFTTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=eval_dataset, processing_class=tokenizer
    )


@TRAINERS.register("plan-sft")
class PlanSFTTrainer(Trainer):
    """SFT baseline, M1 and M2 (by ``format``)."""

    Config = PlanSFTConfig
    version = "1"

    def __init__(self, stop_after: int | None = None) -> None:
        #: stop with ``TrainingInterrupted`` after the checkpoint at this step (simulates a kill in tests)
        self.stop_after = stop_after

    def requires(self, config: PlanSFTConfig) -> dict[str, Requirement]:
        return {"weights": req} if (req := config.weights.requirement()) is not None else {}

    def pretrained(self, config: PlanSFTConfig) -> dict[str, str]:
        return {"weights": name} if (name := config.weights.pretrained()) else {}

    def context_length(self, config: PlanSFTConfig, required: dict[str, int | None]) -> int | None:
        if config.weights.kind == "variant":
            return required.get("weights")
        return PlainLMTrainer().context_length(config.lm_config(), {})

    def context_needs(self, config: PlanSFTConfig) -> dict[str, int]:
        return {"max_length": config.max_length}

    def fingerprint(self, config: PlanSFTConfig) -> str:
        weights = config.weights.fingerprint()
        revision = FORMAT_REVISIONS.get(config.format)
        return ",".join(filter(None, [weights, f"{config.format}-r{revision}" if revision else ""]))

    def train(self, ctx: TrainContext) -> None:
        with library_progress(ctx.progress):
            self._train(ctx)

    def _train(self, ctx: TrainContext) -> None:
        cfg: PlanSFTConfig = ctx.config
        timer = Timer()
        from transformers import set_seed

        set_seed(ctx.seed)
        model, tokenizer = starting_model(cfg, ctx, "plan-sft")
        corpus = ctx.corpus  # the suite corpus Trainer.corpus names (the runner hands it over)
        docs = corpus.train[: cfg.max_train_docs] if cfg.max_train_docs else corpus.train
        plans = cached_plans(
            ctx,
            lambda: make_plan_source(cfg.plan_source, cfg.plan_params).plans(
                docs, seed=ctx.seed, log=ctx.log, progress=ctx.progress
            ),
        )
        train, dropped = build_dataset(tokenizer, plans, cfg.format, cfg.max_length)
        val = None
        if cfg.eval_docs and corpus.val:
            gold = make_plan_source("gold", {}).plans(corpus.val[: cfg.eval_docs], seed=ctx.seed)
            val, _ = build_dataset(tokenizer, gold, cfg.format, cfg.max_length)
        ctx.log(
            f"[plan-sft] format {cfg.format}: {len(train)} rows from {len(plans.examples)} problems"
            + (f" ({dropped} longer than {cfg.max_length} tokens left out)" if dropped else "")
        )
        trainer = quiet(make_sft_trainer(model, tokenizer, train, cfg, ctx, eval_dataset=val), ctx)
        interrupt_after(trainer, self.stop_after)
        trainer.add_callback(stop_on_nonfinite_callback(f"plan-sft {ctx.variant.name}"))
        resume = last_checkpoint(ctx)
        if resume:
            ctx.log(f"[plan-sft] resuming from {Path(resume).name}")
        loop = Timer()
        trainer.train(resume_from_checkpoint=resume)
        seconds = loop.seconds()
        history = trainer.state.log_history
        append_history(ctx.out_dir, "sft", history)  # TRL's log, whole and across resumes
        val_loss = float(trainer.evaluate()["eval_loss"]) if val is not None else None
        train_losses = losses(history, "loss")
        save_artifact(
            ctx,
            trainer.model,
            tokenizer,
            cfg.format,
            {
                "steps": cfg.max_steps,
                "resumed_from": Path(resume).name if resume else None,
                "rows": len(train),
                "rows_too_long": dropped,
                "plans": plans.stats,
                "train_loss": train_losses,
                "final_train_loss": train_losses[-1][1] if train_losses else None,
                "val_loss": val_loss,
                "train_seconds": seconds,
                "wall_seconds": timer.seconds(),
                "input_tokens_seen": int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0),
                "optimizer_steps": int(trainer.state.global_step),
            },
            plan_max_tokens=cfg.plan_max_tokens,
        )
        shown = f"{val_loss:.4f}" if val_loss is not None else "n/a"
        ctx.log(f"[plan-sft] done in {seconds:.0f}s: val loss {shown}")

    def corpus(self, config: Any) -> str | None:
        return config.corpus

    def capabilities(self, config: Any) -> frozenset[str]:
        return HFCausalLM.capabilities

    def load(self, artifact_dir: Path, identity: str) -> HFCausalLM:
        return load_artifact(artifact_dir, identity)
