"""Generation throughput of a planner model vs plain ``generate()`` of the same base LM.

Both sides sample the same number of tokens for the same prompts from the tiny GPT-2 of docs/environment.md
(4 layers, d=256, random weights, a logit bias on "." so that sentences end about every 16 tokens).
The reference is transformers' ``model.generate`` with a KV cache
on the bare LM; the planner side is ``PlannerLM.generate``: the same LM with the action conditioning
hooked into layers 2–3, re-planning at every sentence end — which embeds the finished sentence with
the real packaged MiniLM encoder and runs the planner. The ratio is the price of planning.

Run: ``make bench`` (or ``.venv/bin/pytest benchmarks/bench_planner.py --benchmark-enable -q``).
"""

from __future__ import annotations

import math

import pytest
import torch
from _models import tiny_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

from harness.actions import DEFAULT_ENCODER, SentenceEmbedder
from harness.sampling import Sampling
from trainers.planner.adapter import PlannerLM
from trainers.planner.model import PlannedLM

N_PROMPTS = 8
NEW_TOKENS = 96
_TIMES: dict[str, float] = {}
PROMPTS = [f"The river number {i} runs north. It is long." for i in range(N_PROMPTS)]


@pytest.fixture(scope="module")
def lm() -> GPT2LMHeadModel:
    tok = tiny_tokenizer(8192)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=8192, n_positions=128, n_embd=256, n_layer=4, n_head=4,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
    )  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    # random weights almost never write a full stop, so nothing would be re-planned: a logit bias on
    # "." (log(V/16): about one sentence end every 16 tokens, as in real text) makes both sides — the
    # hook is on the shared LM — generate sentences, and the planner re-plan at each end
    dot = tok(".", add_special_tokens=False)["input_ids"]
    assert len(dot) == 1

    def sentence_ends(module: torch.nn.Module, args: tuple, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.clone()
        logits[..., dot[0]] += math.log(config.vocab_size / 16)
        return logits

    model.lm_head.register_forward_hook(sentence_ends)
    return model


@pytest.fixture(scope="module")
def planner_lm(lm: GPT2LMHeadModel) -> PlannerLM:
    embedder = SentenceEmbedder(DEFAULT_ENCODER)
    torch.manual_seed(1)
    centroids = torch.nn.functional.normalize(torch.randn(32, embedder.dim), dim=-1)
    planned = PlannedLM.build(lm, centroids, "last-2", DEFAULT_ENCODER)
    return PlannerLM(planned, tiny_tokenizer(8192), "bench", batch_size=N_PROMPTS)


@pytest.mark.benchmark(group="generation")
def test_generate_plain_hf(benchmark, lm: GPT2LMHeadModel, record_figure) -> None:
    tok = tiny_tokenizer(8192)
    tok.padding_side = "left"
    enc = tok([tok.eos_token + p for p in PROMPTS], return_tensors="pt", padding=True)

    def run() -> torch.Tensor:
        with torch.inference_mode():
            return lm.generate(
                **enc, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=True, top_k=0,
                pad_token_id=tok.eos_token_id,
            )  # fmt: skip

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert out.shape[1] - enc["input_ids"].shape[1] == NEW_TOKENS
    _TIMES["plain"] = benchmark.stats.stats.min
    benchmark.extra_info["tokens_per_s"] = round(N_PROMPTS * NEW_TOKENS / _TIMES["plain"])


@pytest.mark.benchmark(group="generation")
def test_generate_planner(benchmark, planner_lm: PlannerLM, record_figure) -> None:
    calls = []

    def run() -> list:
        gens = planner_lm.generate(PROMPTS, Sampling(max_new_tokens=NEW_TOKENS, seed=0, stop_at_eos=False))
        calls.append(sum(g.meta["plan_calls"] for g in gens))
        return gens

    gens = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert all(len(g.token_ids) == NEW_TOKENS for g in gens)
    _TIMES["planner"] = benchmark.stats.stats.min
    rate = N_PROMPTS * NEW_TOKENS / _TIMES["planner"]
    benchmark.extra_info.update(tokens_per_s=round(rate), plan_calls=calls[-1])
    if "plain" in _TIMES:
        ratio = _TIMES["planner"] / _TIMES["plain"]
        benchmark.extra_info["time_ratio_vs_plain_generate"] = round(ratio, 2)
        record_figure(
            "planner generation",
            f"{rate:,.0f} tok/s vs plain generate() {N_PROMPTS * NEW_TOKENS / _TIMES['plain']:,.0f} tok/s "
            f"(time ratio {ratio:.2f}; {calls[-1]} plans for {N_PROMPTS} rows of {NEW_TOKENS} tokens)",
        )
