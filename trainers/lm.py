"""The plain LM (no planner): a GPT-2 trained from scratch (``weights: preset:<name>``), or a pretrained HF
causal LM fine-tuned (``weights: hf:<name or path>``). The reference row of every table.

Resume after a kill is bit-exact: the batch of step ``s`` is drawn from a generator seeded by
``(seed, s)`` (the data order is a pure function of the step), and a checkpoint restores weights,
optimizer, scheduler and every RNG (dropout), so a resumed run computes the very same updates.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DataLoaderConfiguration, set_seed
from pydantic import Field, model_validator
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, get_scheduler

from harness.corpus import Document
from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM, resolve_max_length
from trainers.base import TRAINERS, TrainContext, Trainer, TrainerConfig
from trainers.loop import LoopResult, TrainingLoop
from trainers.weights import PRESETS, Weights, as_kind, only, reject_retired

_SHAPE = ("n_layer", "n_embd", "n_head", "n_positions")
_SCHEDULERS = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


class LMConfig(TrainerConfig):
    """Hyperparameters of the plain LM."""

    weights: Annotated[Weights, only("preset", "hf")] = Field(
        "preset:tiny", validate_default=True, description="preset:<name> (from scratch) or hf:<name or path>"
    )
    n_layer: int | None = Field(None, ge=1)
    n_embd: int | None = Field(None, ge=1)
    n_head: int | None = Field(None, ge=1)
    n_positions: int | None = Field(None, ge=2)
    dropout: float = Field(0.1, ge=0, lt=1, description="presets only: a pretrained model keeps its own")
    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    seq_len: int = Field(128, ge=1, description="training window (input tokens per row)")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = Field(0, ge=0)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 disables clipping")
    checkpoint_every: int = Field(100, ge=1)
    eval_every: int | None = Field(None, ge=1)
    eval_batches: int = Field(4, ge=1)
    mixed_precision: Literal["no", "bf16"] = "no"

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return reject_retired(cls.__name__, data, {"preset": as_kind("weights", "preset")})

    @model_validator(mode="after")
    def _check_shape(self) -> LMConfig:
        if self.weights.kind == "hf":
            given = [f for f in _SHAPE if getattr(self, f) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} cannot override a pretrained model ({self.weights})")
        return self

    def architecture(self) -> dict[str, int]:
        """The GPT-2 shape: the preset, then the explicit overrides."""
        arch = dict(PRESETS.get(self.weights.name, {})) if self.weights.kind == "preset" else {}
        for f in _SHAPE:
            if getattr(self, f) is not None:
                arch[f] = getattr(self, f)
        return arch


# -- data ------------------------------------------------------------------------------------------


def prefix_id(tokenizer: Any) -> int:
    """The token before every document, as the adapters score them (BOS, else EOS)."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def token_stream(docs: Sequence[Document], tokenizer: Any) -> np.ndarray:
    """All documents as one int64 stream, each preceded by the prefix token."""
    if not docs:
        return np.zeros(0, dtype=np.int64)
    encoded = tokenizer([d.text for d in docs], add_special_tokens=False)["input_ids"]
    lead = prefix_id(tokenizer)
    return np.concatenate([np.asarray([lead, *ids], dtype=np.int64) for ids in encoded])


def window_batch(stream: np.ndarray, seq_len: int, batch_size: int, seed: Sequence[int]) -> torch.Tensor:
    """``batch_size`` random windows of ``seq_len + 1`` tokens, a pure function of ``seed``."""
    rng = np.random.default_rng(list(seed))
    starts = rng.integers(0, len(stream) - seq_len, size=batch_size)
    return torch.from_numpy(stream[starts[:, None] + np.arange(seq_len + 1)])


