"""The shared generation protocol (the engine's, ``harness.generation``): what it generates, that it is
cached per (model, protocol, seed, prompts) under the same keys as before it moved out of ``tasks/``,
and that a second evaluation reads the cache instead of generating."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _tagger import micro_lm, single_thread, synthetic_corpus  # noqa: F401
from pydantic import ValidationError

from harness.cache import Cache
from harness.generation import (
    ContinuationProtocol,
    UnconditionalProtocol,
    at_length,
    generation_key,
)
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling
from tasks.base import TaskContext
from tasks.generation import UnconditionalParams, generations
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


def _uncond(seed: int = 0, max_new_tokens: int = 12) -> UnconditionalProtocol:
    return UnconditionalProtocol(
        n_samples=3, sampling=Sampling(max_new_tokens=max_new_tokens, seed=seed, stop_at_eos=False)
    )


UNCOND = _uncond()
CONT = ContinuationProtocol(
    n_prompts=3, min_prefix_tokens=16, sampling=Sampling(max_new_tokens=24, top_k=50, stop_at_eos=False)
)


def unconditional(lm, ctx: TaskContext, protocol: UnconditionalProtocol) -> pd.DataFrame:
    return generations(lm, ctx).unconditional(protocol)


def continuations(lm, ctx: TaskContext, protocol: ContinuationProtocol) -> pd.DataFrame:
    return generations(lm, ctx).continuations(protocol, ctx.corpus)


def test_cache_keys_are_the_ones_tasks_generation_computed() -> None:
    """The keys of ``stable_hash("generations", "1", model key, protocol, seed, prompts digest)`` with
    the protocols as ``tasks/generation.py`` spelled them (hex values computed with that code, before
    the protocols moved to the engine): the same cached generations are found."""
    # UnconditionalProtocol(n_samples=3, max_new_tokens=12), seed 0
    assert generation_key("m1", UNCOND) == "870bb689d2a5a5ca"
    # the tasks' default unconditional params, seed 7
    assert generation_key("hf:gpt2@abc", UnconditionalParams().protocol(7)) == "5baaaeb841490461"
    full = UnconditionalParams(
        n_samples=5, max_new_tokens=64, stop_at_eos=True, temperature=0.7, top_k=40, top_p=0.95
    )
    assert generation_key("m1", full.protocol(1)) == "e2b9cb49dd538fbf"
    # ContinuationProtocol(n_prompts=3, min_prefix_tokens=16, max_new_tokens=24, sampling=top_k 50), seed 0
    assert generation_key("m1", CONT, "0123456789abcdef") == "4dd03c0fe2fefeaf"
    greedy = ContinuationProtocol(
        n_prompts=100,
        min_prefix_tokens=32,
        split="val",
        sampling=Sampling(max_new_tokens=1024, temperature=0.0, seed=3, stop_at_eos=True),
    )
    assert generation_key("m1", greedy, "fedcba9876543210") == "244cff04434d25c7"
    # stop strings (no protocol had them before) make a key of their own
    stopped = UNCOND.model_copy(update={"sampling": UNCOND.sampling.replace(stop=("\n",))})
    assert generation_key("m1", stopped) != generation_key("m1", UNCOND)


def test_sampling_is_frozen_and_validated() -> None:
    s = Sampling(max_new_tokens=4)
    with pytest.raises(ValidationError):
        s.temperature = 0.5  # frozen: a shared config cannot change underneath its users
    with pytest.raises(ValidationError):
        Sampling(max_new_tokens=4, temperature=-1)
    with pytest.raises(ValidationError):
        s.replace(top_p=1.5)  # replace validates, as a new config does
    assert s.replace(seed=3).seed == 3 and s.seed == 0
    assert Sampling(max_new_tokens=4, stop=["a"]).stop == ("a",)
    with pytest.raises(ValidationError, match="at least one token"):
        UnconditionalProtocol(n_samples=1, sampling=Sampling(max_new_tokens=0))


def test_the_manifest_records_the_protocol_as_before(tmp_path: Path) -> None:
    unconditional(_counting(), _ctx(tmp_path, model_key="m1"), UNCOND)
    (entry,) = (tmp_path / "cache" / "generations").iterdir()
    assert entry.name == "870bb689d2a5a5ca"
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["protocol"] == {
        "kind": "unconditional",
        "n_samples": 3,
        "max_new_tokens": 12,
        "stop_at_eos": False,
        "sampling": {"temperature": 1.0, "top_k": None, "top_p": None},
    }
    assert manifest["seed"] == 0 and manifest["model_key"] == "m1"


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
    unconditional(lm, _ctx(tmp_path, model_key="m1", seed=1), _uncond(seed=1))
    unconditional(lm, _ctx(tmp_path, model_key="m1"), _uncond(max_new_tokens=13))
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
    too_long = CONT.model_copy(update={"sampling": CONT.sampling.replace(max_new_tokens=5000)})
    with pytest.raises(ValueError, match="no usable continuation prompts"):
        continuations(lm, _ctx(tmp_path), too_long)
