"""Specs: malformed files fail before any work, naming the file, the field and the problem."""

from __future__ import annotations

import pytest

from harness.errors import MissingPathError, SpecError
from harness.specs import SuiteSpec, TaskSpec, load_spec


def write(tmp_path, text: str):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


GOOD = "name: s\nvariants: [unigram]\ntasks: [{name: perplexity}]\n"


def test_good_suite_loads(tmp_path):
    spec = load_spec(SuiteSpec, write(tmp_path, GOOD))
    assert spec.tasks == [TaskSpec(name="perplexity")]
    assert spec.corpus.source == "synthetic"


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("name: s\nvariants: [a]\ntasks: [{name: p, param: {}}]\n", "tasks.0.param", "unknown field"),
        ("name: s\nvariants: []\ntasks: [{name: p}]\n", "variants", "at least 1 item"),
        ("name: s\nvariants: [a]\ntasks: [{name: p}]\nseeds: [x]\n", "seeds.0", "valid integer"),
        (
            "name: s\nvariants: [a]\ntasks: [{name: p}]\ntokenizer: {vocab_size: 10}\n",
            "tokenizer.vocab_size",
            "greater than or equal to 260",
        ),
        ("name: s\nvariants: [a]\ntasks: [{name: p}, {name: p}]\n", "tasks", "give an alias to: p"),
        ("variants: [a]\ntasks: [{name: p}]\n", "name", "Field required"),
    ],
)
def test_malformed_suite_names_file_field_problem(tmp_path, text, field, problem):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_spec(SuiteSpec, path)
    assert err.value.source == str(path)
    assert err.value.field == field
    assert problem in err.value.problem
    assert str(path) in str(err.value) and field in str(err.value)


def test_unknown_field_lists_allowed_ones(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(SuiteSpec, write(tmp_path, GOOD + "corpus: {sourse: synthetic}\n"))
    assert err.value.field == "corpus.sourse"
    assert "allowed:" in err.value.problem and "source" in err.value.problem


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(SuiteSpec, write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(MissingPathError):
        load_spec(SuiteSpec, tmp_path / "nope.yaml")


def test_yaml_is_safe_loaded(tmp_path):
    """A python object tag is refused, not executed."""
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(SuiteSpec, write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n"))
