"""Where the reward-weighted family's time goes, on the tiny GPT-2 (4 layers, d=256, 128 positions) with
random weights: one reward update (sample K=3 candidates of 64 tokens for 4 inputs, score them with
ROUGE-L, ListMLE forward/backward of the reward model) against one policy step (batch 8, 64 target
tokens) with plain MLE and with reward-weighted MLE. The ratio says how many policy steps one reward
update costs, which with the schedule gives the reward-training share recorded in ``training.json``.

Run: ``.venv/bin/pytest benchmarks/ -k reward --benchmark-enable -q``.
"""

from __future__ import annotations

import pytest
import torch
from _models import tiny_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

from harness.sampling import Sampling
from trainers.reward_weighted.data import Example, supervised_batch
from trainers.reward_weighted.policy import supervised_loss
from trainers.reward_weighted.preferences import CandidateSampling, collect_preferences, preference_loss
from trainers.reward_weighted.reward_model import TokenRewardModel, build_body

K, INPUTS, BATCH, TARGET, SOURCE = 3, 4, 8, 64, 48
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    tok = tiny_tokenizer(8192)
    config = GPT2Config(
        vocab_size=8192, n_positions=128, n_embd=256, n_layer=4, n_head=4,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
    )  # fmt: skip
    policy = GPT2LMHeadModel(config).train()
    reward = TokenRewardModel(build_body(None, policy, tok)).train()  # a copy of the policy body
    g = torch.Generator().manual_seed(1)
    examples = [
        Example(
            str(i),
            tuple(torch.randint(1, 8192, (SOURCE,), generator=g).tolist()),
            tuple(torch.randint(1, 8192, (TARGET,), generator=g).tolist()),
            "the river walks slowly because the city reads the story " * 4,
        )
        for i in range(BATCH)
    ]
    return tok, policy, reward, examples


def _mean(benchmark) -> float:
    return float(benchmark.stats.stats.mean) if benchmark.stats else 0.0


def test_reward_update(benchmark, setup) -> None:
    tok, policy, reward, examples = setup
    sampling = CandidateSampling(Sampling(max_new_tokens=TARGET, stop_at_eos=False))

    def update() -> None:
        prefs = collect_preferences(
            policy, examples[:INPUTS], K, sampling, metric="rougeL", tokenizer=tok, seed=0
        )
        rewards = reward(prefs.batch.input_ids, prefs.batch.attention_mask)
        loss, _ = preference_loss(rewards, prefs, level="token", aggregation="avg", beta=2.0)
        loss.backward()
        reward.zero_grad(set_to_none=True)

    benchmark.pedantic(update, rounds=3, warmup_rounds=1)
    _TIMES["reward_update"] = _mean(benchmark)


@pytest.mark.parametrize("objective", ["mle", "wmle"])
def test_policy_step(benchmark, setup, objective: str, record_figure) -> None:
    tok, policy, reward, examples = setup
    batch = supervised_batch(examples, tok.eos_token_id)

    def step() -> None:
        loss, _ = supervised_loss(policy, batch, objective=objective, reward_model=reward)
        loss.backward()
        policy.zero_grad(set_to_none=True)

    benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    _TIMES[objective] = _mean(benchmark)
    if {"reward_update", "mle", "wmle"} <= set(_TIMES) and _TIMES["mle"] > 0:
        record_figure(
            "reward-weighted costs",
            f"reward update {_TIMES['reward_update']:.2f}s = {_TIMES['reward_update'] / _TIMES['wmle']:.1f} "
            f"WMLE steps; WMLE step {_TIMES['wmle']:.2f}s = {_TIMES['wmle'] / _TIMES['mle']:.2f} MLE steps",
        )
