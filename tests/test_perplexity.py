"""Perplexity task: rolling mode against lm-eval's HFLM (GPT-2-style and BOS-adding tokenizers), paper
mode against a naive per-token loop, bits-per-byte by hand, and Params validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _llama import save_bos_model
from _models import micro_model, sample_texts, tiny_tokenizer
from pydantic import ValidationError

from harness.corpus import Corpus, Document
from harness.hf_adapter import HFCausalLM
from harness.specs import CorpusSpec
from harness.tokenizer import train_bpe
from tasks.base import TASKS, TaskContext
from tasks.perplexity import Perplexity, PerplexityParams


def _ctx(docs: list[Document], tmp_path: Path, split: str = "test", **params) -> TaskContext:
    corpus = Corpus(
        spec=CorpusSpec(), train=[], val=docs if split == "val" else [], test=docs if split == "test" else []
    )
    return TaskContext(
        corpus=corpus,
        params=PerplexityParams(split=split, **params),
        seed=0,
        work_dir=tmp_path,
        progress=False,
    )


def _saved_model(path: Path, n_positions: int, seed: int = 0) -> Path:
    tok = tiny_tokenizer()
    micro_model(len(tok), n_positions=n_positions, seed=seed).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_registered() -> None:
    assert TASKS.get("perplexity") is Perplexity
    assert all(not Perplexity().metric_info(m).higher_is_better for m in Perplexity.metrics)


def test_rolling_equals_lm_eval_hflm(tmp_path: Path) -> None:
    """The acceptance test: rolling-mode perplexity through evaluate + aggregate equals lm-eval's
    own HFLM.loglikelihood_rolling on the same local model and texts (several windows per text)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model_dir = _saved_model(tmp_path / "m", n_positions=48)
    texts = sample_texts(6, seed=7, sentences=(6, 14))
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]

    ours = HFCausalLM.from_pretrained(str(model_dir), batch_size=4)
    task = Perplexity()
    samples = task.evaluate(ours, _ctx(docs, tmp_path, mode="rolling"))
    metrics = task.aggregate(samples, PerplexityParams(mode="rolling"))

    theirs = HFLM(pretrained=str(model_dir), device="cpu", batch_size=4)
    assert theirs.max_length == ours.max_length == 48
    reqs = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    ll = np.array(theirs.loglikelihood_rolling(reqs, disable_tqdm=True))
    n_tokens = np.array([len(theirs.tok_encode(t)) for t in texts])
    assert (samples["n_tokens"].to_numpy() == n_tokens).all()
    assert max(n_tokens) > 2 * 48  # every text spans several windows
    np.testing.assert_allclose(samples["nll"].to_numpy(), -ll, rtol=1e-5)
    expected = math.exp(-ll.sum() / n_tokens.sum())
    assert metrics["perplexity"] == pytest.approx(expected, rel=1e-5)


def _naive_paper_logprobs(model: torch.nn.Module, ids: list[int], context: int = 127) -> np.ndarray:
    """One forward per token on exactly the previous ≤ ``context`` tokens."""
    out = []
    with torch.no_grad():
        for t in range(1, len(ids)):
            inp = torch.tensor([ids[max(0, t - context) : t]])
            logits = model(inp).logits[0, -1].double()
            out.append(torch.log_softmax(logits, -1)[ids[t]].item())
    return np.array(out)


