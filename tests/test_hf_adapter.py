"""HFCausalLM against direct, unbatched model calls on a micro GPT-2 (no hub access)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _models import micro_model, sample_texts, tiny_tokenizer
from lm_eval.api.instance import Instance

from harness.adapters import SpanRequest
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def lm(tokenizer) -> HFCausalLM:
    return HFCausalLM(micro_model(len(tokenizer), n_positions=64), tokenizer, "test:micro", batch_size=3)


def direct_logprobs(model, context: list[int], targets: list[int]) -> np.ndarray:
    """log p(targets) after ``context``, one unbatched forward in float64."""
    ids = torch.tensor([context + targets[:-1]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    rows = logp[len(context) - 1 :]
    return rows[torch.arange(len(targets)), torch.tensor(targets)].numpy()


def argmax_decode(model, ids: list[int], n: int, eos: int) -> list[int]:
    out: list[int] = []
    for _ in range(n):
        with torch.no_grad():
            nxt = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
        if nxt == eos:
            break
        out.append(nxt)
    return out


def test_properties(lm: HFCausalLM, tokenizer) -> None:
    assert lm.max_length == 64
    assert lm.prefix_token_id == tokenizer.eos_token_id == 0
    assert lm.hidden_sites() == ["embed", "layer0.resid", "layer1.resid"]


def test_score_spans_equals_direct_forward(lm: HFCausalLM) -> None:
    rng = np.random.default_rng(0)
    requests = []
    for length, n in [(5, 4), (30, 1), (65, 64), (12, 12 - 1), (2, 1), (40, 17), (7, 0)]:
        ids = [0, *rng.integers(1, len(lm.tokenizer), length - 1).tolist()]
        requests.append(SpanRequest(ids, n))
    scores = lm.score_spans(requests)
    for req, got in zip(requests, scores, strict=True):
        assert got.logprobs.dtype == np.float64 and len(got.logprobs) == req.n_score
        if req.n_score == 0:
            continue
        want = direct_logprobs(lm.model, req.ids[: -req.n_score], req.ids[-req.n_score :])
        np.testing.assert_allclose(got.logprobs, want, rtol=0, atol=2e-5)
        with torch.no_grad():
            logits = lm.model(torch.tensor([req.ids[:-1]])).logits[0, -req.n_score :]
        np.testing.assert_array_equal(
            got.greedy, (logits.argmax(-1) == torch.tensor(req.ids[-req.n_score :])).numpy()
        )


def test_score_spans_without_masked_head_matches(tokenizer, lm: HFCausalLM) -> None:
    """The full-logits fallback (models without boolean ``logits_to_keep``) gives the same numbers."""
    plain = HFCausalLM(lm.model, tokenizer, "test:plain", batch_size=2)
    plain._mask_logits = False
    reqs = [SpanRequest([0, 5, 9, 11, 40, 7], 3), SpanRequest([0, 8, 3], 2)]
    for a, b in zip(lm.score_spans(reqs), plain.score_spans(reqs), strict=True):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-6)


def test_paper_mode_equals_naive_loop(lm: HFCausalLM) -> None:
    window = 16
    text = sample_texts(1, seed=3, sentences=(3, 4))[0]
    ids = lm.document_ids(text)
    assert len(ids) > 2 * window
    naive = []
    for t in range(1, len(ids)):
        ctx = ids[max(0, t - (window - 1)) : t]
        naive.append(direct_logprobs(lm.model, ctx, [ids[t]])[0])
    got = lm.token_logprobs([text], mode="paper", window=window)[0]
    np.testing.assert_allclose(got, naive, rtol=0, atol=2e-5)


def test_rolling_mode_scores_every_token_once(lm: HFCausalLM) -> None:
    texts = sample_texts(3, seed=4, sentences=(6, 9))
    got = lm.token_logprobs(texts, mode="rolling")
    for text, lp in zip(texts, got, strict=True):
        ids = lm.document_ids(text)
        assert len(lp) == len(ids) - 1 > lm.max_length
        # the first window is an ordinary forward over the document's start
        np.testing.assert_allclose(lp[:64], direct_logprobs(lm.model, ids[:1], ids[1:65]), atol=2e-5)


def test_loglikelihood_is_sum_of_token_logprobs(lm: HFCausalLM) -> None:
    pairs = [("The plan writes", " each sentence."), ("", "A river stone."), ("Then next ", "action")]
    requests = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    results = lm.loglikelihood(requests)
    for (context, cont), (ll, greedy) in zip(pairs, results, strict=True):
        if context:
            ctx_text = context.rstrip()
            ctx = lm.encode(ctx_text)
            target = lm.encode(context + cont)[len(ctx) :]
        else:
            ctx, target = [lm.prefix_token_id], lm.encode(cont)
        lp = direct_logprobs(lm.model, ctx, target)
        assert ll == pytest.approx(float(lp.sum()), abs=1e-4)
        assert isinstance(greedy, bool)


def test_generate_is_deterministic_in_seed_and_batch(lm: HFCausalLM, tokenizer) -> None:
    prompts = ["The plan", "", "A river stone walks", "Then"]
    kw = dict(max_new_tokens=20, temperature=1.0, top_k=50, top_p=0.95)
    a = lm.generate(prompts, Sampling(seed=7, **kw))
    b = lm.generate(prompts, Sampling(seed=7, **kw))
    c = lm.generate(prompts, Sampling(seed=8, **kw))
    single = HFCausalLM(lm.model, tokenizer, "test:single", batch_size=1).generate(
        prompts, Sampling(seed=7, **kw)
    )
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.token_ids for g in a] == [g.token_ids for g in single]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]
    for g in a:
        assert g.text == tokenizer.decode(g.token_ids, skip_special_tokens=True)
        assert g.meta["finish"] in {"eos", "length"}


def test_greedy_equals_argmax_decoding(lm: HFCausalLM) -> None:
    prompts = ["The plan writes", "", "A river", "Small green goal because people"]
    gens = lm.generate(prompts, Sampling(max_new_tokens=25, temperature=0.0))
    for prompt, gen in zip(prompts, gens, strict=True):
        ids = lm.document_ids(prompt)
        assert gen.token_ids == argmax_decode(lm.model, ids, 25, lm.tokenizer.eos_token_id)


def test_generation_longer_than_context_slides_the_window(tokenizer) -> None:
    window = 16
    model = micro_model(len(tokenizer), n_positions=window, seed=1)
    lm = HFCausalLM(model, tokenizer, "test:short", batch_size=2)
    prompts = ["The plan writes each", "A"]
    gens = lm.generate(prompts, Sampling(max_new_tokens=40, temperature=0.0))
    eos = lm.tokenizer.eos_token_id
    for prompt, gen in zip(prompts, gens, strict=True):
        history, start, made = lm.document_ids(prompt), 0, []
        while len(made) < 40:  # the documented rule, one uncached forward per token
            if len(history) - start >= window:
                start = len(history) - (window - min(40 - len(made), window // 2))
            with torch.no_grad():
                nxt = int(model(torch.tensor([history[start:]])).logits[0, -1].argmax())
            if nxt == eos:
                break
            made.append(nxt)
            history = [*history, nxt]
        assert gen.token_ids == made
        assert len(gen.token_ids) > window or gen.meta["finish"] == "eos"


def test_stop_strings_are_trimmed(lm: HFCausalLM) -> None:
    greedy = Sampling(max_new_tokens=30, temperature=0.0)
    full = lm.generate(["The plan"], greedy)[0]
    assert len(full.text) > 10
    stop = full.text[6:9]
    first = full.text.find(stop)
    cut = lm.generate(["The plan"], greedy.replace(stop=(stop, "never-there")))[0]
    assert cut.text == full.text[:first]
    assert cut.meta["finish"] == "stop"
    assert cut.token_ids == full.token_ids[: len(cut.token_ids)]


def test_hidden_states_match_model_outputs(lm: HFCausalLM) -> None:
    texts = ["The plan writes each sentence.", "A river."]
    states = lm.hidden_states(texts, ["embed", "layer1.resid"])
    for text, emb, last in zip(texts, states["embed"], states["layer1.resid"], strict=True):
        ids = lm.document_ids(text)
        with torch.no_grad():
            out = lm.model(torch.tensor([ids]), output_hidden_states=True).hidden_states
        assert emb.shape == last.shape == (len(ids), 32)
        np.testing.assert_allclose(emb, out[0][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(last, out[2][0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="unknown hidden sites"):
        lm.hidden_states(texts, ["layer9.resid"])


def test_from_pretrained_local_dir_offline(tmp_path: Path, lm: HFCausalLM, tokenizer) -> None:
    lm.model.save_pretrained(tmp_path / "m", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "m")
    loaded = HFCausalLM.from_pretrained(str(tmp_path / "m"), batch_size=4)
    assert loaded.identity.startswith(f"hf:{(tmp_path / 'm').resolve()}#")
    assert loaded.max_length == 64 and loaded.prefix_token_id == 0
    text = "The plan writes each sentence then next action."
    np.testing.assert_allclose(
        loaded.token_logprobs([text])[0], lm.token_logprobs([text])[0], rtol=0, atol=1e-6
    )
    # the identity follows the weights: retraining into the same folder makes a new identity
    with torch.no_grad():
        lm_copy = micro_model(len(tokenizer), n_positions=64, seed=5)
    lm_copy.save_pretrained(tmp_path / "m", safe_serialization=True)
    assert HFCausalLM.from_pretrained(str(tmp_path / "m")).identity != loaded.identity


def test_stop_at_eos_false_gives_fixed_length_continuations(tokenizer) -> None:
    """A model that nearly always says EOS: by default generation ends there; with
    ``stop_at_eos=False`` EOS is never drawn and every continuation has exactly the asked length."""
    model = micro_model(len(tokenizer), n_positions=64)
    head = torch.nn.Linear(model.config.n_embd, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tokenizer.eos_token_id] = 30.0
    model.lm_head = head
    lm = HFCausalLM(model, tokenizer, "test:eos", batch_size=2, fused_gelu=False)
    prompts = ["the river", "a town", "the company"]
    ended = lm.generate(prompts, Sampling(max_new_tokens=12, seed=1))
    assert all(g.meta["finish"] == "eos" and len(g.token_ids) < 12 for g in ended)
    fixed = lm.generate(prompts, Sampling(max_new_tokens=12, seed=1, stop_at_eos=False))
    for g in fixed:
        assert len(g.token_ids) == 12
        assert tokenizer.eos_token_id not in g.token_ids


def test_generate_until_batches_by_settings_and_cuts_at_stop(lm: HFCausalLM) -> None:
    """lm-eval's generate_until: greedy by default, cut at the stop strings, same as one at a time."""
    args = [
        ("the river", {"until": ["."], "max_gen_toks": 12}),
        ("a town in", {"until": ["."], "max_gen_toks": 12}),
        ("the company", {"until": ["\n"], "max_gen_toks": 6, "do_sample": True, "temperature": 0.7}),
    ]
    requests = [Instance("generate_until", {}, a, i) for i, a in enumerate(args)]
    batched = lm.generate_until(requests)
    single = [lm.generate_until([r])[0] for r in requests]
    assert batched == single
    greedy = lm.generate([args[0][0]], Sampling(max_new_tokens=12, temperature=0))[0].text
    assert batched[0] == greedy.split(".")[0]
    assert all("." not in t for t in batched[:2])
