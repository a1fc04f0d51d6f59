"""What both plan-tuning trainers share: the starting model, TRL's common arguments, the artifact.

The starting model is ``weights:``: a GPT-2 ``preset:<name>`` (trained from scratch here), a pretrained
``hf:<name or path>`` with its own tokenizer, or the artifact of another variant (``variant:<name>``,
built first by the runner as a ``Requirement``). The artifact is ``model/`` (safetensors + tokenizer) and
``training.json`` (config, losses or rewards, timings, plan-source stats); ``plan_tuning.json`` records
the completion format so ``load`` knows whether to evaluate in one stage or two.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Field, model_validator
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.hf_adapter import HFCausalLM
from harness.tokenizer import ensure_pad
from trainers.base import TrainContext, TrainerConfig
from trainers.checkpointing import TrainingInterrupted
from trainers.lm import LMConfig, build_model
from trainers.plan_tuning.adapter import TwoStageLM
from trainers.weights import Weights, as_kind, only, reject_retired

ARTIFACT_INFO = "plan_tuning.json"
#: a problem with its plan and worked steps runs to ~200 tokens: presets get this context by default
DEFAULT_POSITIONS = 256
_SCHEDULERS = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


class OptimConfig(TrainerConfig):
    """Optimisation and checkpointing, shared by SFT and GRPO."""

    max_steps: int = Field(600, ge=1)
    batch_size: int = Field(16, ge=1, description="rows (SFT) or completions (GRPO) per step")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    warmup_steps: int = Field(30, ge=0)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 disables clipping")
    checkpoint_every: int = Field(100, ge=1, description="TRL checkpoint interval (resume after a kill)")
    logging_steps: int = Field(10, ge=1)
    max_train_docs: int | None = Field(None, ge=1, description="first N training problems")
    bf16: bool = Field(False, description="bfloat16 mixed precision when a GPU is there (real runs)")
    corpus: str | None = Field(
        None,
        description="train on this named corpus of the suite ('corpora:'), e.g. arithmetic problems in a "
        "suite over text; default: the suite's main corpus",
    )


class ModelFields(TrainerConfig):
    """Where the weights start: a preset from scratch, ``hf:<name or path>``, or a variant's artifact."""

    weights: Annotated[Weights, only("preset", "hf", "variant")] = Field(
        "preset:tiny", validate_default=True, description="preset:<name>, hf:<name or path> or variant:<name>"
    )
    n_layer: int | None = Field(None, ge=1)
    n_embd: int | None = Field(None, ge=1)
    n_head: int | None = Field(None, ge=1)
    n_positions: int | None = Field(None, ge=2, description="context (presets: default 256, for math)")
    dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return reject_retired(
            cls.__name__,
            data,
            {"preset": as_kind("weights", "preset"), "base": as_kind("weights", "variant")},
        )

    @model_validator(mode="after")
    def _check_model(self) -> ModelFields:
        if self.weights.kind != "variant":
            self.lm_config()  # the preset and shape rules of trainers.lm
        elif given := [f for f in ("n_layer", "n_embd", "n_head", "n_positions") if getattr(self, f)]:
            raise ValueError(f"{', '.join(given)} cannot override a trained model ({self.weights})")
        return self

    def lm_config(self) -> LMConfig:
        positions = self.n_positions
        if positions is None and self.weights.kind == "preset":
            positions = DEFAULT_POSITIONS
        return LMConfig(
            weights=self.weights,
            n_layer=self.n_layer,
            n_embd=self.n_embd,
            n_head=self.n_head,
            n_positions=positions,
            dropout=self.dropout,
        )


