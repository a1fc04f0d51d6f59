"""The leaderboard names no task, trainer, variant or family; nothing reads structure out of a metric
name; trainers import nothing from tasks/ (shared text pieces live in harness/text); every task's
reported names resolve to a declared metric with its breakdown coordinates.

The grep reads the code's string literals (not docstrings or comments, which may explain a task in
words): a literal that spells a registered name is the engine knowing that method.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from _task_tables import KINDS

from harness.catalog import VARIANTS
from tasks.base import DISTANCE, LENGTH, LEVEL, TASKS, MetricKey
from trainers.base import TRAINERS

ROOT = Path(__file__).resolve().parents[1]
LEADERBOARD = sorted((ROOT / "leaderboard").glob("*.py"))
#: (file, name) pairs the leaderboard may spell, each with its reason
ALLOWED: dict[tuple[str, str], str] = {
    (f, "baseline"): "a regression baseline (``--format baseline``, ``planeval regress``), the "
    "leaderboard's own product; the variant family of that name is another thing"
    for f in ("commands.py", "outputs.py", "regress.py")
}


def registered_names() -> set[str]:
    variants = [VARIANTS.get(v) for v in VARIANTS.names()]
    return {*TASKS.names(), *TRAINERS.names(), *(v.name for v in variants), *(v.family for v in variants)}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (module, class, function)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in the file that is not a docstring (f-string parts too)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def spelled(name: str, text: str) -> bool:
    """``name`` as a whole word of ``text`` (``rouge`` in "rouge" or "the rouge task", not in "rouge1"),
    or ``text`` the stem of a family of names (``f"oracle-mix-{q}"`` spells ``oracle-mix-25``)."""
    if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
        return True
    stem = text.strip()
    if len(stem) >= 4 and stem[-1] in "-_@" and name.startswith(stem):
        return True
    return _pattern_matches(text, name)


def _pattern_matches(text: str, name: str) -> bool:
    """A regex literal written for such names (``r"^oracle-mix-(\\d+)$"``) matches one of them."""
    if not re.search(r"[\^$()\[\]\\]", text) or not re.search(r"\w{3}", text):
        return False
    try:
        return re.fullmatch(text, name) is not None
    except re.error:
        return False


def test_the_leaderboard_names_no_task_trainer_variant_or_family() -> None:
    names = registered_names()
    assert {"perplexity", "probes", "planner", "oracle-mix-25", "scheduled-sampling"} <= names
    hits = [
        f"{path.name}:{line}: {name!r} in {text!r}"
        for path in LEADERBOARD
        for line, text in string_literals(path)
        for name in names
        if spelled(name, text) and (path.name, name) not in ALLOWED
    ]
    assert not hits, "the leaderboard names registered methods:\n" + "\n".join(hits)


def test_the_grep_sees_a_hard_coded_name(tmp_path: Path) -> None:
    source = tmp_path / "plot.py"
    source.write_text(
        '"""About the probes task."""\nTASK = "probes"\nMIX = f"oracle-mix-{1}"\nQ = r"^oracle-mix-(\\d+)$"\n'
    )
    found = {text for _, text in string_literals(source) if any(spelled(n, text) for n in registered_names())}
    assert found == {"probes", "oracle-mix-", r"^oracle-mix-(\d+)$"}


#: code that reads structure out of a metric name
PARSE = re.compile(
    r"""(split|partition|rpartition|rsplit)\(\s*["']@["']|["']@["']\s+(not\s+)?in\b|contains\(\s*["']@"""
    r"""|startswith\(\s*["'][\w]*@|re\.\w+\([^)]*@"""
)


def test_the_parse_grep_sees_the_old_parsers() -> None:
    old = [
        'base, _, length = name.partition("@")',
        "return MetricInfo(True, f\"at {name.split('@', 1)[1]}\")",
        'return results[~names.str.contains("@", regex=False)]',
        'if name.startswith("acc@level"):',
        'if "@" in name:',
    ]
    assert all(PARSE.search(line) for line in old)
    assert not PARSE.search('out.put("acc", value, level=name)')


@pytest.mark.parametrize("folder", ["tasks", "leaderboard"])
def test_no_metric_name_is_parsed(folder: str) -> None:
    """No ``split("@")`` / ``partition("@")`` / ``"@" in``/ ``contains("@")`` or a regex over metric
    names: a value's base and coordinates are stored beside its name."""
    hits = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if PARSE.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_trainers_import_nothing_from_tasks() -> None:
    hits = []
    for path in sorted((ROOT / "trainers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            hits += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {m}" for m in modules if m.split(".")[0] == "tasks"
            ]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_reported_name_resolves_to_a_declared_metric(kind: str) -> None:
    """On a table of every task kind, each name ``aggregate`` reports is a declared base metric at
    coordinates along its declared dimensions, and the name is unchanged from what it always was."""
    task_name, params, make = KINDS[kind]
    table = make(40, 0.7, 0)
    cls = TASKS.get(task_name)
    task, validated = cls(), cls.Params.model_validate(params)
    values = task.aggregate(table, validated)
    keys = task.metric_keys(values)
    assert values and set(keys) == set(values)
    for name, key in keys.items():
        assert isinstance(key, MetricKey) and key.name == name
        assert key.base in cls.metrics, f"{task_name}: {name} is not a declared metric"
        declared = [d.name for d in cls.metrics[key.base].dims]
        assert set(key.dims) <= set(declared), f"{task_name}: {name} has undeclared dims {key.dims}"
        spelled_dims = "".join(
            "@" + d.spelling.format(key.dims[d.name])
            for d in cls.metrics[key.base].dims
            if d.name in key.dims
        )
        assert name == key.base + spelled_dims


def test_the_kernels_spell_breakdowns_along_the_declared_dims() -> None:
    """The array kernels name values with ``metric_name`` along the dims their task declares."""
    from tasks.fast_aggregates import PROBE_DIMS

    probes = TASKS.get("probes")
    assert probes.metrics["acc"].dims == PROBE_DIMS
    assert probes.metrics["chance"].dims == (DISTANCE,)
    assert all(TASKS.get(t).metrics["acc"].dims == (LEVEL,) for t in ("gsm8k", "math"))
    by_length = [info.dims for t in ("rouge", "action_edit") for info in TASKS.get(t).metrics.values()]
    assert by_length and all(dims == (LENGTH,) for dims in by_length)
