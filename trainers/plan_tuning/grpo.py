"""``plan-grpo``: TRL's ``GRPOTrainer`` from an SFT checkpoint, reward ``1[answer] + λ·sim(plan)``.

The starting point is another variant (``weights: variant:<name>``, default ``variant:plan-m1``),
declared as a ``Requirement`` so the runner trains it first and every GRPO variant on the same SFT
shares one artifact. ``plan_weight``
is λ: 0 gives the answer-only ablation (``grpo-ans``), > 0 adds the plan-similarity term
(``grpo-plan``; the SFT model must then write plans). Prompts are the evaluation prompts with the
prefix token the adapter puts in front (``data.policy_prompt``), so the policy is trained in exactly
the context it is evaluated in. Resumes from TRL's last checkpoint in ``ctx.checkpoint_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM
from trainers.base import TRAINERS, Requirement, TrainContext, Trainer
from trainers.finite import stop_on_nonfinite_callback
from trainers.history import append_history
from trainers.plan_tuning.data import MathExample, policy_prompt, prompt_of
from trainers.plan_tuning.model import (
    OptimConfig,
    Timer,
    artifact_format,
    interrupt_after,
    last_checkpoint,
    library_progress,
    load_artifact,
    load_pretrained,
    losses,
    quiet,
    save_artifact,
    trl_common,
)
from trainers.plan_tuning.rewards import SIMILARITIES, Similarity, make_answer_reward, make_plan_reward
from trainers.weights import Weights, as_kind, only, reject_retired

_REWARD_LOGS = ("reward", "reward_std", "completions/mean_length", "completions/clipped_ratio")


class PlanGRPOConfig(OptimConfig):
    weights: Annotated[Weights, only("variant")] = Field(
        "variant:plan-m1", validate_default=True, description="variant:<name>: the SFT model to start from"
    )
    plan_weight: float = Field(0.0, ge=0, description="λ of the plan-similarity term (0: answer only)")
    similarity: Similarity = "rouge_l"
    require_marker: bool = Field(True, description="the answer must follow '####' to earn the reward")
    num_generations: int = Field(8, ge=2, description="completions per prompt (the GRPO group)")
    max_completion_length: int = Field(160, ge=1)
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0, description="KL coefficient (0: no reference model)")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    # GRPO fine-tunes a trained model: smaller steps than SFT from scratch
    max_steps: int = Field(100, ge=1)
    lr: float = Field(2e-5, gt=0)
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    logging_steps: int = Field(5, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return reject_retired(cls.__name__, data, {"sft": as_kind("weights", "variant")})

    @model_validator(mode="after")
    def _groups(self) -> PlanGRPOConfig:
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of "
                f"num_generations ({self.num_generations})"
            )
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {self.similarity!r}")
        return self


def reward_functions(cfg: PlanGRPOConfig) -> tuple[list[Any], list[float]]:
    """TRL reward functions and their weights: ``[answer]`` or ``[answer, plan similarity]`` × ``[1, λ]``."""
    funcs: list[Any] = [make_answer_reward(cfg.require_marker)]
    weights = [1.0]
    if cfg.plan_weight > 0:
        funcs.append(make_plan_reward(cfg.similarity))
        weights.append(cfg.plan_weight)
    return funcs, weights


def prompt_dataset(examples: list[MathExample], tokenizer: Any) -> Any:
    """``prompt`` (text the tokenizer turns into the evaluation context), ``answer`` and the reference
    ``plan``."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": [policy_prompt(tokenizer, prompt_of(ex.question)) for ex in examples],
            "answer": [ex.answer for ex in examples],
            "plan": [list(ex.plan) for ex in examples],
        }
    )


def make_grpo_trainer(
    model: Any, tokenizer: Any, dataset: Any, cfg: PlanGRPOConfig, ctx: TrainContext
) -> Any:
    from trl import GRPOConfig, GRPOTrainer

    funcs, weights = reward_functions(cfg)
    args = GRPOConfig(
        **trl_common(cfg, ctx),
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_k=0,
        top_p=1.0,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        reward_weights=weights,
        disable_dropout=True,
        log_completions=False,
    )
    return GRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=tokenizer
    )