def load_pretrained(path: Path) -> tuple[Any, Any]:
    """A saved ``model/`` folder: the model in float32 and its tokenizer (with a pad token)."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = ensure_pad(AutoTokenizer.from_pretrained(path), str(path))
    return model, tokenizer


def starting_model(cfg: ModelFields, ctx: TrainContext, log_name: str) -> tuple[Any, Any]:
    if cfg.weights.kind == "variant":
        ctx.log(f"[{log_name}] starting from {cfg.weights}")
        return load_pretrained(ctx.inputs["weights"] / "model")
    model, tokenizer = build_model(cfg.lm_config(), ctx.tokenizer)
    if tokenizer is not ctx.tokenizer:
        ctx.log(f"[{log_name}] {cfg.weights}: training with the pretrained model's own tokenizer")
    return model, ensure_pad(tokenizer, str(cfg.weights))


def trl_common(cfg: OptimConfig, ctx: TrainContext) -> dict[str, Any]:
    """Arguments of ``SFTConfig``/``GRPOConfig`` both trainers set the same way: CPU-safe precision, no
    activation (gradient) checkpointing, no reporting, TRL checkpoints in ``ctx.checkpoint_dir`` for
    resuming."""
    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(ctx.checkpoint_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type=_SCHEDULERS[cfg.scheduler],
        max_grad_norm=cfg.grad_clip if cfg.grad_clip > 0 else 1e9,
        adam_beta2=0.95,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.checkpoint_every,
        save_total_limit=2,
        report_to="none",
        use_cpu=not cuda,
        bf16=cfg.bf16 and cuda,
        fp16=False,
        seed=ctx.seed,
        data_seed=ctx.seed,
        disable_tqdm=not ctx.progress,
        dataloader_num_workers=0,
        eval_strategy="no",
        activation_checkpointing=False,  # TRL turns it on by default: recomputation only costs time here
        # equal-compute comparisons need the tokens each model trained on, not only its steps
        include_num_input_tokens_seen="non_padding",
    )


def interrupt_after(trainer: Any, steps: int | None) -> Any:
    """Raise ``TrainingInterrupted`` once ``steps`` optimizer steps are done and checkpointed: a kill as
    tests simulate it (the checkpoints stay, no artifact is written)."""
    if steps is None:
        return trainer
    from transformers import TrainerCallback

    class _Stop(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= steps and state.global_step < state.max_steps:
                raise TrainingInterrupted(f"stopped after step {state.global_step} as asked")

    trainer.add_callback(_Stop())
    return trainer


def quiet(trainer: Any, ctx: TrainContext) -> Any:
    """Without progress output (``--no-progress``) the trainer prints no per-step log dicts: the
    artifact's ``training.json`` keeps the curves."""
    if not ctx.progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


@contextmanager
def library_progress(enabled: bool) -> Iterator[None]:
    """``datasets``' map bars (TRL prepares datasets with ``map``) and transformers' weight-writing bars
    (every checkpoint) follow ``ctx.progress``; the previous settings come back afterwards."""
    from datasets.utils import logging as ds_logging
    from transformers.utils import logging as tf_logging

    before = ds_logging.is_progress_bar_enabled(), tf_logging.is_progress_bar_enabled()
    for lib, on in ((ds_logging, enabled), (tf_logging, enabled)):
        (lib.enable_progress_bar if on else lib.disable_progress_bar)()
    try:
        yield
    finally:
        for lib, on in zip((ds_logging, tf_logging), before, strict=True):
            (lib.enable_progress_bar if on else lib.disable_progress_bar)()


def last_checkpoint(ctx: TrainContext) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not Path(ctx.checkpoint_dir).is_dir():
        return None
    return get_last_checkpoint(str(ctx.checkpoint_dir))


def losses(log_history: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in log_history if key in r and "step" in r]


def save_artifact(
    ctx: TrainContext,
    model: Any,
    tokenizer: Any,
    fmt: str,
    summary: dict[str, Any],
    plan_max_tokens: int = 128,
) -> None:
    target = ctx.out_dir / "model"
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    info = {"format": fmt, "plan_max_tokens": plan_max_tokens}
    (ctx.out_dir / ARTIFACT_INFO).write_text(json.dumps(info, indent=2))
    full = {
        "variant": ctx.variant.model_dump(mode="json"),
        "config": ctx.config.model_dump(mode="json"),
        "seed": ctx.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        **info,
        **summary,
    }
    (ctx.out_dir / "training.json").write_text(json.dumps(full, indent=2, default=str))


def artifact_format(artifact_dir: Path) -> dict[str, Any]:
    path = Path(artifact_dir) / ARTIFACT_INFO
    return json.loads(path.read_text()) if path.is_file() else {"format": "plan"}


def load_artifact(artifact_dir: Path, identity: str) -> HFCausalLM:
    """An ``HFCausalLM`` (one-stage formats) or a ``TwoStageLM`` (``two-stage``)."""
    info = artifact_format(artifact_dir)
    model, tokenizer = load_pretrained(Path(artifact_dir) / "model")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if info["format"] == "two-stage":
        return TwoStageLM(model, tokenizer, identity, plan_max_tokens=info["plan_max_tokens"], device=device)
    return HFCausalLM(model, tokenizer, identity, device=device)


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start