def test_paper_mode_equals_naive_sliding_window(tmp_path: Path) -> None:
    tok = tiny_tokenizer()
    model = micro_model(len(tok), n_positions=160, seed=3)
    text = sample_texts(1, seed=11, sentences=(20, 20))[0]
    ids = [tok.eos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]
    assert 180 <= len(ids) <= 400

    ours = HFCausalLM(model, tok, identity="test:micro-160", batch_size=8)
    task = Perplexity()
    samples = task.evaluate(ours, _ctx([Document("doc", text)], tmp_path, mode="paper"))
    naive = _naive_paper_logprobs(model, ids)
    assert int(samples["n_tokens"].iloc[0]) == len(ids) - 1
    assert samples["nll"].iloc[0] == pytest.approx(-naive.sum(), rel=1e-6)
    per_token = ours.token_logprobs([text], mode="paper", window=128)[0]
    np.testing.assert_allclose(per_token, naive, rtol=1e-5, atol=1e-6)
    # a model whose positions cannot hold 127 tokens of context is refused, not silently shortened
    short = HFCausalLM(micro_model(len(tok), n_positions=64), tok, identity="test:micro-64")
    with pytest.raises(ValueError, match="paper-mode window 128"):
        task.evaluate(short, _ctx([Document("doc", text)], tmp_path, mode="paper"))


def test_split_max_docs_and_bytes(tmp_path: Path) -> None:
    """max_docs keeps the first documents of the chosen split; n_bytes counts UTF-8 bytes."""
    tok = tiny_tokenizer()
    lm = HFCausalLM(micro_model(len(tok), n_positions=64), tok, identity="test:micro-64")
    docs = [Document("a", "Café plan."), Document("b", "The model writes."), Document("c", "Next.")]
    samples = Perplexity().evaluate(lm, _ctx(docs, tmp_path, split="val", mode="rolling", max_docs=2))
    assert list(samples["sample_id"]) == ["a", "b"]
    assert list(samples["n_bytes"]) == [11, 17]
    assert list(samples.columns) == ["sample_id", "n_tokens", "nll", "n_bytes"]
    assert (samples["nll"] > 0).all()


def test_aggregate_by_hand() -> None:
    """Micro-average over tokens (not a mean of per-document perplexities) and bits per byte."""
    ln2 = math.log(2)
    samples = pd.DataFrame(
        {"sample_id": ["x", "y"], "n_tokens": [2, 6], "nll": [4 * ln2, 12 * ln2], "n_bytes": [4, 4]}
    )
    m = Perplexity().aggregate(samples, PerplexityParams())
    assert m["nll_per_token"] == pytest.approx(2 * ln2)
    assert m["perplexity"] == pytest.approx(4.0)  # exp(16 ln2 / 8); per-doc mean would be 4 too
    assert m["bits_per_byte"] == pytest.approx(2.0)  # 16 bits over 8 bytes
    skewed = samples.assign(nll=[2 * ln2, 12 * ln2])
    assert Perplexity().aggregate(skewed, PerplexityParams())["perplexity"] == pytest.approx(2 ** (14 / 8))