def lm_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every position of the windows."""
    inputs = batch[:, :-1]
    # an explicit all-ones mask: the stream has EOS (= pad) tokens between documents, not padding
    logits = model(input_ids=inputs, attention_mask=torch.ones_like(inputs), use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten())


@torch.inference_mode()
def eval_loss(
    model: torch.nn.Module, stream: np.ndarray, seq_len: int, batch_size: int, seed: int, n: int
) -> float:
    """Mean loss on ``n`` fixed batches of a held-out stream (the same batches at every call)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses = [
        float(lm_loss(model, window_batch(stream, seq_len, batch_size, (seed, 1, i)).to(device)))
        for i in range(n)
    ]
    model.train(was_training)
    return float(np.mean(losses))


# -- model -----------------------------------------------------------------------------------------


def build_model(cfg: LMConfig, tokenizer: Any) -> tuple[torch.nn.Module, Any]:
    """A GPT-2 from the preset (vocabulary = ``len(tokenizer)``), or the pretrained model with its own
    tokenizer (a pretrained model only makes sense with the tokenizer it was trained with)."""
    if cfg.weights.kind == "hf":
        source = cfg.weights.source()
        tok = AutoTokenizer.from_pretrained(source)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32), tok
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=prefix_id(tokenizer),
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        activation_function="gelu_pytorch_tanh",  # GPT-2's gelu_new formula, as one fused kernel
        **cfg.architecture(),
    )
    return GPT2LMHeadModel(config), tokenizer


