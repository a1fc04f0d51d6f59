"""The engine hosts methods without knowing them, and its layers import only downward (issue 15).

* The engine's modules (runner, specs, the model API, derived stages, loaders, registry, cache, replay)
  spell no registered task, trainer, variant, family, derived stage or model loader in their string
  literals (docstrings and comments may explain one in words).
* ``harness/`` is the ground floor: apart from the modules on top (the runner, the CLI, the lm-eval
  bridge, the cached re-run, the back ends that run the runner's stages) no module of it imports
  ``tasks``, ``trainers`` or ``leaderboard``, or one of those top modules; and no two ``harness``
  modules import each other in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from test_engine_neutral import registered_names, spelled, string_literals

from harness.loaders import LOADERS
from harness.stages import DERIVED

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"
ENGINE = [
    "runner.py",
    "specs.py",
    "adapters.py",
    "stages.py",
    "loaders/__init__.py",
    "registry.py",
    "cache.py",
    "replay.py",
    *(f"executors/{p.name}" for p in sorted((HARNESS / "executors").glob("*.py"))),
]
#: (file, literal) pairs an engine module may spell, each with its reason
ALLOWED: dict[tuple[str, str], str] = {
    (f, "hf"): "the tokenizer kind 'hf' (TokenizerSpec.kind: a Hugging Face tokenizer), not the hf: loader"
    for f in ("runner.py", "specs.py", "replay.py")
} | {
    ("adapters.py", "lm-eval"): "the 'lm-eval' scoring encoding (ENCODINGS) and lm-eval's own calls named in "
    "the capabilities, not the lm-eval: loader",
}
#: the modules on top of the core: they may import anything
TOP = ("harness.runner", "harness.replay", "harness.lm_eval_bridge", "harness.cli", "harness.executors")
ABOVE = ("tasks", "trainers", "leaderboard")


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (lazy imports in functions count)."""
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _is(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


def test_the_engine_names_no_method() -> None:
    names = registered_names() | set(DERIVED.names()) | set(LOADERS.names())
    hits = [
        f"harness/{f}:{line}: {text!r} spells {name!r}"
        for f in ENGINE
        for line, text in string_literals(HARNESS / f)
        for name in sorted(names)
        if spelled(name, text) and (f, name) not in ALLOWED
    ]
    assert not hits, "\n".join(hits)


def test_the_core_imports_nothing_above_it() -> None:
    faults = []
    for path in sorted(HARNESS.rglob("*.py")):
        module = _module(path)
        if _is(module, TOP):
            continue
        for imported in sorted(_imports(path)):
            if _is(imported, ABOVE) or _is(imported, TOP):
                faults.append(f"{module} imports {imported}")
    assert not faults, "\n".join(faults)


def test_no_import_circle_in_harness() -> None:
    modules = {_module(p): p for p in HARNESS.rglob("*.py")}
    graph = {
        m: {i for i in _imports(p) if i in modules and i != m and not m.startswith(f"{i}.")}
        for m, p in modules.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[str] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                circles.append(" -> ".join([*path[path.index(n) :], n]))
            elif n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, "\n".join(circles)
