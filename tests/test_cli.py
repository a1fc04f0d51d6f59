"""The command line: --help everywhere, clear one-line errors with exit code 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

INCLUDE = str(Path(__file__).parent / "data" / "include")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_on_every_command():
    for args in ([], ["run"], ["list"], ["leaderboard"], ["show"]):
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", *args, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "usage: planeval" in proc.stdout


def test_list(capsys):
    code, out, _ = run_cli(capsys, "list", "tasks")
    assert code == 0 and "perplexity" in out and "rouge" in out
    code, out, _ = run_cli(capsys, "list", "variants", "--include", INCLUDE)
    assert code == 0 and "tiny-lm" in out and "micro-lm" in out
    code, out, _ = run_cli(capsys, "list", "suites")
    assert code == 0 and "smoke" in out


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("planeval: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("suite", "needles"),
    [
        (
            "name: s\nvariants: [unigram]\ntasks: [{name: perplexty}]\n",
            ["unknown task 'perplexty'", "did you mean 'perplexity'", "valid:"],
        ),
        (
            "name: s\nvariants: [tiny-lmm]\ntasks: [{name: perplexity}]\n",
            ["unknown variant 'tiny-lmm'", "did you mean 'tiny-lm'"],
        ),
        (
            "name: s\nvariants: [unigram]\ntasks: [{name: perplexity, params: {mode: fast}}]\n",
            ["suite.yaml: tasks.0.params.mode"],
        ),
        (
            "name: s\nvariants: [unigram]\ntasks: [{name: perplexity}]\noverrides: {tiny-lm: {lr: 1}}\n",
            ["overrides.tiny-lm"],
        ),
        (
            "name: s\nvariants: [unigram]\ntasks: [{name: perplexity}]\n"
            "corpus: {source: jsonl, params: {path: /nonexistent/corpus.jsonl}}\n",
            ["/nonexistent/corpus.jsonl"],
        ),
        (
            "name: s\nvariants: [unigram]\ntasks: [{name: perplexity}]\ncorpus: {source: synthetc}\n",
            ["unknown corpus source 'synthetc'", "did you mean 'synthetic'"],
        ),
        ("name: s\nvariants: ['hf:./no/such/model']\ntasks: [{name: perplexity}]\n", ["no such model"]),
        ("name: s\nvariants: [unigram]\ntasks: {name: perplexity}\n", ["suite.yaml: tasks"]),
    ],
)
def test_bad_suites_fail_cleanly_and_write_nothing(capsys, tmp_path, suite, needles):
    path = tmp_path / "suite.yaml"
    path.write_text(suite)
    home = tmp_path / "home"
    code, _, err = run_cli(capsys, "run", str(path), "--home", str(home))
    assert_one_line_error(code, err, *needles)
    assert not home.exists()


def test_bad_trainer_params_name_the_variant_file(capsys, tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "bad.yaml").write_text("name: bad-lm\nfamily: lm\ntrainer: lm\nparams: {max_step: 3}\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nvariants: [bad-lm]\ntasks: [{name: perplexity}]\n")
    code, _, err = run_cli(capsys, "run", str(suite), "--include", str(inc), "--home", str(tmp_path / "h"))
    assert_one_line_error(code, err, "bad.yaml: params.max_step", "unknown field")
    assert not (tmp_path / "h").exists()


def test_missing_suite_file_and_unknown_suite(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "nope.yaml"), "--home", str(tmp_path / "h"))
    assert_one_line_error(code, err, "nope.yaml")
    code, _, err = run_cli(capsys, "run", "smok", "--home", str(tmp_path / "h"))
    assert_one_line_error(code, err, "unknown suite 'smok'", "did you mean 'smoke'")
    assert not (tmp_path / "h").exists()


def test_leaderboard_without_results(capsys, tmp_path):
    code, _, err = run_cli(capsys, "leaderboard", "--home", str(tmp_path / "h"))
    assert_one_line_error(code, err, "no leaderboard")


def test_dry_run_writes_nothing(capsys, tmp_path):
    home = tmp_path / "h"
    code, out, _ = run_cli(capsys, "run", "micro", "--include", INCLUDE, "--dry-run", "--home", str(home))
    assert code == 0
    assert "corpus" in out and "train" in out and "eval" in out and "to run" in out
    assert not home.exists()


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (``from . import`` resolved)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_the_cli_is_on_top_and_imports_nothing_heavy_for_help():
    """One module per subcommand in harness/cli/; nothing else (the lm-eval bridge included) imports the
    CLI, so the CLI ↔ bridge circle is gone; ``planeval --help`` imports no model or data stack."""
    from harness.cli import COMMANDS

    root = Path(__file__).resolve().parents[1]
    cli = root / "harness" / "cli"
    assert set(COMMANDS) == {"run", "list", "leaderboard", "show", "score", "lm-eval", "claims", "compare",
                             "regress", "plot", "export", "import-lm-eval", "cache", "status"}  # fmt: skip
    assert {c.module for c in COMMANDS.values()} <= {p.stem for p in cli.glob("*.py")}
    for package in ("harness", "leaderboard", "tasks", "trainers"):
        for path in (root / package).rglob("*.py"):
            if cli not in path.parents:
                bad = {m for m in _imports(path) if m == "harness.cli" or m.startswith("harness.cli.")}
                assert not bad, f"{path.relative_to(root)} imports the CLI: {sorted(bad)}"
    code = (
        "import sys\nfrom harness.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'pandas', 'matplotlib', 'lm_eval', 'sqlalchemy') "
        "if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "score" in proc.stdout and "HEAVY []" in proc.stdout


def test_no_import_circle_between_harness_modules():
    """The harness's modules import each other without a circle (imports inside functions count too)."""
    root = Path(__file__).resolve().parents[1]
    modules: dict[str, Path] = {}
    for path in (root / "harness").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:  # the module an imported name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {
        m: {o for name in _imports(p) if (o := owner(name)) and o != m and not m.startswith(o + ".")}
        for m, p in modules.items()
    }
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(m) :], m]))
        if m not in done:
            for n in sorted(graph[m]):
                visit(n, [*path, m])
            done.add(m)

    for m in sorted(graph):
        visit(m, [])
