"""The losses of the reward-weighted family (docs/families/reward_weighted.md), as pure tensor functions.

Reward learning: token rewards r_t in (0, 1] of each of K candidate sequences are aggregated into a
sequence evaluation e = f(r_0..r_{T-1}) and fitted to the metric's ranking of the candidates with the
Plackett–Luce (ListMLE) negative log-likelihood ``Σ_k [log Σ_{j≥k} exp e_(j) - e_(k)]``. The
aggregations compare sequences of different lengths; ``avg``, ``max`` and ``min`` are multiplied by the
mean length L̄ of the K candidates of the same input so that they sit on the scale of ``sum`` (as in the
paper) without handing longer candidates an advantage: ``sum`` grows with length, so it prefers a longer
sequence of smaller rewards to a shorter one of larger rewards; ``avg`` does not.

Policy learning: reward-weighted MLE with per-sequence self-normalised weights w_t = r_t / Σ_t' r_t'
(on the true target tokens) and REINFORCE on the token reward with an entropy bonus α. Both take the
rewards as constants (detached): gradients reach the policy only through log π, never the reward model.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Aggregation = Literal["sum", "avg", "max", "min"]
AGGREGATIONS: tuple[str, ...] = ("sum", "avg", "max", "min")


# -- reward learning -------------------------------------------------------------------------------


def aggregate(rewards: torch.Tensor, mask: torch.Tensor, how: str, beta: float = 2.0) -> torch.Tensor:
    """Sequence evaluations ``(N, K)`` from token rewards ``(N, K, T)`` and a 0/1 mask of the candidate
    tokens. ``avg`` = mean·L̄; ``max`` = L̄·β·logsumexp(r/β); ``min`` = -L̄·β·logsumexp(-r/β), with L̄ the
    mean length of the K candidates of each input (soft max/min: β → 0 gives the hard max/min)."""
    if rewards.dim() != 3 or rewards.shape != mask.shape:
        raise ValueError(f"rewards and mask must both be (N, K, T); got {rewards.shape} and {mask.shape}")
    valid = mask.bool()
    lengths = valid.sum(-1).to(rewards.dtype)  # (N, K)
    if bool((lengths == 0).any()):
        raise ValueError("every candidate needs at least one token")
    mean_len = lengths.mean(-1, keepdim=True)  # (N, 1): L̄ of each input's K candidates
    if how == "sum":
        return (rewards * valid).sum(-1)
    if how == "avg":
        return (rewards * valid).sum(-1) / lengths * mean_len
    if how in ("max", "min"):
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        sign = 1.0 if how == "max" else -1.0
        scaled = (sign * rewards / beta).masked_fill(~valid, float("-inf"))
        return sign * beta * torch.logsumexp(scaled, dim=-1) * mean_len
    raise ValueError(f"unknown aggregation {how!r} (valid: {', '.join(AGGREGATIONS)})")


def ranking_order(targets: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices ``(N, K)`` that sort each row of ``targets`` best first, ties in random order: the
    columns are shuffled by a random permutation before a stable descending sort, so tied candidates
    keep the (random) shuffled order."""
    k = targets.shape[1]
    perm = torch.randperm(k, generator=generator).to(targets.device)
    order = torch.sort(targets[:, perm], dim=-1, descending=True, stable=True).indices
    return perm[order]


def listmle_loss(
    scores: torch.Tensor,
    targets: torch.Tensor,
    generator: torch.Generator | None = None,
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Plackett–Luce negative log-likelihood of the targets' ranking under the model's scores, averaged
    over the N lists: ``mean_n Σ_k [logsumexp(e_(k..K)) - e_(k)]`` where e_(k) is the score of the k-th
    best candidate by target (ties broken at random; pass ``order`` to fix the ranking)."""
    if scores.shape != targets.shape or scores.dim() != 2:
        raise ValueError(f"scores and targets must both be (N, K); got {scores.shape} and {targets.shape}")
    if order is None:
        order = ranking_order(targets, generator)
    ranked = scores.gather(1, order)  # best first
    # log Σ_{j≥k} exp e_(j): a reversed cumulative logsumexp
    tail = torch.logcumsumexp(ranked.flip(-1), dim=-1).flip(-1)
    return (tail - ranked).sum(-1).mean()


def bradley_terry_loss(better: torch.Tensor, worse: torch.Tensor) -> torch.Tensor:
    """The pairwise preference loss ``-log σ(e_better - e_worse)``, averaged: ListMLE with K = 2."""
    return -F.logsigmoid(better - worse).mean()


def pairwise_accuracy(scores: torch.Tensor, targets: torch.Tensor) -> tuple[int, int]:
    """(agreeing, compared): over all pairs of candidates of the same input whose targets differ, how
    many the scores order the same way — a held-out check of a reward model."""
    ds = scores[:, :, None] - scores[:, None, :]
    dt = targets[:, :, None] - targets[:, None, :]
    compared = dt > 0
    return int(((ds > 0) & compared).sum()), int(compared.sum())


# -- policy learning -------------------------------------------------------------------------------


def wmle_weights(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Self-normalised per-token weights ``w_t = r_t / Σ_t' r_t'`` over each sequence's target tokens
    (zero elsewhere); each row sums to 1. The rewards are detached: they are constants to the policy."""
    r = rewards.detach() * mask
    total = r.sum(-1, keepdim=True)
    if bool((total <= 0).any()):
        raise ValueError("every sequence needs a target token with a positive reward")
    return r / total


def token_nll(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` negative log-likelihood of token t given tokens < t (position 0 gets 0: nothing
    predicts it). ``logits`` are the model's outputs at every position of ``input_ids``."""
    nll = F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), input_ids[:, 1:].flatten(), reduction="none"
    ).view(input_ids.shape[0], -1)
    return F.pad(nll, (1, 0))


def wmle_loss(nll: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reward-weighted MLE: ``mean_b Σ_t w_bt · NLL_bt`` with self-normalised token weights. With
    constant rewards it is the plain per-sequence mean NLL (the supervised-MLE baseline)."""
    return (wmle_weights(rewards, mask) * nll).sum(-1).mean()


def sequence_weighted_mle_loss(
    nll: torch.Tensor, seq_rewards: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The sequence-level ablation: each sequence's mean target NLL weighted by its sequence reward,
    self-normalised over the batch (``Σ_b R_b / Σ R · mean_t NLL_bt``); every token of a sequence gets the
    same weight, so the guidance carries no token-level credit assignment."""
    weights = seq_rewards.detach() / seq_rewards.detach().sum()
    per_seq = (nll * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return (weights * per_seq).sum()


def returns_to_go(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ_{t'≥t} r_t'`` over the masked tokens (an undiscounted Q estimate per token)."""
    r = rewards * mask
    return r.flip(-1).cumsum(-1).flip(-1) * mask


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the next-token distribution at every position, ``(B, T)``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def reinforce_loss(
    nll: torch.Tensor,
    weights: torch.Tensor,
    mask: torch.Tensor,
    token_entropy: torch.Tensor | None = None,
    alpha: float = 0.0,
) -> torch.Tensor:
    """REINFORCE on the token reward: ``Σ_t A_t · (-log π(a_t|s_t)) / N - α · mean_t H_t`` over the
    sampled tokens, where ``A_t`` (the reward or its return-to-go) is a constant. ``token_entropy[t]`` is
    the entropy of the distribution a_t was drawn from (aligned with ``nll``)."""
    n = mask.sum().clamp(min=1)
    loss = (weights.detach() * nll * mask).sum() / n
    if token_entropy is not None and alpha > 0:
        loss = loss - alpha * (token_entropy * mask).sum() / n
    return loss
