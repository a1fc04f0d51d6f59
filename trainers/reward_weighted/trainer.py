"""The ``reward_weighted`` trainer: alternate reward learning and policy learning (Algorithm 2).

1. Load the starting policy (the ``weights`` requirement's ``model/``; all variants share that artifact).
2. Build (source, target) pairs from the training split (``data``), held-out ones from validation.
3. Train the reward model (``reward_steps`` ListMLE updates on K candidates per input sampled from the
   policy and ranked by the metric), then take policy steps (MLE, WMLE or REINFORCE); after every
   re-training step of the schedule (first half only) train the reward model again from its current
   weights with a fresh optimizer.
4. Save the policy (``model/``, loadable as ``HFCausalLM``), the reward model (``reward_model/``) and
   ``training.json`` with losses, the reward model's held-out ranking accuracy per round and the time
   spent on reward training vs policy training.

Resume after a kill is exact: policy batches are a function of the step (a permutation per epoch seeded
by (seed, epoch)); reward batches, candidate samples and tie-breaking of round r are functions of
(seed, r, update); a checkpoint holds both models, the policy's optimizer and scheduler, every RNG, the
step and the logs, and is taken after a round that happens at the same step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler

from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM, resolve_max_length
from harness.sampling import Sampling
from trainers.base import TRAINERS, Requirement, TrainContext, Trainer
from trainers.finite import check_loss
from trainers.lm import PlainLMTrainer, make_accelerator, make_optimizer
from trainers.loop import LoopResult, TrainingLoop
from trainers.reward_weighted.config import RewardWeightedConfig
from trainers.reward_weighted.data import (
    Example,
    continuation_examples,
    summarization_examples,
    supervised_batch,
)
from trainers.reward_weighted.losses import pairwise_accuracy
from trainers.reward_weighted.metrics import SEQUENCE_METRICS
from trainers.reward_weighted.policy import reinforce_step_loss, supervised_loss
from trainers.reward_weighted.preferences import CandidateSampling, collect_preferences, preference_loss
from trainers.reward_weighted.reward_model import TokenRewardModel, build_body
from trainers.reward_weighted.schedule import RetrainSchedule, period_in_steps, steps_per_epoch

_SCHEDULERS = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


def wilson_interval(accuracy: float | None, n: int, alpha: float = 0.05) -> tuple[float, float] | None:
    """The Wilson score interval of a pairwise accuracy over ``n`` pairs (None when undefined)."""
    if accuracy is None or n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(round(accuracy * n), n).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return float(ci.low), float(ci.high)


def reward_accuracy_summary(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last round's held-out pairwise accuracy with its n and 95% interval, and whether it is
    measurably better than chance (the interval's low end above 0.5): pg-* rows mean little if not."""
    scored = [r for r in rounds if r.get("val_pair_accuracy") is not None]
    if not scored:
        return None
    last = scored[-1]
    ci = last.get("val_pair_ci") or wilson_interval(last["val_pair_accuracy"], last.get("val_pairs", 0))
    return {
        "accuracy": last["val_pair_accuracy"],
        "n_pairs": last.get("val_pairs"),
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "chance": 0.5,
        "better_than_chance": bool(ci and ci[0] > 0.5),
    }


