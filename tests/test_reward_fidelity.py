"""The reward-weighted rows compare what they say (issue 14): candidates of varying length, so the sum
and avg aggregations are different ablations, and the reward model's accuracy comes with n and a CI."""

from __future__ import annotations

import pytest
import torch
from _models import micro_model, tiny_tokenizer

from harness.sampling import Sampling
from trainers.reward_weighted.config import RewardWeightedConfig
from trainers.reward_weighted.losses import aggregate
from trainers.reward_weighted.preferences import CandidateSampling, sample_candidates
from trainers.reward_weighted.trainer import reward_accuracy_summary, wilson_interval


def _candidates(n: int, temperature: float = 1.0, **kw) -> CandidateSampling:
    """``n`` new tokens at ``temperature``, end-of-text suppressed (the candidates' default)."""
    return CandidateSampling(Sampling(max_new_tokens=n, temperature=temperature, stop_at_eos=False), **kw)


def _policy() -> torch.nn.Module:
    torch.manual_seed(0)
    return micro_model(len(tiny_tokenizer())).train()


def test_sampled_candidate_lengths_vary_and_are_seeded():
    policy, sources = _policy(), [[0, *range(5, 20)], [0, 30, 31], [0, 7]]
    s = _candidates(16, lengths="sampled", min_new_tokens=4)
    one = sample_candidates(policy, sources, 4, s, eos_id=0, pad_id=0, seed=3)
    assert one == sample_candidates(policy, sources, 4, s, eos_id=0, pad_id=0, seed=3)
    lengths = [len(c) for c in one]
    assert all(4 <= n <= 16 for n in lengths) and len(set(lengths)) > 3
    fixed = sample_candidates(policy, sources, 4, _candidates(16), eos_id=0, pad_id=0, seed=3)
    assert {len(c) for c in fixed} == {16}
    # a sampled candidate is a prefix of the fixed-length one drawn with the same seed
    assert all(f[: len(c)] == c for c, f in zip(one, fixed, strict=True))


def test_sum_and_avg_differ_once_lengths_vary():
    """With equal lengths avg·L̄ is sum (the old pg-sum = pg-avg bit for bit); with varying ones the
    two aggregations rank candidates differently."""
    policy, sources = _policy(), [[0, *range(5, 20)]]
    cands = sample_candidates(
        policy, sources, 3, _candidates(12, lengths="sampled", min_new_tokens=2), eos_id=0, pad_id=0, seed=11
    )
    width = max(len(c) for c in cands)
    mask = torch.tensor([[[1.0] * len(c) + [0.0] * (width - len(c)) for c in cands]])
    rewards = mask * 0.5  # every token the same reward: sum follows length, avg does not
    total, average = aggregate(rewards, mask, "sum")[0], aggregate(rewards, mask, "avg")[0]
    assert not torch.allclose(total, average)
    assert len(set(average.tolist())) == 1 and len(set(total.tolist())) > 1
    equal = torch.ones(1, 3, 12)
    assert torch.equal(aggregate(equal, equal, "sum"), aggregate(equal, equal, "avg"))


def test_default_config_samples_lengths():
    cfg = RewardWeightedConfig(weights="variant:tiny-lm")
    assert cfg.candidate_lengths == "sampled" and cfg.min_candidate_tokens <= cfg.target_tokens
    with pytest.raises(ValueError, match="min_candidate_tokens"):
        RewardWeightedConfig(weights="variant:tiny-lm", target_tokens=8, min_candidate_tokens=9)


def test_reward_accuracy_with_n_and_wilson_interval():
    lo, hi = wilson_interval(0.6, 20)
    assert lo == pytest.approx(0.3866, abs=1e-3) and hi == pytest.approx(0.7812, abs=1e-3)  # Wilson 12/20
    assert wilson_interval(None, 0) is None
    rounds = [
        {"val_pair_accuracy": 0.55, "val_pairs": 20, "val_pair_ci": list(wilson_interval(0.55, 20))},
        {"val_pair_accuracy": 0.8, "val_pairs": 200, "val_pair_ci": list(wilson_interval(0.8, 200))},
    ]
    summary = reward_accuracy_summary(rounds)
    assert summary["accuracy"] == 0.8 and summary["n_pairs"] == 200 and summary["better_than_chance"]
    assert not reward_accuracy_summary(rounds[:1])["better_than_chance"]  # 0.55 on 20 pairs: chance
    assert reward_accuracy_summary([]) is None