def test_rolling_equals_lm_eval_with_a_bos_adding_tokenizer(tmp_path: Path) -> None:
    """The default rolling encoding is lm-eval's: with a Llama-style tokenizer that prepends BOS, the
    task's numbers equal HFLM.loglikelihood_rolling to 1e-5 (BOS counted as a scored token, as lm-eval
    does), and the run's params say which encoding it was."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model_dir = save_bos_model(tmp_path / "llama", n_positions=48, seed=1)
    texts = sample_texts(5, seed=9, sentences=(6, 12))
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    ours = HFCausalLM.from_pretrained(str(model_dir), batch_size=4)
    ctx = _ctx(docs, tmp_path, mode="rolling")
    assert ctx.params.encoding == "lm-eval"
    stored = PerplexityParams.model_validate({"mode": "rolling"}).model_dump(mode="json")  # the run row's
    assert stored["encoding"] == "lm-eval"
    task = Perplexity()
    samples = task.evaluate(ours, ctx)
    metrics = task.aggregate(samples, ctx.params)

    theirs = HFLM(pretrained=str(model_dir), device="cpu", batch_size=4)
    reqs = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    ll = np.array(theirs.loglikelihood_rolling(reqs, disable_tqdm=True))
    n_tokens = np.array([len(theirs.tok_encode(t)) for t in texts])
    assert (samples["n_tokens"].to_numpy() == n_tokens).all() and max(n_tokens) > 2 * 48
    np.testing.assert_allclose(samples["nll"].to_numpy(), -ll, rtol=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(-ll.sum() / n_tokens.sum()), rel=1e-5)
    # the plain encoding is the other number: one token fewer per document, not lm-eval's
    plain = task.evaluate(ours, _ctx(docs, tmp_path, mode="rolling", encoding="plain"))
    assert (plain["n_tokens"].to_numpy() == n_tokens - 1).all()
    assert not np.allclose(plain["nll"].to_numpy(), -ll, rtol=1e-3)


def test_planeval_bpe_numbers_do_not_depend_on_the_encoding(tmp_path: Path) -> None:
    """planeval's own BPE (GPT-2-like, no special tokens added) gives the same ids, so the same numbers,
    under the lm-eval default as under the plain encoding that rolling mode used before."""
    texts = sample_texts(4, seed=3, sentences=(3, 6))
    tok = train_bpe(sample_texts(200, seed=1), vocab_size=400, min_frequency=1)
    plain_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert [tok(t)["input_ids"] for t in texts] == plain_ids
    lm = HFCausalLM(micro_model(len(tok), n_positions=64, seed=5), tok, identity="test:bpe-64", batch_size=4)
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    lm_eval_enc = Perplexity().evaluate(lm, _ctx(docs, tmp_path, mode="rolling"))
    plain = Perplexity().evaluate(lm, _ctx(docs, tmp_path, mode="rolling", encoding="plain"))
    pd.testing.assert_frame_equal(lm_eval_enc, plain)
    assert [lm.document_ids(t, "lm-eval") for t in texts] == [lm.document_ids(t) for t in texts]


def test_params_validation() -> None:
    assert PerplexityParams().mode == "paper" and PerplexityParams().window is None
    assert PerplexityParams().encoding == "plain" and PerplexityParams(mode="rolling").encoding == "lm-eval"
    assert PerplexityParams(mode="rolling", encoding="plain").encoding == "plain"
    assert PerplexityParams(mode="paper", encoding="lm-eval").encoding == "lm-eval"
    with pytest.raises(ValidationError, match="encoding"):
        PerplexityParams(encoding="hf")
    with pytest.raises(ValidationError, match="extra"):
        PerplexityParams(windw=128)
    with pytest.raises(ValidationError, match="mode"):
        PerplexityParams(mode="strided")
    with pytest.raises(ValidationError):
        PerplexityParams(split="train")
    with pytest.raises(ValidationError):
        PerplexityParams(window=1)


def test_token_scores_are_an_engine_request_cached_per_model_key(tmp_path: Path, monkeypatch) -> None:
    """The log-probs are scored once per (model key, windowing, documents) and stored bit for bit
    (``harness.scoring``): a second evaluation asking the same reads them, with the very same table; a
    new window or another model key scores again."""
    from harness.cache import Cache

    model = HFCausalLM.from_pretrained(str(_saved_model(tmp_path / "m", n_positions=48)), batch_size=4)
    docs = [Document(f"d{i}", t) for i, t in enumerate(sample_texts(4, seed=2, sentences=(4, 8)))]
    calls = []
    scored = model.token_logprobs
    monkeypatch.setattr(model, "token_logprobs", lambda *a, **k: calls.append(k) or scored(*a, **k))
    cache = Cache(tmp_path / "cache")

    def run(model_key: str = "m-1", **params) -> pd.DataFrame:
        ctx = _ctx(docs, tmp_path, mode="rolling", **params)
        ctx.cache, ctx.model_key = cache, model_key
        return Perplexity().evaluate(model, ctx)

    fresh = run()
    again = run()
    assert len(calls) == 1 and again.equals(fresh)
    uncached = Perplexity().evaluate(model, _ctx(docs, tmp_path, mode="rolling"))  # no cache: the model
    assert uncached.equals(fresh) and len(calls) == 2
    run(window=16)
    run(model_key="m-2")
    assert len(calls) == 4 and len(list((tmp_path / "cache" / "scores").iterdir())) == 3