def make_optimizer(model: torch.nn.Module, cfg: LMConfig) -> torch.optim.Optimizer:
    """AdamW; matrices decay, biases, norms and other vectors do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def make_accelerator(mixed_precision: str) -> Accelerator:
    """An ``Accelerator`` (CPU when there is no GPU). Its state is a process-wide singleton that refuses
    a second configuration, so a runner training two variants with different precisions resets it."""
    # split_batches: our trainers split one global batch across processes, so a prepared LR scheduler
    # must step once per optimizer step (not once per process, accelerate's default)
    kwargs = dict(
        cpu=not torch.cuda.is_available(),
        mixed_precision=mixed_precision,
        dataloader_config=DataLoaderConfiguration(split_batches=True),
    )
    try:
        return Accelerator(**kwargs)
    except ValueError:
        AcceleratorState._reset_state(reset_partial_state=True)
        return Accelerator(**kwargs)


# -- the trainer -----------------------------------------------------------------------------------


@TRAINERS.register("lm")
class PlainLMTrainer(Trainer):
    """Trains the plain LM with ``accelerate``; the artifact is a ``save_pretrained`` folder."""

    Config = LMConfig
    version = "1"

    def __init__(self, stop_after: int | None = None) -> None:
        #: stop with ``TrainingInterrupted`` once this many steps are done (simulates a kill in tests)
        self.stop_after = stop_after

    def pretrained(self, config: LMConfig) -> dict[str, str]:
        return {"weights": name} if (name := config.weights.pretrained()) else {}

    def context_length(self, config: LMConfig, required: dict[str, int | None]) -> int | None:
        if config.weights.kind == "hf":
            return config.weights.context_length(None)
        return config.architecture().get("n_positions", GPT2Config().n_positions)

    def context_needs(self, config: LMConfig) -> dict[str, int]:
        return {"seq_len": config.seq_len}

    def fingerprint(self, config: LMConfig) -> str:
        """Starting from local pretrained weights (``weights: hf:<path>``): their digest."""
        return config.weights.fingerprint()

    def train(self, ctx: TrainContext) -> None:
        cfg: LMConfig = ctx.config
        wall = time.perf_counter()
        accelerator = make_accelerator(cfg.mixed_precision)
        rank, world, main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
        if cfg.batch_size % world:
            raise PlanevalError(f"lm: batch_size {cfg.batch_size} is not divisible by {world} processes")
        set_seed(ctx.seed)
        model, tokenizer = build_model(cfg, ctx.tokenizer)
        stream = token_stream(ctx.corpus.train, tokenizer)
        val_stream = token_stream(ctx.corpus.val, tokenizer)
        if tokenizer is not ctx.tokenizer:
            ctx.log(f"[lm] {cfg.weights}: training with the pretrained model's own tokenizer")
        seq_len = self._seq_len(cfg, model, tokenizer, len(stream), ctx)
        optimizer = make_optimizer(model, cfg)
        scheduler = get_scheduler(
            _SCHEDULERS[cfg.scheduler],
            optimizer,
            num_warmup_steps=cfg.warmup_steps,
            num_training_steps=cfg.max_steps,
        )
        loop = TrainingLoop(
            ctx, "lm", accelerator=accelerator, model=model, optimizer=optimizer, scheduler=scheduler,
            max_steps=cfg.max_steps, checkpoint_every=cfg.checkpoint_every, grad_clip=cfg.grad_clip,
            stop_after=self.stop_after,
        )  # fmt: skip
        loop.resume()

        def loss(model: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            # under `accelerate launch`, each process takes its rows of the same global batch
            batch = window_batch(stream, seq_len, cfg.batch_size, (ctx.seed, 0, step))[rank::world]
            return lm_loss(model, batch.to(accelerator.device)), {}

        def evaluate(done: int, train_loss: float) -> None:
            if cfg.eval_every and done % cfg.eval_every == 0 and len(val_stream) > seq_len and main:
                val = eval_loss(
                    loop.unwrapped(), val_stream, seq_len, cfg.batch_size, ctx.seed, cfg.eval_batches
                )
                ctx.log(f"[lm] step {done}: train loss {train_loss:.4f}, val loss {val:.4f}")

        result = loop.run(loss, after_step=evaluate)
        if main:
            self._save(ctx, loop.unwrapped(), tokenizer, cfg, seq_len, result, val_stream, wall)

    @staticmethod
    def _seq_len(
        cfg: LMConfig, model: torch.nn.Module, tokenizer: Any, n_tokens: int, ctx: TrainContext
    ) -> int:
        """The training window: ``seq_len``, or shorter when the training split is shorter."""
        limit = resolve_max_length(model.config, tokenizer)
        if cfg.seq_len > limit:
            raise PlanevalError(f"seq_len {cfg.seq_len} exceeds the model's context of {limit} tokens")
        if n_tokens < 2:
            raise PlanevalError("the training split has no tokens to train on")
        if n_tokens <= cfg.seq_len:
            ctx.log(
                f"[lm] the training split has only {n_tokens} tokens: "
                f"windows of {n_tokens - 1} instead of {cfg.seq_len}"
            )
            return n_tokens - 1
        return cfg.seq_len

    @staticmethod
    def _save(
        ctx: TrainContext,
        model: torch.nn.Module,
        tokenizer: Any,
        cfg: LMConfig,
        seq_len: int,
        result: LoopResult,
        val_stream: np.ndarray,
        wall: float,
    ) -> None:
        val = (
            eval_loss(model, val_stream, seq_len, cfg.batch_size, ctx.seed, cfg.eval_batches)
            if len(val_stream) > seq_len
            else None
        )
        target = ctx.out_dir / "model"
        model.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
        summary = {
            "variant": ctx.variant.model_dump(mode="json"),
            "config": cfg.model_dump(mode="json"),
            "seed": ctx.seed,
            **result.summary(),
            "seq_len": seq_len,
            "parameters": sum(p.numel() for p in model.parameters()),
            "last_train_losses": result.losses,
            "processes": int(os.environ.get("WORLD_SIZE", "1")),
            "val_loss": val,
            "tokens_per_s": result.tokens_per_s(cfg.batch_size * seq_len),
            "train_seconds": result.seconds,
            "wall_seconds": time.perf_counter() - wall,
        }
        (ctx.out_dir / "training.json").write_text(json.dumps(summary, indent=2))
        shown = f"{val:.4f}" if val is not None else "n/a (validation split shorter than a window)"
        ctx.log(f"[lm] done: train loss {summary['final_train_loss']:.4f}, val loss {shown}")

    def capabilities(self, config: LMConfig) -> frozenset[str]:
        return HFCausalLM.capabilities

    def load(self, artifact_dir: Path, identity: str) -> HFCausalLM:
        path = Path(artifact_dir) / "model"
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return HFCausalLM(model, tokenizer, identity, device="cuda" if torch.cuda.is_available() else "cpu")
