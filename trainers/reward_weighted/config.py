"""Hyperparameters of the reward-weighted family; defaults follow the paper's summarisation setup where
it is affordable on a CPU (avg aggregation, K = 3, β = 2, sigmoid bound, re-training every half epoch
during the first half), sizes are for the tiny models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.text.summarization import ARTICLE, DEFAULT_TEMPLATE
from trainers.base import TrainerConfig
from trainers.reward_weighted.losses import Aggregation
from trainers.weights import Weights, as_kind, only, reject_retired


def _reward_body(value: object) -> str:
    """The old ``reward_body`` in the new spelling (``base`` was the copy of the policy: the default)."""
    return (
        "the default (leave `reward_weights` out)"
        if value == "base"
        else as_kind("reward_weights", "preset")(value)
    )


class RewardWeightedConfig(TrainerConfig):
    # -- the starting point and the data ---------------------------------------------------------
    weights: Annotated[Weights, only("variant")] = Field(
        "variant:tiny-lm", validate_default=True, description="variant:<name>: the starting policy"
    )
    setting: Literal["continuation", "summarization"] = "continuation"
    min_prefix_tokens: int = Field(
        32, ge=1, description="continuation: the shortest prefix (as the rouge task)"
    )
    target_tokens: int = Field(64, ge=2, description="target / candidate length in tokens")
    max_source_tokens: int = Field(96, ge=1, description="summarization: article tokens in the prompt")
    template: str = Field(DEFAULT_TEMPLATE, description="summarization: the prompt (as the task's)")
    max_examples: int | None = Field(None, ge=1, description="cap on training pairs")
    # -- the policy ------------------------------------------------------------------------------
    objective: Literal["mle", "wmle", "reinforce"] = "wmle"
    max_steps: int = Field(200, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 disables clipping")
    checkpoint_every: int = Field(50, ge=1)
    entropy_coef: float = Field(0.01, ge=0, description="reinforce: α of the entropy bonus")
    reinforce_samples: int = Field(1, ge=1, description="reinforce: samples per input per step")
    reinforce_weight: Literal["reward", "return"] = Field(
        "reward", description="reinforce: weight log π(a_t) by r_t or by the return-to-go Σ_{t'≥t} r_t'"
    )
    reinforce_baseline: Literal["none", "mean"] = Field(
        "mean",
        description="reinforce: subtract the batch's mean weight (none: the paper's form, which with "
        "rewards all > 0 reinforces every sampled token and collapses a full LM policy)",
    )
    # -- the reward model and its preferences ----------------------------------------------------
    reward_level: Literal["token", "sequence"] = "token"
    aggregation: Aggregation = "avg"
    beta: float = Field(2.0, gt=0, description="temperature of the soft max / soft min aggregations")
    k: int = Field(3, ge=2, description="candidates ranked per input")
    metric: str = Field("rougeL", description="sequence metric ranking the candidates (metrics.py)")
    reward_weights: Annotated[Weights, only("preset", "hf")] | None = Field(
        None,
        description="the reward model's body: a copy of the starting policy (default), preset:<name> "
        "or hf:<name or path>",
    )
    reward_hidden: int = Field(2048, ge=1, description="width of the MLP head")
    reward_bound: Literal["sigmoid", "softplus"] = "sigmoid"
    reward_lr: float = Field(1e-4, gt=0)
    reward_batch_size: int = Field(4, ge=1, description="inputs per reward update (each with K candidates)")
    reward_steps: int = Field(20, ge=1, description="reward updates per re-training round")
    reward_first_steps: int | None = Field(
        None, ge=1, description="updates of the first round, before any policy step (default reward_steps)"
    )
    reward_grad_clip: float = Field(5.0, ge=0)
    retrain: bool = Field(True, description="re-train the reward model during the first half")
    retrain_every_epochs: float = Field(0.5, gt=0, description="the paper's period: half an epoch")
    retrain_every_steps: int | None = Field(None, ge=1, description="a period in policy steps instead")
    sample_temperature: float = Field(1.0, ge=0)
    sample_top_k: int | None = Field(None, ge=1)
    stop_at_eos: bool | None = Field(
        None, description="candidates may end early; default: no for continuation, yes for summarization"
    )
    candidate_lengths: Literal["fixed", "sampled"] = Field(
        "sampled",
        description="sampled: each candidate is cut to a length drawn uniformly from "
        "[min_candidate_tokens, target_tokens] (seeded), so sum and avg aggregation differ; fixed: every "
        "candidate has target_tokens tokens (then avg·L̄ = sum and the aggregation ablation is void)",
    )
    min_candidate_tokens: int = Field(8, ge=1, description="shortest candidate (also EOS's earliest step)")
    eval_prompts: int = Field(8, ge=0, description="validation inputs for the reward model's accuracy")
    mixed_precision: Literal["no", "bf16"] = "no"

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return reject_retired(
            cls.__name__, data, {"base": as_kind("weights", "variant"), "reward_body": _reward_body}
        )

    @model_validator(mode="after")
    def _check(self) -> RewardWeightedConfig:
        from trainers.reward_weighted.metrics import SEQUENCE_METRICS

        if self.metric not in SEQUENCE_METRICS:
            raise ValueError(
                f"unknown sequence metric {self.metric!r} (valid: {', '.join(SEQUENCE_METRICS.names())})"
            )
        if ARTICLE not in self.template:
            raise ValueError(f"template must contain {ARTICLE}")
        if self.min_candidate_tokens > self.target_tokens:
            raise ValueError(
                f"min_candidate_tokens {self.min_candidate_tokens} exceeds target_tokens {self.target_tokens}"
            )
        if self.reward_level == "sequence" and self.objective == "mle":
            raise ValueError("reward_level only matters with a reward model (objective wmle or reinforce)")
        return self

    @property
    def uses_reward(self) -> bool:
        return self.objective != "mle"

    @property
    def candidates_stop_at_eos(self) -> bool:
        return self.stop_at_eos if self.stop_at_eos is not None else self.setting == "summarization"
