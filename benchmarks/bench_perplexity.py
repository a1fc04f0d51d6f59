"""Perplexity throughput: our adapter vs lm-eval's own ``HFLM`` on the same model and texts.

The model is the tiny GPT-2 of DESIGN §10 (4 layers, d=256, 8k vocabulary, 128 positions) with random
weights, saved to a local folder that both sides load; the texts are 30 synthetic documents of ~300
tokens. Both sides go through lm-eval's interface, ``loglikelihood_rolling``, with the same batch size,
so the ratio compares the scoring paths (windowing, batching, the forward, log-softmax). Paper mode
(one 127-token forward per scored token, inherent to the definition) is timed on its own.

Run: ``.venv/bin/pytest benchmarks/ --benchmark-enable -q``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _models import sample_texts, tiny_tokenizer
from lm_eval.api.instance import Instance
from transformers import GPT2Config, GPT2LMHeadModel

from harness.hf_adapter import HFCausalLM

N_DOCS = 30
BATCH = 16
PAPER_DOCS = 4  # paper mode costs ~127x the compute of rolling: a few documents give a stable rate
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-gpt2")
    tok = tiny_tokenizer(8192)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=8192, n_positions=128, n_embd=256, n_layer=4, n_head=4,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
    )  # fmt: skip
    GPT2LMHeadModel(config).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return sample_texts(N_DOCS, seed=42, sentences=(30, 40))


@pytest.fixture(scope="module")
def n_tokens(texts: list[str]) -> int:
    tok = tiny_tokenizer(8192)
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)


def _requests(texts: list[str]) -> list[Instance]:
    return [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]


def _rate(benchmark, n: int) -> float:
    """Tokens per second of the fastest round: on a shared 2-core machine the other rounds mostly
    measure what else is running."""
    return n / benchmark.stats.stats.min


@pytest.mark.benchmark(group="rolling perplexity")
def test_rolling_lm_eval_hflm(benchmark, model_dir: Path, texts: list[str], n_tokens: int) -> None:
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(model_dir), device="cpu", batch_size=BATCH)
    reqs = _requests(texts)
    out = benchmark.pedantic(
        lambda: lm.loglikelihood_rolling(reqs, disable_tqdm=True), rounds=5, warmup_rounds=1
    )
    _TIMES["lm_eval"] = benchmark.stats.stats.min
    _TIMES["lm_eval_nll"] = -float(np.sum(out))
    benchmark.extra_info.update(tokens=n_tokens, tokens_per_s=round(_rate(benchmark, n_tokens)))


@pytest.mark.benchmark(group="rolling perplexity")
def test_rolling_planeval(benchmark, model_dir: Path, texts: list[str], n_tokens: int, record_figure) -> None:
    lm = HFCausalLM.from_pretrained(str(model_dir), batch_size=BATCH)
    reqs = _requests(texts)
    out = benchmark.pedantic(lambda: lm.loglikelihood_rolling(reqs), rounds=5, warmup_rounds=1)
    ours = benchmark.stats.stats.min
    rate = _rate(benchmark, n_tokens)
    benchmark.extra_info.update(tokens=n_tokens, tokens_per_s=round(rate))
    line = f"planeval {rate:,.0f} tokens/s"
    if "lm_eval" in _TIMES:
        # the same numbers, not just the same speed
        assert -float(np.sum(out)) == pytest.approx(_TIMES["lm_eval_nll"], rel=1e-5)
        ratio = ours / _TIMES["lm_eval"]  # fastest round of each
        benchmark.extra_info.update(time_ratio_ours_over_lm_eval=round(ratio, 3))
        theirs = n_tokens / _TIMES["lm_eval"]
        line += f"; lm-eval HFLM {theirs:,.0f} tokens/s; time ours/lm-eval = {ratio:.3f}"
    record_figure("rolling perplexity", line)


@pytest.mark.benchmark(group="paper perplexity")
def test_paper_mode_planeval(benchmark, model_dir: Path, texts: list[str], record_figure) -> None:
    lm = HFCausalLM.from_pretrained(str(model_dir), batch_size=BATCH)
    docs = texts[:PAPER_DOCS]
    n = sum(len(lm.encode(t)) for t in docs)
    benchmark.pedantic(lambda: lm.token_logprobs(docs, mode="paper", window=128), rounds=2, warmup_rounds=0)
    rate = _rate(benchmark, n)
    benchmark.extra_info.update(tokens=n, tokens_per_s=round(rate))
    record_figure("paper perplexity", f"planeval {rate:,.0f} scored tokens/s ({n} tokens, window 128)")