def seed_of(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (for torch.manual_seed and torch.Generator)."""
    state = np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class _Run:
    """The state of one training run (models, data, logs), so the steps are small methods."""

    def __init__(self, trainer: RewardWeightedTrainer, ctx: TrainContext) -> None:
        self.trainer, self.ctx = trainer, ctx
        self.cfg: RewardWeightedConfig = ctx.config
        self.accelerator = make_accelerator(self.cfg.mixed_precision)
        set_seed(ctx.seed)
        self.policy, self.tokenizer = load_base(ctx)
        self.max_len = resolve_max_length(self.policy.config, self.tokenizer)
        if self.cfg.target_tokens >= self.max_len:
            raise PlanevalError(
                f"target_tokens {self.cfg.target_tokens} must be < the context {self.max_len}"
            )
        self.pad = self.tokenizer.pad_token_id
        self.train_examples = self.examples(ctx.corpus.train, self.cfg.max_examples, ctx.seed)
        if not self.train_examples:
            raise PlanevalError("reward_weighted: no usable training pairs in the training split")
        self.val_examples = (
            self.examples(ctx.corpus.val, self.cfg.eval_prompts, ctx.seed + 1)
            if self.cfg.eval_prompts
            else []
        )
        self.per_epoch = steps_per_epoch(len(self.train_examples), self.cfg.batch_size)
        every = None
        if self.cfg.uses_reward and self.cfg.retrain:
            every = self.cfg.retrain_every_steps or period_in_steps(
                self.cfg.retrain_every_epochs, self.per_epoch
            )
        self.schedule = RetrainSchedule(self.cfg.max_steps, every)
        self.reward_model: TokenRewardModel | None = None
        if self.cfg.uses_reward:
            body = build_body(self.cfg.reward_weights, self.policy, self.tokenizer)
            self.reward_model = TokenRewardModel(body, self.cfg.reward_hidden, self.cfg.reward_bound)
        self.sampling = CandidateSampling(
            Sampling(
                max_new_tokens=self.cfg.target_tokens,
                temperature=self.cfg.sample_temperature,
                top_k=self.cfg.sample_top_k,
                stop_at_eos=self.cfg.candidates_stop_at_eos,
            ),
            lengths=self.cfg.candidate_lengths,
            min_new_tokens=self.cfg.min_candidate_tokens,
        )
        #: what the reward rounds add to the summary (kept in checkpoints; the loop keeps the losses)
        self.log: dict[str, Any] = {"rounds": [], "reward_seconds": 0.0}

    # -- data ---------------------------------------------------------------------------------------
    def examples(self, docs: list, limit: int | None, seed: int) -> list[Example]:
        cfg = self.cfg
        if cfg.setting == "summarization":
            return summarization_examples(
                docs,
                self.tokenizer,
                max_source_tokens=cfg.max_source_tokens,
                template=cfg.template,
                target_tokens=cfg.target_tokens,
                max_len=self.max_len,
                seed=seed,
                limit=limit,
            )
        return continuation_examples(
            docs,
            self.tokenizer,
            min_prefix_tokens=cfg.min_prefix_tokens,
            target_tokens=cfg.target_tokens,
            max_len=self.max_len,
            seed=seed,
            limit=limit,
        )

    def policy_batch(self, step: int) -> list[Example]:
        """The examples of policy step ``step``: epochs of a permutation seeded by (seed, epoch)."""
        epoch, at = divmod(step, self.per_epoch)
        order = np.random.default_rng([self.ctx.seed, 0, epoch]).permutation(len(self.train_examples))
        b = self.cfg.batch_size
        return [self.train_examples[int(i)] for i in order[at * b : (at + 1) * b]]

    # -- reward learning ------------------------------------------------------------------------------
    def reward_round(self, index: int, step: int) -> None:
        """Train the reward model for ``reward_steps`` updates on fresh preferences from the policy."""
        cfg, model = self.cfg, self.reward_model
        assert model is not None
        start = time.perf_counter()
        device = self.accelerator.device
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.reward_lr, weight_decay=0.0)
        model.train()
        losses, agree, compared = [], 0, 0
        n = min(cfg.reward_batch_size, len(self.train_examples))
        updates = (cfg.reward_first_steps or cfg.reward_steps) if index == 0 else cfg.reward_steps
        for i in tqdm(
            range(updates), disable=not self.ctx.progress, desc=f"reward round {index}", leave=False
        ):
            pick = np.random.default_rng([self.ctx.seed, 1, index, i]).choice(
                len(self.train_examples), n, replace=False
            )
            prefs = collect_preferences(
                self.policy,
                [self.train_examples[int(j)] for j in pick],
                cfg.k,
                self.sampling,
                metric=cfg.metric,
                tokenizer=self.tokenizer,
                seed=seed_of(self.ctx.seed, 2, index, i),
                actions=self.ctx.artifacts.get("actions"),
            )
            batch = prefs.batch.to(device)
            with self.accelerator.autocast():
                rewards = model(batch.input_ids, batch.attention_mask)
            loss, e = preference_loss(
                rewards,
                prefs,
                level=cfg.reward_level,
                aggregation=cfg.aggregation,
                beta=cfg.beta,
                generator=torch.Generator().manual_seed(seed_of(self.ctx.seed, 3, index, i)),
            )
            check_loss(loss, i + 1, f"reward model round {index} ({self.ctx.variant.name})")
            loss.backward()
            if cfg.reward_grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.reward_grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            a, c = pairwise_accuracy(e.detach(), prefs.targets.to(e.device))
            agree, compared = agree + a, compared + c
        held_out, held_n = self.held_out_accuracy(index)
        seconds = time.perf_counter() - start
        self.log["reward_seconds"] += seconds
        self.log["rounds"].append(
            {
                "round": index,
                "after_policy_step": step,
                "seconds": seconds,
                "loss_first": losses[0],
                "loss_last": float(np.mean(losses[-5:])),
                "train_pair_accuracy": agree / compared if compared else None,
                "val_pair_accuracy": held_out,
                "val_pairs": held_n,
                "val_pair_ci": wilson_interval(held_out, held_n),
            }
        )
        ci = wilson_interval(held_out, held_n)
        shown = f"{held_out:.3f} [{ci[0]:.2f}, {ci[1]:.2f}] on {held_n} pairs" if ci else "n/a"
        self.ctx.log(
            f"[reward_weighted] reward round {index} (after step {step}): ListMLE {losses[0]:.4f} -> "
            f"{np.mean(losses[-5:]):.4f}, held-out pair accuracy {shown}, {seconds:.1f}s"
        )

    @torch.no_grad()
    def held_out_accuracy(self, index: int) -> tuple[float | None, int]:
        """Share of candidate pairs of validation inputs (with different metric scores) that the reward
        model orders like the metric, and the number of such pairs: does the learned guidance generalise
        beyond its training pairs? (0.5 is chance; read it with its interval.)"""
        if not self.val_examples or self.reward_model is None:
            return None, 0
        cfg, model = self.cfg, self.reward_model
        prefs = collect_preferences(
            self.policy,
            self.val_examples,
            cfg.k,
            self.sampling,
            metric=cfg.metric,
            tokenizer=self.tokenizer,
            seed=seed_of(self.ctx.seed, 4, index),
            actions=self.ctx.artifacts.get("actions"),
        )
        batch = prefs.batch.to(self.accelerator.device)
        model.eval()
        rewards = model(batch.input_ids, batch.attention_mask)
        model.train()
        _, e = preference_loss(
            rewards, prefs, level=cfg.reward_level, aggregation=cfg.aggregation, beta=cfg.beta
        )
        a, c = pairwise_accuracy(e, prefs.targets.to(e.device))
        return (a / c if c else None), int(c)

    # -- policy learning ------------------------------------------------------------------------------
    def policy_loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        examples = self.policy_batch(step)
        if cfg.objective == "reinforce":
            assert self.reward_model is not None
            return reinforce_step_loss(
                self.policy,
                self.reward_model,
                [e.source_ids for e in examples],
                samples=cfg.reinforce_samples,
                sampling=self.sampling,
                tokenizer=self.tokenizer,
                seed=seed_of(self.ctx.seed, 5, step),
                alpha=cfg.entropy_coef,
                weight=cfg.reinforce_weight,
                level=cfg.reward_level,
                baseline=cfg.reinforce_baseline,
            )
        batch = supervised_batch(examples, self.pad).to(self.accelerator.device)
        return supervised_loss(
            self.policy,
            batch,
            objective=cfg.objective,
            reward_model=self.reward_model,
            level=cfg.reward_level,
        )

    def run(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        wall = time.perf_counter()
        optimizer = make_optimizer(self.policy, cfg)
        scheduler = get_scheduler(
            _SCHEDULERS[cfg.scheduler],
            optimizer,
            num_warmup_steps=cfg.warmup_steps,
            num_training_steps=cfg.max_steps,
        )
        # one checkpoint holds both models: the policy and the reward model it is trained against
        modules = torch.nn.ModuleDict({"policy": self.policy})
        if self.reward_model is not None:
            modules["reward"] = self.reward_model
        loop = TrainingLoop(
            ctx, "reward_weighted", accelerator=self.accelerator, model=self.policy, optimizer=optimizer,
            scheduler=scheduler, max_steps=cfg.max_steps, checkpoint_every=cfg.checkpoint_every,
            grad_clip=cfg.grad_clip, stop_after=self.trainer.stop_after, checkpointed=modules, desc="policy",
        )  # fmt: skip
        resumed = loop.resume()
        if "log" in resumed:
            self.log = {k: resumed["log"][k] for k in ("rounds", "reward_seconds")}
        self.policy = loop.model
        ctx.log(
            f"[reward_weighted] {cfg.objective}: {len(self.train_examples)} training pairs, "
            f"{self.per_epoch} steps/epoch, reward rounds before steps "
            f"{self.schedule.rounds() if self.reward_model is not None else []}"
        )
        if loop.start == 0 and self.reward_model is not None:
            self.reward_round(0, 0)

        def after_step(done: int, value: float) -> None:
            if self.reward_model is not None and self.schedule.fires(done):
                self.reward_round(self.schedule.rounds().index(done), done)
                self.policy.train()

        result = loop.run(
            lambda policy, step: self.policy_loss(step),
            after_step=after_step,
            checkpoint_extra=lambda done: {"log": self.log},
        )
        self.save(result, time.perf_counter() - wall)

    def save(self, result: LoopResult, wall: float) -> None:
        ctx, cfg = self.ctx, self.cfg
        policy = self.accelerator.unwrap_model(self.policy)
        policy.save_pretrained(ctx.out_dir / "model", safe_serialization=True)
        self.tokenizer.save_pretrained(ctx.out_dir / "model")
        if self.reward_model is not None:
            self.reward_model.save(ctx.out_dir / "reward_model")
        reward_s, policy_s = self.log["reward_seconds"], result.step_seconds
        summary = {
            "variant": ctx.variant.model_dump(mode="json"),
            "config": cfg.model_dump(mode="json"),
            "seed": ctx.seed,
            "weights": str(ctx.inputs.get("weights", "")),
            "steps": cfg.max_steps,
            "resumed_from_step": result.start or None,
            "train_pairs": len(self.train_examples),
            "steps_per_epoch": self.per_epoch,
            "retrain_after_steps": self.schedule.steps() if self.reward_model is not None else [],
            "reward_rounds": self.log["rounds"],
            "reward_model_accuracy": reward_accuracy_summary(self.log["rounds"]),
            "final_policy_loss": result.final_loss,
            "policy_parameters": sum(p.numel() for p in policy.parameters()),
            "reward_parameters": sum(p.numel() for p in self.reward_model.parameters())
            if self.reward_model is not None
            else 0,
            "reward_train_seconds": reward_s,
            "policy_train_seconds": policy_s,
            "reward_share": reward_s / (reward_s + policy_s) if reward_s + policy_s > 0 else 0.0,
            "wall_seconds": wall,  # this process only (a resumed run counts from the resume)
        }
        (ctx.out_dir / "training.json").write_text(json.dumps(summary, indent=2))
        ctx.log(
            f"[reward_weighted] done: policy loss {summary['final_policy_loss']:.4f}; reward training "
            f"{reward_s:.1f}s of {reward_s + policy_s:.1f}s ({100 * summary['reward_share']:.0f}%)"
        )


def load_base(ctx: TrainContext) -> tuple[torch.nn.Module, Any]:
    """The starting policy and its tokenizer from the ``weights`` requirement's artifact."""
    path = Path(ctx.inputs["weights"]) / "model"
    if not (path / "config.json").is_file():
        raise PlanevalError(
            f"the weights artifact {ctx.inputs['weights']} has no model/ folder of a causal LM"
        )
    policy = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return policy, tokenizer


@TRAINERS.register("reward_weighted")
class RewardWeightedTrainer(Trainer):
    """Preference-grounded token-level guidance; the artifact is the policy's ``save_pretrained``."""

    Config = RewardWeightedConfig
    version = "1"

    def __init__(self, stop_after: int | None = None) -> None:
        #: stop with ``TrainingInterrupted`` once this many policy steps are done (tests simulate a kill)
        self.stop_after = stop_after

    def context_length(self, config: RewardWeightedConfig, required: dict[str, int | None]) -> int | None:
        return config.weights.context_length(required.get("weights"))  # the policy, fine-tuned

    def requires(self, config: RewardWeightedConfig) -> dict[str, Requirement]:
        """The starting policy."""
        base = config.weights.requirement()
        assert base is not None  # the field takes variant:<name> only
        return {"weights": base}

    def pretrained(self, config: RewardWeightedConfig) -> dict[str, str]:
        """A pretrained reward body (``reward_weights: hf:…``), checked before any work."""
        body = config.reward_weights
        return {"reward_weights": name} if body is not None and (name := body.pretrained()) else {}

    def fingerprint(self, config: RewardWeightedConfig) -> str:
        """A local pretrained reward body: its digest, so the model key follows its files."""
        return config.reward_weights.fingerprint() if config.reward_weights is not None else ""

    def artifacts(self, config: RewardWeightedConfig) -> tuple[str, ...]:
        """The suite's writing actions, when the sequence metric compares action sequences."""
        return ("actions",) if SEQUENCE_METRICS.get(config.metric).needs_actions else ()

    def capabilities(self, config: RewardWeightedConfig) -> frozenset[str]:
        return HFCausalLM.capabilities

    def train(self, ctx: TrainContext) -> None:
        if "weights" not in ctx.inputs:
            raise PlanevalError("reward_weighted needs its starting model artifact (ctx.inputs['weights'])")
        _Run(self, ctx).run()

    def load(self, artifact_dir: Path, identity: str) -> HFCausalLM:
        return PlainLMTrainer().load(artifact_dir, identity)
