"""The policy objectives: MLE, reward-weighted MLE and REINFORCE with an entropy bonus
(docs/families/reward_weighted.md).

Every reward-model call here runs under ``torch.no_grad()``: the guidance is a constant to the policy,
so gradients reach the policy only through its log-probabilities and never flow into the reward model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from trainers.reward_weighted.data import SeqBatch, make_batch
from trainers.reward_weighted.losses import (
    entropy,
    reinforce_loss,
    returns_to_go,
    sequence_weighted_mle_loss,
    token_nll,
    wmle_loss,
)
from trainers.reward_weighted.preferences import CandidateSampling, last_scored, sample_candidates


def policy_nll(policy: torch.nn.Module, batch: SeqBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token NLL ``(B, T)`` of every row (token t given tokens < t), and the logits."""
    logits = policy(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    return token_nll(logits, batch.input_ids), logits


@torch.no_grad()
def guidance(reward_model: torch.nn.Module, batch: SeqBatch, level: str) -> torch.Tensor:
    """The reward model's guidance for every scored token, ``(B, T)``, as a constant: the token
    reward r(s_t, a_t) (token level) or the sequence's reward broadcast to its tokens (sequence level)."""
    was_training = reward_model.training
    reward_model.eval()
    r = reward_model(batch.input_ids, batch.attention_mask).float()
    reward_model.train(was_training)
    if level == "sequence":
        r = last_scored(r, batch.scored)[:, None].expand_as(r)
    return r * batch.scored


def supervised_loss(
    policy: torch.nn.Module,
    batch: SeqBatch,
    *,
    objective: str,
    reward_model: torch.nn.Module | None = None,
    level: str = "token",
) -> tuple[torch.Tensor, dict[str, float]]:
    """MLE (uniform weights) or reward-weighted MLE on the true targets of a supervised batch."""
    nll, _ = policy_nll(policy, batch)
    mask = batch.scored
    if objective == "mle":
        return wmle_loss(nll, mask, mask), {}
    if reward_model is None:
        raise ValueError("reward-weighted MLE needs a reward model")
    r = guidance(reward_model, batch, level)
    if level == "sequence":
        loss = sequence_weighted_mle_loss(nll, r.max(-1).values, mask)
    else:
        loss = wmle_loss(nll, r, mask)
    mean_r = float((r * mask).sum() / mask.sum())
    return loss, {"reward": mean_r}


def reinforce_step_loss(
    policy: torch.nn.Module,
    reward_model: torch.nn.Module,
    sources: Sequence[Sequence[int]],
    *,
    samples: int,
    sampling: CandidateSampling,
    tokenizer: Any,
    seed: int,
    alpha: float,
    weight: str = "reward",
    level: str = "token",
    baseline: str = "mean",
) -> tuple[torch.Tensor, dict[str, float]]:
    """REINFORCE on the learned token reward: sample from the policy, weight each sampled token's
    log-probability by its reward (or return-to-go) minus a baseline, add the entropy bonus α·H. No
    supervised target is used."""
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    cands = sample_candidates(policy, sources, samples, sampling, eos_id=eos, pad_id=pad, seed=seed)
    device = next(policy.parameters()).device
    batch = make_batch([s for s in sources for _ in range(samples)], cands, pad).to(device)
    r = guidance(reward_model, batch, level)
    weights = returns_to_go(r, batch.scored) if weight == "return" else r
    if baseline == "mean":  # a constant baseline: unbiased, and centres the weights around 0
        weights = (weights - (weights * batch.scored).sum() / batch.scored.sum()) * batch.scored
    nll, logits = policy_nll(policy, batch)
    # the distribution token t was drawn from is the one at position t-1
    token_entropy = F.pad(entropy(logits)[:, :-1], (1, 0))
    loss = reinforce_loss(nll, weights, batch.scored, token_entropy, alpha)
    n = batch.scored.sum()
    stats = {
        "reward": float(r.sum() / n),
        "entropy": float((token_entropy.detach() * batch.scored).sum() / n),
    }
    return loss, stats
