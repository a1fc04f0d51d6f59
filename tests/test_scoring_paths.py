"""The fused scoring path (LM head + log-softmax a chunk at a time) and bf16 autocast of
``HFCausalLM``, against the plain path on a micro GPT-2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _models import micro_model, sample_texts, tiny_tokenizer

from harness import hf_adapter
from harness.adapters import SpanRequest
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling


@pytest.fixture(scope="module")
def parts():
    tok = tiny_tokenizer()
    return micro_model(len(tok), n_positions=64), tok


def requests(lm: HFCausalLM) -> list[SpanRequest]:
    rng = np.random.default_rng(1)
    out = []
    for length, n in [(64, 63), (40, 17), (2, 1), (30, 30 - 1), (12, 3)]:
        out.append(SpanRequest([0, *rng.integers(1, len(lm.tokenizer), length - 1).tolist()], n))
    return out


def test_fused_equals_plain_path(parts, monkeypatch) -> None:
    model, tok = parts
    fused, plain = (
        HFCausalLM(model, tok, "t:fused", batch_size=2),
        HFCausalLM(model, tok, "t:plain", batch_size=2),
    )
    plain._fused = False
    monkeypatch.setattr(hf_adapter, "SCORE_CHUNK", 7)  # several chunks per batch
    got, want = fused.score_spans(requests(fused)), plain.score_spans(requests(plain))
    assert fused._fused is True  # the first batch's check passed: the fused path ran
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.logprobs, b.logprobs, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(a.greedy, b.greedy)


def test_a_model_whose_head_is_not_plain_keeps_the_plain_path(parts) -> None:
    """A model that post-processes its logits (here: scaled) fails the first-batch check."""
    model, tok = parts

    class Scaled(type(model)):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 0.5
            return out

    scaled = Scaled(model.config).eval()
    scaled.load_state_dict(model.state_dict())
    lm = HFCausalLM(scaled, tok, "t:scaled", batch_size=2)
    got = lm.score_spans(requests(lm))
    assert lm._fused is False
    ids = requests(lm)[1].ids
    with torch.no_grad():
        logp = torch.log_softmax(scaled(torch.tensor([ids[:-1]])).logits[0].double(), -1)
    want = logp[-17:][torch.arange(17), torch.tensor(ids[-17:])].numpy()
    np.testing.assert_allclose(got[1].logprobs, want, atol=2e-5)


def test_bf16_autocast_scores_close_to_fp32_and_generates(parts) -> None:
    model, tok = parts
    fp32 = HFCausalLM(model, tok, "t:fp32", batch_size=4)
    bf16 = HFCausalLM(model, tok, "t:bf16", batch_size=4, autocast="bf16")
    texts = sample_texts(4, seed=5, sentences=(4, 6))
    a = np.concatenate(fp32.token_logprobs(texts, mode="rolling"))
    b = np.concatenate(bf16.token_logprobs(texts, mode="rolling"))
    assert len(a) == len(b) and not np.array_equal(a, b)  # bf16 matmuls did run
    assert abs(b.sum() / a.sum() - 1) < 0.01  # total NLL within 1%
    gens = bf16.generate(["The river"], Sampling(max_new_tokens=5, temperature=0.0))
    assert len(gens) == 1 and len(gens[0].token_ids) <= 5
    with pytest.raises(ValueError, match="unknown autocast"):
        HFCausalLM(model, tok, "t:x", autocast="int8")
