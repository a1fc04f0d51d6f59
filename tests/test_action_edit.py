"""Action edit distance: rapidfuzz's Levenshtein on id sequences equals the textbook DP; the task tags
both continuations at each length, normalises per 128 tokens and shares the continuations with rouge."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tagger import micro_lm, planted_tagger, single_thread, synthetic_corpus  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.cache import Cache
from harness.hf_adapter import HFCausalLM
from tasks.action_edit import ActionEdit, ActionEditParams, levenshtein
from tasks.base import TASKS, TaskContext
from tasks.rouge import Rouge, RougeParams


def plain_levenshtein(a: list[int], b: list[int]) -> int:
    """Wagner-Fischer with unit costs."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


ids = st.lists(st.integers(min_value=0, max_value=1023), max_size=40)


@settings(max_examples=300, deadline=None)
@given(ids, ids)
def test_levenshtein_equals_plain_dp(a: list[int], b: list[int]) -> None:
    assert levenshtein(a, b) == plain_levenshtein(a, b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3), max_size=30), st.lists(st.integers(0, 3), max_size=30))
def test_levenshtein_small_alphabet(a: list[int], b: list[int]) -> None:
    """Many repeats (like action sequences over few actions): ids are compared, not characters — ids
    above 255 or equal-looking digits never collide."""
    assert levenshtein(a, b) == plain_levenshtein(a, b)
    assert levenshtein([300, 3], [3, 300]) == 2 and levenshtein([12], [1, 2]) == 2


class CountingLM(HFCausalLM):
    calls = 0

    def generate(self, *args, **kwargs):
        type(self).calls += 1
        return super().generate(*args, **kwargs)


def _ctx(tmp_path: Path, params) -> TaskContext:
    return TaskContext(
        corpus=synthetic_corpus(),
        params=params,
        seed=2,
        work_dir=tmp_path,
        progress=False,
        artifacts={"actions": planted_tagger()},
        model_key="micro",
        cache=Cache(tmp_path / "cache"),
    )


def test_action_edit_end_to_end(tmp_path: Path) -> None:
    base = micro_lm()
    lm = CountingLM(base.model, base.tokenizer, identity="test:micro")
    CountingLM.calls = 0
    params = ActionEditParams(n_prompts=3, min_prefix_tokens=16, lengths=[40, 20], norm_tokens=20)
    task = ActionEdit()
    assert TASKS.get("action_edit") is ActionEdit and task.artifacts(params) == ("actions",)
    table = task.evaluate(lm, _ctx(tmp_path, params))
    assert CountingLM.calls == 1
    assert len(table) == 6 and list(table["length"]) == [20, 40] * 3
    tagger = planted_tagger()
    for row in table.itertuples():
        assert row.generated_actions == tagger.tag([row.generated])[0]
        assert row.reference_actions == tagger.tag([row.reference])[0]
        assert row.edit == plain_levenshtein(row.generated_actions, row.reference_actions)
        assert row.edit_norm == row.edit * 20 / row.length  # 20 tokens raw, 40 halved
    # the reference is the document's true continuation, cut at L tokens
    docs = {d.id: d.text for d in synthetic_corpus().test}
    for row in table[table["length"] == 40].itertuples():
        assert row.reference in docs[row.sample_id]
    m = task.aggregate(table, params)
    assert m["edit"] == pytest.approx(table["edit"].mean())
    assert m["edit_norm"] == pytest.approx((m["edit_norm@20"] + m["edit_norm@40"]) / 2)
    assert m["edit@40"] == pytest.approx(table.loc[table["length"] == 40, "edit"].mean())
    key = task.metric_keys(m)["edit_norm@40"]
    assert (key.base, key.dims) == ("edit_norm", {"length": 40})
    assert not task.metric_info(key).higher_is_better
    # rouge on the same prompts and longest length reads the same cached continuations
    rouge = Rouge().evaluate(
        lm,
        _ctx(tmp_path, RougeParams(n_prompts=3, min_prefix_tokens=16, lengths=[40], rouge_types=["rouge1"])),
    )
    assert CountingLM.calls == 1
    assert list(rouge["generated"]) == list(table.loc[table["length"] == 40, "generated"])


def test_params() -> None:
    assert ActionEditParams().lengths == (128, 256, 512, 1024) and ActionEditParams().norm_tokens == 128
    assert ActionEditParams(lengths=[64, 32]).lengths == (32, 64)
    with pytest.raises(ValidationError):
        ActionEditParams(lengths=[32, 32])
