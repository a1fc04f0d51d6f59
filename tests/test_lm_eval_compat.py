"""HFCausalLM inside lm-eval: accepted by ``simple_evaluate`` on local tasks, and rolling log-likelihoods
equal to lm-eval's own ``hf`` backend on the same saved micro model (docs/model-api.md,
docs/environment.md), for a GPT-2-style tokenizer (no special tokens added) and a Llama-style one that
prepends BOS itself."""

from __future__ import annotations

import math
from pathlib import Path

import lm_eval
import lm_eval.models
import numpy as np
import pytest
from _llama import save_bos_model
from _models import micro_model, sample_texts, tiny_tokenizer
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager

from harness.hf_adapter import HFCausalLM

TASK_DIR = Path(__file__).parent / "data" / "lm_eval_task"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro GPT-2 with a 64-token context, saved as a Hugging Face folder."""
    tokenizer = tiny_tokenizer()
    path = tmp_path_factory.mktemp("lm_eval") / "micro"
    micro_model(len(tokenizer), n_positions=64, seed=2).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """The templates written out with the jsonl's absolute path (lm-eval resolves relative data
    paths against the working directory)."""
    for template in TASK_DIR.glob("*.yaml.tmpl"):
        text = template.read_text().format(data_file=(TASK_DIR / "data.jsonl").resolve())
        (tmp_path / template.name.removesuffix(".tmpl")).write_text(text)
    return tmp_path


def test_simple_evaluate_accepts_the_adapter(saved_model: Path, task_dir: Path) -> None:
    adapter = HFCausalLM.from_pretrained(str(saved_model), batch_size=4)
    results = lm_eval.simple_evaluate(
        model=adapter,
        tasks=["planeval_tiny_mc", "planeval_tiny_ppl"],
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        log_samples=False,
        bootstrap_iters=0,
    )
    assert results is not None
    mc = results["results"]["planeval_tiny_mc"]
    ppl = results["results"]["planeval_tiny_ppl"]
    assert 0.0 <= mc["acc,none"] <= 1.0
    for key in ("word_perplexity,none", "byte_perplexity,none", "bits_per_byte,none"):
        assert math.isfinite(ppl[key]) and ppl[key] > 0


def test_rolling_equals_lm_eval_hf_backend(saved_model: Path) -> None:
    """The acceptance check: our rolling windows and sums reproduce lm-eval's ``hf`` model exactly,
    on texts several context windows long."""
    texts = sample_texts(5, seed=11, sentences=(8, 14))
    ours = HFCausalLM.from_pretrained(str(saved_model), batch_size=4)
    assert all(len(ours.encode(t)) > 2 * ours.max_length for t in texts)
    theirs = HFLM(pretrained=str(saved_model), device="cpu", batch_size=4)
    assert theirs.max_length == ours.max_length == 64
    assert theirs.prefix_token_id == ours.prefix_token_id
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    want = np.array(theirs.loglikelihood_rolling(requests, disable_tqdm=True))
    got = np.array([lp.sum() for lp in ours.token_logprobs(texts, mode="rolling")])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # the lm-eval entry points of our adapter give the same numbers
    np.testing.assert_allclose(ours.loglikelihood_rolling(requests), want, rtol=1e-5)
    by_args = HFCausalLM.create_from_arg_string(
        f"pretrained={saved_model}", {"batch_size": 2, "device": None}
    )
    assert by_args.identity == ours.identity and by_args.batch_size == 2
    np.testing.assert_allclose(by_args.loglikelihood_rolling(requests), want, rtol=1e-5)


@pytest.fixture(scope="module")
def bos_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro Llama whose tokenizer prepends BOS itself (``_llama``), 48 positions."""
    return save_bos_model(tmp_path_factory.mktemp("lm_eval_bos") / "llama", n_positions=48, seed=4)


