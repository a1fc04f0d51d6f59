"""Preferences from the current policy: K sampled candidates per input, ranked by a sequence metric
against the reference, and the reward model's preference loss on them.

Sampling is seeded per call (``torch.random.fork_rng`` + ``manual_seed``), so the candidates of reward
update i of round r are a function of (seed, r, i) and of the policy's weights alone: a resumed run
samples exactly what the killed one did, and the global RNG (dropout) is left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig

from harness.sampling import Sampling
from trainers.reward_weighted.data import Example, SeqBatch, make_batch
from trainers.reward_weighted.losses import aggregate, listmle_loss
from trainers.reward_weighted.metrics import score_sequences


@dataclass(frozen=True)
class CandidateSampling:
    """How candidates are drawn from the policy: the engine's ``Sampling`` (its ``seed`` is not read:
    every call is seeded by its own round and update), and what only candidates have."""

    sampling: Sampling
    #: "sampled": each candidate is cut to a seeded length in [min_new_tokens, max_new_tokens]
    lengths: str = "fixed"
    min_new_tokens: int = 1

    def __post_init__(self) -> None:
        if self.sampling.stop:
            raise ValueError("candidates end at end-of-text or max_new_tokens, not at stop strings")


@torch.no_grad()
def sample_candidates(
    policy: torch.nn.Module,
    sources: Sequence[Sequence[int]],
    k: int,
    candidates: CandidateSampling,
    *,
    eos_id: int,
    pad_id: int,
    seed: int,
) -> list[list[int]]:
    """``k`` sampled continuations of each source, grouped by source (row ``i*k + j``). A continuation
    that ends at end-of-text keeps that token (stopping is an action too; never before
    ``min_new_tokens``); with ``stop_at_eos=False`` end-of-text is never drawn. With ``lengths=
    "sampled"`` each continuation is then cut to a length drawn from ``[min_new_tokens,
    max_new_tokens]`` by a generator seeded with ``seed``: candidates of one source differ in length, as
    natural text does, so length-sensitive aggregations (sum vs avg) are told apart."""
    sampling = candidates.sampling
    was_training = policy.training
    policy.eval()
    device = next(policy.parameters()).device
    width = max(len(s) for s in sources)
    ids = torch.full((len(sources), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(sources), width), dtype=torch.long)
    for i, s in enumerate(sources):  # left padding: every row's next token is at the same column
        ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
        attn[i, width - len(s) :] = 1
    greedy = sampling.temperature <= 0
    config = GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        do_sample=not greedy,
        temperature=None if greedy else sampling.temperature,
        top_k=sampling.top_k or 0,
        top_p=sampling.top_p,
        num_beams=1,
        num_return_sequences=1 if greedy else k,
        pad_token_id=pad_id,
        min_new_tokens=min(candidates.min_new_tokens, sampling.max_new_tokens) if sampling.stop_at_eos else 0,
        eos_token_id=eos_id if sampling.stop_at_eos else None,
        suppress_tokens=None if sampling.stop_at_eos else [eos_id],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = policy.generate(
            input_ids=ids.to(device), attention_mask=attn.to(device), generation_config=config
        )
    policy.train(was_training)
    rows = out[:, width:].tolist()
    if greedy:
        rows = [r for r in rows for _ in range(k)]
    cands = []
    cut = np.random.default_rng([seed & 0xFFFFFFFF, 7])
    for row in rows:
        if sampling.stop_at_eos and eos_id in row:
            row = row[: row.index(eos_id) + 1]
        if candidates.lengths == "sampled":
            low = min(candidates.min_new_tokens, len(row))
            row = row[: int(cut.integers(low, len(row) + 1))]
        cands.append(row)
    return cands


@dataclass
class PreferenceBatch:
    """N inputs × K candidates: the rows to score and the metric's score of each candidate."""

    batch: SeqBatch  # N*K rows, candidate tokens scored
    targets: torch.Tensor  # (N, K) metric scores, higher is better
    k: int
    texts: list[str]


def collect_preferences(
    policy: torch.nn.Module,
    examples: Sequence[Example],
    k: int,
    sampling: CandidateSampling,
    *,
    metric: str,
    tokenizer: Any,
    seed: int,
    actions: Any = None,
) -> PreferenceBatch:
    """Sample K candidates per example from the policy and score each against the reference."""
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    sources = [e.source_ids for e in examples]
    cands = sample_candidates(policy, sources, k, sampling, eos_id=eos, pad_id=pad, seed=seed)
    texts = [tokenizer.decode(c, skip_special_tokens=True) for c in cands]
    refs = [e.reference for e in examples for _ in range(k)]
    scores = score_sequences(metric, texts, refs, actions)
    batch = make_batch([s for s in sources for _ in range(k)], cands, pad)
    return PreferenceBatch(batch, torch.tensor(scores, dtype=torch.float32).view(len(examples), k), k, texts)


def last_scored(values: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """The value at each row's last scored position, ``(B,)``: a sequence-level output."""
    pos = torch.arange(scored.shape[1], device=scored.device).expand_as(scored)
    last = torch.where(scored > 0, pos, torch.full_like(pos, -1)).max(-1).values
    return values.gather(1, last.clamp(min=0)[:, None])[:, 0]


def sequence_evaluations(
    rewards: torch.Tensor, scored: torch.Tensor, k: int, level: str, aggregation: str, beta: float
) -> torch.Tensor:
    """``(N, K)`` evaluations e of the candidates from the reward model's per-position outputs.
    Token level: the aggregation of the token rewards. Sequence level (the ablation): the output at the
    last candidate token, times the mean candidate length L̄, so it lives on the scale of ``avg``."""
    n = rewards.shape[0] // k
    r = rewards.view(n, k, -1)
    m = scored.view(n, k, -1)
    if level == "token":
        return aggregate(r, m, aggregation, beta)
    mean_len = m.sum(-1).mean(-1, keepdim=True)
    return last_scored(rewards, scored).view(n, k) * mean_len


def preference_loss(
    rewards: torch.Tensor,
    prefs: PreferenceBatch,
    *,
    level: str,
    aggregation: str,
    beta: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ListMLE loss of the reward model's evaluations against the metric's ranking, and the evaluations."""
    scored = prefs.batch.scored.to(rewards.device)
    e = sequence_evaluations(rewards, scored, prefs.k, level, aggregation, beta)
    return listmle_loss(e, prefs.targets.to(e.device), generator), e
