"""Where the plan-tuned family's time goes, on the plantune model (GPT-2, 4 layers, d=128, 256 positions,
BPE 1024) with random weights and level 1-3 arithmetic problems:

* one SFT step (batch 16, forward + backward, completion-only labels) per format — the plan makes M1's
  rows about twice as long as the baseline's, and M2 has two rows per problem;
* greedy generation of 32 answers by an M1 adapter (one stage) and an M2 adapter (two stages).

Run: ``.venv/bin/pytest benchmarks/bench_plan_tuning.py --benchmark-enable -q``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from harness.corpus import build_corpus
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling
from harness.specs import CorpusSpec, TokenizerSpec
from harness.tokenizer import build_tokenizer
from trainers.plan_tuning.adapter import TwoStageLM
from trainers.plan_tuning.data import MathExample, prompt_of, rows, tokenize_rows

BATCH, PROMPTS, NEW_TOKENS = 16, 32, 96
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    corpus = build_corpus(CorpusSpec(source="arithmetic", params={"n_problems": 400, "levels": [1, 2, 3]}))
    tok = build_tokenizer(TokenizerSpec(vocab_size=1024), corpus, Path(tmp_path_factory.mktemp("tok")))
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok), n_positions=256, n_embd=128, n_layer=4, n_head=4,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
    )  # fmt: skip
    examples = [MathExample.from_document(d) for d in corpus.train[:BATCH]]
    return tok, GPT2LMHeadModel(config), examples


def _batch(tok, examples, fmt: str) -> dict[str, torch.Tensor]:
    pairs = [pair for ex in examples for pair in rows(ex, fmt)][:BATCH]
    t = tokenize_rows(tok, pairs, 256)
    width = max(map(len, t.input_ids))
    ids = torch.full((len(pairs), width), tok.eos_token_id)
    labels = torch.full((len(pairs), width), -100)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for i, (row, keep) in enumerate(zip(t.input_ids, t.completion_mask, strict=True)):
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, : len(row)] = torch.tensor([x if k else -100 for x, k in zip(row, keep, strict=True)])
        mask[i, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _mean(benchmark) -> float:
    return float(benchmark.stats.stats.mean) if benchmark.stats else 0.0


@pytest.mark.parametrize("fmt", ["solution", "plan", "two-stage"])
def test_sft_step(benchmark, setup, fmt: str, record_figure) -> None:
    tok, model, examples = setup
    model.train()
    batch = _batch(tok, examples, fmt)

    def step() -> None:
        model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)

    benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    _TIMES[fmt] = _mean(benchmark)
    tokens = int(batch["attention_mask"].sum())
    record_figure(f"sft step {fmt}", f"{_TIMES[fmt]:.3f} s/step, {tokens} tokens in the batch")


@pytest.mark.parametrize("stages", [1, 2])
def test_generation(benchmark, setup, stages: int, record_figure) -> None:
    tok, model, examples = setup
    cls = TwoStageLM if stages == 2 else HFCausalLM
    lm = cls(model, tok, "bench")
    prompts = [prompt_of(ex.question) for ex in examples] * (PROMPTS // len(examples))

    def run() -> None:
        lm.generate(prompts, Sampling(max_new_tokens=NEW_TOKENS, temperature=0.0))

    benchmark.pedantic(run, rounds=2, warmup_rounds=0)
    record_figure(f"generation {stages} stage(s)", f"{_mean(benchmark) / len(prompts) * 1000:.1f} ms/answer")