def test_rolling_equals_lm_eval_with_a_bos_adding_tokenizer(bos_model: Path) -> None:
    """lm-eval encodes with the tokenizer's own special tokens, so for a Llama-style tokenizer it scores
    the BOS the tokenizer adds (after its prefix BOS) as a document token; our lm-eval encoding does the
    same and the totals agree to 1e-5, while the plain encoding scores one token less per document. A
    text that already starts with ``<s>`` is encoded without added tokens on both sides."""
    texts = [*sample_texts(4, seed=5, sentences=(8, 14)), "<s>" + sample_texts(1, seed=6)[0]]
    ours = HFCausalLM.from_pretrained(str(bos_model), batch_size=4)
    theirs = HFLM(pretrained=str(bos_model), device="cpu", batch_size=4)
    assert theirs.max_length == ours.max_length == 48
    assert theirs.prefix_token_id == ours.prefix_token_id == ours.tokenizer.bos_token_id
    assert [ours.encode_lm_eval(t) for t in texts] == [theirs.tok_encode(t) for t in texts]
    assert all(theirs.tok_encode(t)[0] == ours.tokenizer.bos_token_id for t in texts)
    assert all(len(theirs.tok_encode(t)) == len(ours.encode(t)) + 1 for t in texts[:-1])
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    want = np.array(theirs.loglikelihood_rolling(requests, disable_tqdm=True))
    got = ours.token_logprobs(texts, mode="rolling", encoding="lm-eval")
    np.testing.assert_allclose([lp.sum() for lp in got], want, rtol=1e-5)
    assert [len(lp) for lp in got] == [len(theirs.tok_encode(t)) for t in texts]
    np.testing.assert_allclose(ours.loglikelihood_rolling(requests), want, rtol=1e-5)
    plain = ours.token_logprobs(texts, mode="rolling", encoding="plain")
    assert [len(lp) for lp in plain[:-1]] == [len(lp) - 1 for lp in got[:-1]]
    assert not np.allclose([lp.sum() for lp in plain[:-1]], want[:-1], rtol=1e-3)  # the test can fail
    with pytest.raises(ValueError, match="unknown encoding 'hf'"):
        ours.token_logprobs(texts, mode="rolling", encoding="hf")


def test_rolling_follows_an_adapters_add_bos_token_as_lm_eval_does(bos_model: Path) -> None:
    """lm-eval's ``add_bos_token`` model arg decides the special tokens of its encoding; an adapter with
    ``add_bos_token`` set encodes the same way and still gets lm-eval's totals."""
    texts = sample_texts(3, seed=8, sentences=(8, 12))
    ours = HFCausalLM.from_pretrained(str(bos_model), batch_size=4)
    ours.add_bos_token = False
    theirs = HFLM(pretrained=str(bos_model), device="cpu", batch_size=4, add_bos_token=False)
    assert [ours.encode_lm_eval(t) for t in texts] == [theirs.tok_encode(t) for t in texts]
    assert [ours.encode_lm_eval(t) for t in texts] == [ours.encode(t) for t in texts]  # no BOS added
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    want = np.array(theirs.loglikelihood_rolling(requests, disable_tqdm=True))
    np.testing.assert_allclose(ours.loglikelihood_rolling(requests), want, rtol=1e-5)


def test_loglikelihood_equals_lm_eval_with_a_bos_adding_tokenizer(bos_model: Path) -> None:
    """Context + continuation requests are encoded as lm-eval's ``_encode_pair`` (the tokenizer's BOS
    in front of the context; an empty context is the prefix token, the continuation without special
    tokens): the same ids, the same sums and greedy flags as ``HFLM.loglikelihood``."""
    texts = sample_texts(4, seed=9, sentences=(3, 6))
    pairs = [(t[: len(t) // 2], t[len(t) // 2 :]) for t in texts] + [
        ("", texts[0][:40]),
        (texts[1][:30] + " ", "x y"),
    ]
    ours = HFCausalLM.from_pretrained(str(bos_model), batch_size=4)
    theirs = HFLM(pretrained=str(bos_model), device="cpu", batch_size=4)
    for ctx, cont in pairs:
        if ctx:
            assert ours._context_continuation(ctx, cont) == tuple(theirs._encode_pair(ctx, cont))
            assert ours._context_continuation(ctx, cont)[0][0] == ours.tokenizer.bos_token_id
    requests = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    want = theirs.loglikelihood(requests, disable_tqdm=True)
    got = ours.loglikelihood(requests)
    np.testing.assert_allclose([g[0] for g in got], [w[0] for w in want], rtol=1e-5)
    assert [g[1] for g in got] == [w[1] for w in want]
