"""HFCausalLM inside lm-eval: accepted by ``simple_evaluate`` on local tasks, and rolling log-likelihoods
equal to lm-eval's own ``hf`` backend on the same saved micro model (DESIGN §3, §10)."""

from __future__ import annotations

import math
from pathlib import Path

import lm_eval
import lm_eval.models
import numpy as np
import pytest
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
