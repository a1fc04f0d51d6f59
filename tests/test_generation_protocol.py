"""The shared generation protocol: what it generates, that it is cached per (model, protocol, seed,
prompts), and that a second evaluation reads the cache instead of generating."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _tagger import micro_lm, single_thread, synthetic_corpus  # noqa: F401

from harness.cache import Cache
from harness.hf_adapter import HFCausalLM
from tasks.base import TaskContext
from tasks.generation import (
    ContinuationProtocol,
    Sampling,
    UnconditionalProtocol,
    at_length,
    continuations,
    unconditional,
)
from tasks.rouge import Rouge, RougeParams


class CountingLM(HFCausalLM):
    """The micro adapter, counting ``generate`` calls."""

    calls = 0

    def generate(self, *args, **kwargs):
        type(self).calls += 1
        return super().generate(*args, **kwargs)


def _counting(identity: str = "test:counting") -> CountingLM:
    lm = micro_lm()
    CountingLM.calls = 0
    return CountingLM(lm.model, lm.tokenizer, identity=identity, batch_size=8)


def _ctx(tmp_path: Path, params=None, seed: int = 0, cache: bool = True, model_key: str = "") -> TaskContext:
    return TaskContext(
        corpus=synthetic_corpus(),
        params=params,
        seed=seed,
        work_dir=tmp_path,
        progress=False,
        model_key=model_key,
        cache=Cache(tmp_path / "cache") if cache else None,
    )


UNCOND = UnconditionalProtocol(n_samples=3, max_new_tokens=12)
CONT = ContinuationProtocol(n_prompts=3, min_prefix_tokens=16, max_new_tokens=24, sampling=Sampling(top_k=50))


def test_unconditional_samples_and_cache(tmp_path: Path) -> None:
    lm = _counting()
    a = unconditional(lm, _ctx(tmp_path), UNCOND)
    assert CountingLM.calls == 1
    assert list(a["sample_id"]) == ["u00000", "u00001", "u00002"]
    assert (a["n_tokens"] == 12).all() and all(len(t) == 12 for t in a["token_ids"])  # EOS suppressed
    assert a["plans"].isna().all()  # a plain LM plans nothing
    # the text is the decoded tokens, as the adapter returns it
    assert list(a["text"]) == [lm.tokenizer.decode(t, skip_special_tokens=True) for t in a["token_ids"]]
    b = unconditional(lm, _ctx(tmp_path), UNCOND)
    assert CountingLM.calls == 1  # served from the cache
    pd.testing.assert_frame_equal(a, b)
    assert len(list((tmp_path / "cache" / "generations").iterdir())) == 1


def test_cache_key_separates_models_seeds_and_protocols(tmp_path: Path) -> None:
    lm = _counting()
    unconditional(lm, _ctx(tmp_path, model_key="m1"), UNCOND)
    unconditional(lm, _ctx(tmp_path, model_key="m2"), UNCOND)
    unconditional(lm, _ctx(tmp_path, model_key="m1", seed=1), UNCOND)
    unconditional(lm, _ctx(tmp_path, model_key="m1"), UNCOND.model_copy(update={"max_new_tokens": 13}))
    assert CountingLM.calls == 4
    unconditional(lm, _ctx(tmp_path, model_key="m1"), UNCOND)
    assert CountingLM.calls == 4


def test_no_cache_without_a_model_identity(tmp_path: Path) -> None:
    lm = _counting(identity="unknown")
    unconditional(lm, _ctx(tmp_path), UNCOND)
    unconditional(lm, _ctx(tmp_path), UNCOND)
    assert CountingLM.calls == 2  # an unnamed model could be any model: never cached


def test_continuations_follow_the_prompts(tmp_path: Path) -> None:
    lm = _counting()
    table = continuations(lm, _ctx(tmp_path), CONT)
    docs = {d.id: d.text for d in synthetic_corpus().test}
    assert len(table) == 3
    for row in table.itertuples():
        text = docs[row.sample_id]
        assert text.startswith(row.prefix) and row.prefix.endswith((".", "!", "?"))
        assert len(row.continuation_ids) == 24 and len(row.token_ids) == 24
        true = at_length(lm.tokenizer, row.continuation_ids, 24)
        assert text[len(row.prefix) :].startswith(true)
    again = continuations(lm, _ctx(tmp_path), CONT)
    assert CountingLM.calls == 1
    pd.testing.assert_frame_equal(table, again)


def test_rouge_second_evaluation_does_not_generate(tmp_path: Path) -> None:
    """ROUGE at two lengths reads the shared continuations; a second evaluation (other scorer, shorter
    lengths, same longest length) does not generate again, and the scores are the same."""
    lm = _counting()
    params = RougeParams(n_prompts=3, min_prefix_tokens=16, lengths=[8, 24], rouge_types=["rouge1", "rouge2"])
    first = Rouge().evaluate(lm, _ctx(tmp_path, params))
    assert CountingLM.calls == 1
    second = Rouge().evaluate(lm, _ctx(tmp_path, params))
    assert CountingLM.calls == 1
    pd.testing.assert_frame_equal(first, second)
    pltrdy = RougeParams(
        n_prompts=3, min_prefix_tokens=16, lengths=[24], rouge_types=["rouge1"], implementation="pltrdy"
    )
    third = Rouge().evaluate(lm, _ctx(tmp_path, pltrdy))
    assert CountingLM.calls == 1
    assert list(third["generated"]) == list(first.loc[first["length"] == 24, "generated"])
    assert (third["implementation"] == "pltrdy").all()


def test_no_prompts_is_a_clear_error(tmp_path: Path) -> None:
    lm = micro_lm()
    too_long = CONT.model_copy(update={"max_new_tokens": 5000})
    with pytest.raises(ValueError, match="no usable continuation prompts"):
        continuations(lm, _ctx(tmp_path), too_long)
