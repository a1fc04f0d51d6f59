"""Registries: decorators, did-you-mean, entry points from an installed distribution, YAML catalogues."""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata

import pytest

from harness.catalog import SUITES, VARIANTS, include_dir
from harness.errors import PlanevalError, SpecError, UnknownNameError
from harness.registry import Registry
from tasks.base import TASKS


def test_unknown_name_lists_valid_ones_and_suggests():
    reg: Registry[int] = Registry("widget", "planeval.test-widgets")
    reg.add("perplexity", 1)
    reg.add("rouge", 2)
    with pytest.raises(UnknownNameError) as err:
        reg.get("perplexty")
    msg = str(err.value)
    assert "did you mean 'perplexity'" in msg
    assert "valid: perplexity, rouge" in msg


def test_decorator_and_double_registration():
    reg: Registry[type] = Registry("widget", "planeval.test-widgets")

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A
    with pytest.raises(PlanevalError, match="registered twice"):
        reg.add("a", object, source="elsewhere")


def test_builtin_tasks_and_variants_are_registered():
    assert {"perplexity", "rouge"} <= set(TASKS.names())
    assert {"tiny-lm", "unigram"} <= set(VARIANTS.names())
    assert "smoke" in SUITES.names()


def test_entry_point_registers_a_task_from_another_package(tmp_path, monkeypatch):
    """A package outside this repo registers a task through the entry-point group only."""
    pkg = tmp_path / "plugin_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        import pandas as pd
        from tasks.base import MetricInfo, Task

        class LengthTask(Task):
            '''Mean document length in characters.'''
            metrics = {"chars": MetricInfo(higher_is_better=True)}
            def evaluate(self, model, ctx):
                return pd.DataFrame({"sample_id": [d.id for d in ctx.corpus.test],
                                     "chars": [len(d.text) for d in ctx.corpus.test]})
            def aggregate(self, samples, params):
                return {"chars": float(samples["chars"].mean())}
    """)
    )
    dist = tmp_path / "plugin_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[planeval.tasks]\nchar_length = plugin_pkg:LengthTask\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert any(ep.name == "char_length" for ep in metadata.entry_points(group="planeval.tasks"))

    TASKS.load()
    monkeypatch.setattr(TASKS, "_items", dict(TASKS._items))  # restored after the test
    monkeypatch.setattr(TASKS, "_sources", dict(TASKS._sources))
    monkeypatch.setattr(TASKS, "_loaded", False)  # rediscover: built-ins + entry points
    assert TASKS.get("char_length").__name__ == "LengthTask"
    assert "perplexity" in TASKS.names()
    sys.modules.pop("plugin_pkg", None)


def test_include_dir_registers_variants_and_suites(tmp_path):
    (tmp_path / "v.yaml").write_text(
        "name: my-variant\nfamily: lm\ntrainer: lm\nparams: {weights: preset:micro, max_steps: 2}\n"
    )
    specs = include_dir(tmp_path)
    assert [s.name for s in specs] == ["my-variant"]
    assert VARIANTS.get("my-variant").params["max_steps"] == 2


def test_include_rejects_a_file_that_is_neither(tmp_path):
    (tmp_path / "odd.yaml").write_text("name: x\n")
    with pytest.raises(SpecError, match="neither a suite"):
        include_dir(tmp_path)