@TRAINERS.register("plan-grpo")
class PlanGRPOTrainer(Trainer):
    """GRPO on top of an SFT variant (answer reward, plus λ·plan similarity)."""

    Config = PlanGRPOConfig
    version = "1"

    def __init__(self, stop_after: int | None = None) -> None:
        #: stop with ``TrainingInterrupted`` after the checkpoint at this step (simulates a kill in tests)
        self.stop_after = stop_after

    def requires(self, config: PlanGRPOConfig) -> dict[str, Requirement]:
        req = config.weights.requirement()
        assert req is not None  # the field takes variant:<name> only
        return {"weights": req}

    def train(self, ctx: TrainContext) -> None:
        with library_progress(ctx.progress):
            self._train(ctx)

    def _train(self, ctx: TrainContext) -> None:
        cfg: PlanGRPOConfig = ctx.config
        timer = Timer()
        from transformers import set_seed

        set_seed(ctx.seed)
        sft_dir = Path(ctx.inputs["weights"])
        fmt = artifact_format(sft_dir)["format"]
        if fmt == "two-stage":
            raise PlanevalError(
                f"plan-grpo: {cfg.weights} is a two-stage model; GRPO here trains one-stage models"
            )
        if cfg.plan_weight > 0 and fmt != "plan":
            raise PlanevalError(
                f"plan-grpo: plan_weight > 0 needs an SFT model that writes plans; {cfg.weights} is {fmt}"
            )
        model, tokenizer = load_pretrained(sft_dir / "model")
        corpus = ctx.corpus  # the suite corpus Trainer.corpus names (the runner hands it over)
        docs = corpus.train[: cfg.max_train_docs] if cfg.max_train_docs else corpus.train
        examples = [MathExample.from_document(d) for d in docs]
        dataset = prompt_dataset(examples, tokenizer)
        trainer = quiet(make_grpo_trainer(model, tokenizer, dataset, cfg, ctx), ctx)
        interrupt_after(trainer, self.stop_after)
        trainer.add_callback(stop_on_nonfinite_callback(f"plan-grpo {ctx.variant.name}"))
        resume = last_checkpoint(ctx)
        if resume:
            ctx.log(f"[plan-grpo] resuming from {Path(resume).name}")
        ctx.log(f"[plan-grpo] from {cfg.weights} ({fmt}), λ={cfg.plan_weight}, {len(examples)} prompts")
        loop = Timer()
        trainer.train(resume_from_checkpoint=resume)
        seconds = loop.seconds()
        history = trainer.state.log_history
        append_history(ctx.out_dir, "grpo", history)  # TRL's log, whole and across resumes
        logged = {k: losses(history, k) for k in _REWARD_LOGS}
        logged.update(
            {k: losses(history, k) for k in {k for r in history for k in r if k.startswith("rewards/")}}
        )
        final = logged["reward"][-1][1] if logged["reward"] else None
        save_artifact(
            ctx,
            trainer.model,
            tokenizer,
            fmt,
            {
                "steps": cfg.max_steps,
                "resumed_from": Path(resume).name if resume else None,
                "started_from": str(cfg.weights),
                "reward_weights": reward_functions(cfg)[1],
                "logs": logged,
                "final_reward": final,
                "train_seconds": seconds,
                "wall_seconds": timer.seconds(),
            },
        )
        ctx.log(f"[plan-grpo] done in {seconds:.0f}s: last mean reward {final}")

    def corpus(self, config: Any) -> str | None:
        return config.corpus

    def capabilities(self, config: Any) -> frozenset[str]:
        return HFCausalLM.capabilities

    def load(self, artifact_dir: Path, identity: str) -> HFCausalLM:
        return load_artifact(artifact_dir, identity)
