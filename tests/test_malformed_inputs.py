"""Bad input is refused before any work (issue 12): a corpus of malformed suites, variants and --db URLs.

Every case must exit with code 2 and one line that names the file where the fault is and the dotted field,
and must leave nothing behind: the home folder is not created and the database is not touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.cli import main

INCLUDE = str(Path(__file__).parent / "data" / "include")

GOOD = """\
name: s
corpus: {source: synthetic, params: {n_articles: 40}}
tokenizer: {kind: bpe, vocab_size: 300}
variants: [unigram, micro-lm]
tasks: [{name: perplexity, params: {mode: rolling}}]
"""


def suite(**fields: str) -> str:
    """GOOD with some top-level fields replaced (``None``-like ``""`` drops the field)."""
    lines = {ln.split(":", 1)[0]: ln for ln in GOOD.splitlines()}
    for k, v in fields.items():
        lines[k] = f"{k}: {v}" if v else ""
    return "\n".join(ln for ln in lines.values() if ln) + "\n"


@dataclass
class Case:
    id: str
    suite: str | bytes | None  # the suite file's content (None: the suite argument is given in argv)
    needles: tuple[str, ...]  # each must be in the one error line: the file and the dotted field
    files: dict[str, str] = field(default_factory=dict)  # extra files under inc/ (variants), {t}-named
    argv: tuple[str, ...] = ()  # extra CLI arguments; {tmp} is the test folder
    suite_arg: str | None = None  # what to pass instead of the suite file


CASES: list[Case] = [
    # -- YAML and file level
    Case("dup-top-key", GOOD + "name: t\n", ("suite.yaml: line 6", "duplicate key 'name'")),
    Case(
        "dup-nested-key",
        suite(tasks="[{name: perplexity, params: {mode: rolling, mode: paper}}]"),
        ("suite.yaml: line", "duplicate key 'mode'"),
    ),
    Case(
        "dup-key-block",
        GOOD + "overrides:\n  micro-lm: {max_steps: 3}\n  micro-lm: {max_steps: 4}\n",
        ("suite.yaml: line 8", "duplicate key 'micro-lm'"),
    ),
    Case("not-a-mapping", "- a\n- b\n", ("suite.yaml", "expected a mapping")),
    Case("empty-file", "", ("suite.yaml", "expected a mapping")),
    Case("scalar-file", "just text\n", ("suite.yaml", "expected a mapping")),
    Case("bad-yaml", "name: s\nvariants: [unigram\n", ("suite.yaml: line", "invalid YAML")),
    Case("bad-indent", "name: s\n  variants: x\n", ("suite.yaml: line", "invalid YAML")),
    Case("python-tag", "name: !!python/object:os.system x\n", ("suite.yaml", "invalid YAML")),
    Case("non-utf8", b"name: s\nvariants: [\xff\xfe]\n", ("suite.yaml: line 2", "not UTF-8")),
    Case("latin1", "name: caf\xe9\n".encode("latin-1"), ("suite.yaml: line 1", "not UTF-8")),
    Case("directory", None, ("is a directory",), suite_arg="{tmp}/adir"),
    Case("missing-file", None, ("nope.yaml", "no such"), suite_arg="{tmp}/nope.yaml"),
    Case("unknown-suite", None, ("unknown suite 'smok'", "did you mean 'smoke'"), suite_arg="smok"),
    Case("unknown-top-field", GOOD + "varients: [unigram]\n", ("suite.yaml: varients", "unknown field")),
    # -- variants
    Case("variants-empty", suite(variants="[]"), ("suite.yaml: variants", "at least 1")),
    Case("variants-dup", suite(variants="[unigram, unigram]"), ("suite.yaml: variants", "duplicate")),
    Case("variants-not-list", suite(variants="7"), ("suite.yaml: variants",)),
    Case(
        "variant-unknown",
        suite(variants="[unigram, micro-lmm]"),
        ("suite.yaml: variants.1", "unknown variant 'micro-lmm'", "did you mean 'micro-lm'"),
    ),
    Case("hf-empty", suite(variants="['hf:']"), ("suite.yaml: variants", "after 'hf:'")),
    Case(
        "hf-missing-folder", suite(variants="['hf:./no/such/model']"), ("suite.yaml: variants.0", "no such")
    ),
    Case(
        "hf-offline-hub-id",
        suite(variants="['hf:nobody/no-such-model-xyz']"),
        ("suite.yaml: variants.0", "offline"),
    ),
    Case(
        "hf-folder-without-config",
        suite(variants="['hf:{tmp}/adir']"),
        ("suite.yaml: variants.0", "config.json"),
    ),
    # -- seeds
    Case("seeds-empty", suite(seeds="[]"), ("suite.yaml: seeds", "at least 1")),
    Case("seeds-dup", suite(seeds="[0, 1, 0]"), ("suite.yaml: seeds", "duplicate")),
    Case("seed-negative", suite(seeds="[-1]"), ("suite.yaml: seeds.0", "greater than or equal to 0")),
    Case("seed-2^32", suite(seeds=f"[{2**32}]"), ("suite.yaml: seeds.0", "less than or equal")),
    Case("seed-2^64", suite(seeds=f"[{2**64}]"), ("suite.yaml: seeds.0", "less than or equal")),
    Case("seed-string", suite(seeds="[a]"), ("suite.yaml: seeds.0",)),
    Case("seed-float", suite(seeds="[1.5]"), ("suite.yaml: seeds.0",)),
    Case("seeds-scalar", suite(seeds="0"), ("suite.yaml: seeds",)),
    Case("corpus-seed-negative", suite(corpus="{source: synthetic, seed: -3}"), ("suite.yaml: corpus.seed",)),
    Case(
        "actions-seed-huge",
        suite(artifacts=f"{{actions: {{seed: {2**40}}}}}"),
        ("suite.yaml: artifacts.actions.seed",),
    ),
    Case(
        "artifact-unknown",
        suite(artifacts="{actoins: {n_actions: 4}}"),
        ("suite.yaml: artifacts.actoins", "unknown derived stage", "did you mean 'actions'"),
    ),
    # -- corpus
    Case(
        "corpus-unknown-source",
        suite(corpus="{source: synthetc}"),
        ("suite.yaml: corpus.source", "synthetic"),
    ),
    Case(
        "corpus-bad-param",
        suite(corpus="{source: synthetic, params: {n_artcles: 3}}"),
        ("suite.yaml: corpus.params.n_artcles", "unknown field"),
    ),
    Case(
        "corpus-fractions-sum",
        suite(corpus="{source: synthetic, val_fraction: 0.5, test_fraction: 0.5}"),
        ("suite.yaml: corpus", "leaves no training documents"),
    ),
    Case("corpus-fraction-big", suite(corpus="{val_fraction: 1.5}"), ("suite.yaml: corpus.val_fraction",)),
    Case("corpus-fraction-neg", suite(corpus="{test_fraction: -0.1}"), ("suite.yaml: corpus.test_fraction",)),
    Case(
        "corpus-missing-file",
        suite(corpus="{source: jsonl, params: {path: /nonexistent/corpus.jsonl}}"),
        ("/nonexistent/corpus.jsonl",),
    ),
    # -- tokenizer and actions
    Case(
        "tok-vocab-small",
        suite(tokenizer="{kind: bpe, vocab_size: 10}"),
        ("suite.yaml: tokenizer.vocab_size",),
    ),
    Case("tok-kind", suite(tokenizer="{kind: wordpiece}"), ("suite.yaml: tokenizer.kind",)),
    Case("tok-hf-no-name", suite(tokenizer="{kind: hf}"), ("suite.yaml: tokenizer.name_or_path",)),
    Case(
        "tok-hf-missing-folder",
        suite(tokenizer="{kind: hf, name_or_path: ./no/such/tokenizer}"),
        ("suite.yaml: tokenizer.name_or_path", "no such tokenizer folder"),
    ),
    Case(
        "tok-hf-offline",
        suite(tokenizer="{kind: hf, name_or_path: nobody/no-such-tokenizer-xyz}"),
        ("suite.yaml: tokenizer.name_or_path", "offline"),
    ),
    Case(
        "tok-hf-empty-folder",
        suite(tokenizer="{kind: hf, name_or_path: '{tmp}/adir'}"),
        ("suite.yaml: tokenizer.name_or_path", "not a tokenizer folder"),
    ),
    Case(
        "actions-k",
        suite(artifacts="{actions: {n_actions: 1}}"),
        ("suite.yaml: artifacts.actions.n_actions",),
    ),
    Case(
        "actions-encoder-missing",
        suite(
            artifacts="{actions: {encoder: ./no/such/encoder}}",
            tasks="[{name: action_edit, params: {n_prompts: 2}}]",
        ),
        ("suite.yaml: artifacts.actions.encoder", "no such sentence encoder folder"),
    ),
    # -- tasks
    Case("tasks-empty", suite(tasks="[]"), ("suite.yaml: tasks", "at least 1")),
    Case("tasks-not-list", suite(tasks="{name: perplexity}"), ("suite.yaml: tasks",)),
    Case(
        "task-unknown",
        suite(tasks="[{name: perplexty}]"),
        ("suite.yaml: tasks.0.name", "unknown task 'perplexty'", "did you mean 'perplexity'"),
    ),
    Case(
        "task-bad-param",
        suite(tasks="[{name: perplexity, params: {mode: fast}}]"),
        ("suite.yaml: tasks.0.params.mode",),
    ),
    Case(
        "task-unknown-param",
        suite(tasks="[{name: perplexity, params: {windw: 3}}]"),
        ("suite.yaml: tasks.0.params.windw", "unknown field"),
    ),
    Case(
        "task-max-docs-zero",
        suite(tasks="[{name: perplexity, params: {max_docs: 0}}]"),
        ("suite.yaml: tasks.0.params.max_docs",),
    ),
    Case(
        "named-corpus-unknown-source",
        suite(corpora="{math: {source: arithmetc}}"),
        ("suite.yaml: corpora.math.source", "did you mean 'arithmetic'"),
    ),
    Case(
        "named-corpus-bad-param",
        suite(corpora="{math: {source: arithmetic, params: {n_problms: 3}}}"),
        ("suite.yaml: corpora.math.params.n_problms", "unknown field"),
    ),
    Case(
        "task-corpus-unknown",
        suite(tasks="[{name: perplexity, corpus: math}]"),
        ("suite.yaml: tasks.0.corpus", "no corpus named 'math'"),
    ),
    Case(
        "task-needs-capability",
        suite(tasks="[{name: probes}]"),
        ("suite.yaml: tasks.0", "probes needs the capability hidden_sites", "unigram", "on_incapable"),
    ),
    Case(
        "task-dup-labels",
        suite(tasks="[{name: perplexity}, {name: perplexity}]"),
        ("suite.yaml: tasks", "unique"),
    ),
    Case(
        "task-window-beyond-context",
        suite(tasks="[{name: perplexity, params: {mode: paper, window: 4096}}]"),
        ("suite.yaml: tasks.0.params.window", "context of 64"),
    ),
    Case(
        "task-rolling-window-beyond-context",
        suite(tasks="[{name: perplexity, alias: r, params: {mode: rolling, window: 65}}]"),
        ("suite.yaml: tasks.0.params.window", "context of 64"),
    ),
    Case(
        "task-variants-unknown",
        suite(tasks="[{name: perplexity, variants: [tiny-lm]}]"),
        ("suite.yaml: tasks.0.variants.0", "not a variant of this suite"),
    ),
    Case(
        "task-variants-empty",
        suite(tasks="[{name: perplexity, variants: []}]"),
        ("suite.yaml: tasks.0.variants",),
    ),
    Case(
        "task-variants-dup",
        suite(tasks="[{name: perplexity, variants: [unigram, unigram]}]"),
        ("suite.yaml: tasks.0.variants", "duplicate"),
    ),
    # -- overrides and trainer_params: the suite is blamed for what the suite says
    Case(
        "override-bad-value",
        GOOD + "overrides: {micro-lm: {max_steps: 0}}\n",
        ("suite.yaml: overrides.micro-lm.max_steps", "greater than or equal to 1"),
    ),
    Case(
        "override-unknown-field",
        GOOD + "overrides: {micro-lm: {max_step: 3}}\n",
        ("suite.yaml: overrides.micro-lm.max_step", "unknown field"),
    ),
    Case(
        "override-wrong-type",
        GOOD + "overrides: {micro-lm: {batch_size: many}}\n",
        ("suite.yaml: overrides.micro-lm.batch_size",),
    ),
    Case("override-not-mapping", GOOD + "overrides: {micro-lm: 3}\n", ("suite.yaml: overrides.micro-lm",)),
    Case(
        "override-unused-variant",
        GOOD + "overrides: {tiny-lm: {max_steps: 3}}\n",
        ("suite.yaml: overrides.tiny-lm", "neither in 'variants'"),
    ),
    Case(
        "override-seq-len-beyond-context",
        GOOD + "overrides: {micro-lm: {seq_len: 512}}\n",
        ("suite.yaml: overrides.micro-lm.seq_len", "context of 64"),
    ),
    Case(
        "override-model-rule",
        GOOD + "overrides: {micro-lm: {weights: preset:nosuchpreset}}\n",
        ("suite.yaml: overrides.micro-lm.weights", "unknown preset"),
    ),
    Case(
        "trainer-params-unused",
        GOOD + "trainer_params: {planner: {max_steps: 3}}\n",
        ("suite.yaml: trainer_params.planner", "no variant of this suite uses trainer 'planner'"),
    ),
    Case(
        "trainer-params-unknown",
        GOOD + "trainer_params: {plannr: {max_steps: 3}}\n",
        ("suite.yaml: trainer_params.plannr", "unknown trainer 'plannr'"),
    ),
    Case(
        "trainer-params-bad-value",
        GOOD + "trainer_params: {lm: {lr: -1}}\n",
        ("suite.yaml: trainer_params.lm.lr", "greater than 0"),
    ),
    # -- variant files: the variant file is blamed for what it says
    Case(
        "variant-bad-param",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.max_step", "unknown field"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lm\n"
            "params: {weights: preset:micro, max_step: 3}\n"
        },
    ),
    Case(
        "variant-dup-key",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: line 3", "duplicate key 'family'"),
        files={"bad.yaml": "name: bad-{t}\nfamily: lm\nfamily: lm\ntrainer: lm\n"},
    ),
    Case(
        "variant-seq-len-beyond-context",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.seq_len", "context of 64"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lm\n"
            "params: {weights: preset:micro, seq_len: 100}\n"
        },
    ),
    Case(
        "variant-seed-huge",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: seed",),
        files={"bad.yaml": f"name: bad-{{t}}\nfamily: lm\ntrainer: lm\nseed: {2**63}\n"},
    ),
    Case(
        "variant-no-family",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: family", "required"),
        files={"bad.yaml": "name: bad-{t}\ntrainer: lm\n"},
    ),
    Case(
        "variant-unknown-trainer",
        suite(variants="[bad-{t}]"),
        ("unknown trainer 'lmm'",),
        files={"bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lmm\n"},
    ),
    Case(
        "variant-hf-preset-missing",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.weights", "no such model folder"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lm\nparams: {weights: 'hf:/no/such/weights'}\n"
        },
    ),
    Case(
        "variant-hf-preset-offline",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.weights", "offline"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lm\nparams: {weights: 'hf:nobody/nothing-xyz'}\n"
        },
    ),
    Case(
        "variant-unknown-base",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.weights", "unknown variant 'tiny-lmm'"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: planner\ntrainer: planner\n"
            "params: {weights: variant:tiny-lmm}\n"
        },
    ),
    Case(
        "variant-base-cycle",
        suite(variants="[bad-{t}]"),
        ("bad.yaml", "requirement cycle"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: planner\ntrainer: planner\n"
            "params: {weights: variant:bad-{t}}\n"
        },
    ),
    Case(
        "variant-planner-hf-base-missing",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.weights", "no such model folder"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: planner\ntrainer: planner\nparams: {weights: 'hf:/no/lm'}\n"
        },
    ),
    # -- weights: one spelling; an old field names the new one (issue 15)
    Case(
        "retired-lm-preset",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.preset", "`preset: micro` is now `weights: preset:micro`"),
        files={"bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lm\nparams: {preset: micro}\n"},
    ),
    Case(
        "retired-planner-base",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.base", "`base: tiny-lm` is now `weights: variant:tiny-lm`"),
        files={"bad.yaml": "name: bad-{t}\nfamily: planner\ntrainer: planner\nparams: {base: tiny-lm}\n"},
    ),
    Case(
        "retired-planner-hf-base",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.base", "`base: hf:gpt2` is now `weights: hf:gpt2`"),
        files={"bad.yaml": "name: bad-{t}\nfamily: planner\ntrainer: planner\nparams: {base: 'hf:gpt2'}\n"},
    ),
    Case(
        "retired-in-trainer-params",
        GOOD + "trainer_params: {lm: {preset: tiny}}\n",
        ("suite.yaml: trainer_params.lm.preset", "`preset: tiny` is now `weights: preset:tiny`"),
    ),
    Case(
        "retired-in-override",
        GOOD + "overrides: {micro-lm: {preset: 'hf:gpt2'}}\n",
        ("suite.yaml: overrides.micro-lm.preset", "is now `weights: hf:gpt2`"),
    ),
    Case(
        "retired-reward-body",
        suite(variants="[bad-{t}]"),
        (
            "bad.yaml: params.reward_body",
            "`reward_body: base` is now the default (leave `reward_weights` out)",
        ),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: rw\ntrainer: reward_weighted\nparams: {reward_body: base}\n"
        },
    ),
    Case(
        "retired-reward-body-preset",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.reward_body", "`reward_body: micro` is now `reward_weights: preset:micro`"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: rw\ntrainer: reward_weighted\nparams: {reward_body: micro}\n"
        },
    ),
    Case(
        "retired-grpo-sft",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.sft", "`sft: plan-m1` is now `weights: variant:plan-m1`"),
        files={"bad.yaml": "name: bad-{t}\nfamily: pt\ntrainer: plan-grpo\nparams: {sft: plan-m1}\n"},
    ),
    Case(
        "retired-plan-sft-base",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.base", "`base: tiny-lm` is now `weights: variant:tiny-lm`"),
        files={"bad.yaml": "name: bad-{t}\nfamily: pt\ntrainer: plan-sft\nparams: {base: tiny-lm}\n"},
    ),
    Case(
        "weights-no-kind",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.weights", "'tiny-lm' is not variant:<name>, hf:<Hub id or path> or preset:<name>"),
        files={"bad.yaml": "name: bad-{t}\nfamily: planner\ntrainer: planner\nparams: {weights: tiny-lm}\n"},
    ),
    Case(
        "weights-kind-not-taken",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.weights", "this trainer takes preset:<name> or hf:<Hub id or path>"),
        files={"bad.yaml": "name: bad-{t}\nfamily: lm\ntrainer: lm\nparams: {weights: variant:tiny-lm}\n"},
    ),
    Case(
        "reward-weights-hf-missing",
        suite(variants="[bad-{t}]"),
        ("bad.yaml: params.reward_weights", "no such model folder"),
        files={
            "bad.yaml": "name: bad-{t}\nfamily: rw\ntrainer: reward_weighted\n"
            "params: {reward_weights: 'hf:/no/body'}\n"
        },
    ),
    Case(
        "variant-not-mapping",
        suite(variants="[unigram]"),
        ("bad.yaml", "expected a mapping"),
        files={"bad.yaml": "[1, 2]\n"},
    ),
    Case(
        "variant-name-clash",
        suite(variants="[unigram]"),
        ("bad.yaml: name", "already defined"),
        files={"bad.yaml": "name: micro-lm\nfamily: lm\ntrainer: lm\n"},
    ),
    Case("include-missing", GOOD, ("no such folder",), argv=("--include", "{tmp}/no-such-include")),
    # -- the leaderboard database
    Case("db-directory", GOOD, ("--db", "is a directory"), argv=("--db", "sqlite:///{tmp}/adir")),
    Case("db-unknown-dialect", GOOD, ("--db", "unknown database dialect"), argv=("--db", "nosuch://x/y")),
    Case(
        "db-missing-driver",
        GOOD,
        ("--db", "driver", "not installed"),
        argv=("--db", "postgresql+pg8000://u@127.0.0.1:1/db"),
    ),
    Case("db-not-a-url", GOOD, ("--db", "not a database URL"), argv=("--db", "://nothing")),
    Case(
        "db-read-only",
        GOOD,
        ("--db", "attempt to write a readonly database"),
        argv=("--db", "sqlite:///file:{tmp}/ro.db?mode=ro&uri=true"),
    ),
]


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(c.suite, c.suite_arg, tuple(c.files.items()), c.argv) for c in CASES}) == len(CASES)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_fails_cleanly_and_writes_nothing(case: Case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path in a case means the test folder
    tag = case.id.replace("-", "").replace("^", "")
    (tmp_path / "adir").mkdir()
    ro = tmp_path / "ro.db"
    if case.id == "db-read-only":
        import sqlite3

        sqlite3.connect(ro).execute("CREATE TABLE t (x INTEGER)").connection.commit()
    argv = ["run"]
    if case.suite is not None:
        path = tmp_path / "suite.yaml"
        text = case.suite if isinstance(case.suite, bytes) else case.suite.replace("{t}", tag)
        if isinstance(text, str):
            text = text.replace("{tmp}", str(tmp_path))
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        argv.append(str(path))
    else:
        argv.append(str(case.suite_arg).replace("{tmp}", str(tmp_path)))
    argv += ["--include", INCLUDE]
    if case.files:
        inc = tmp_path / "inc"
        inc.mkdir()
        for name, body in case.files.items():
            (inc / name).write_text(body.replace("{t}", tag), encoding="utf-8")
        argv += ["--include", str(inc)]
    home, db = tmp_path / "home", tmp_path / "other" / "board.db"
    extra = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    argv += ["--home", str(home)]
    if "--db" not in extra:
        argv += ["--db", f"sqlite:///{db}"]
    argv += extra
    before = _snapshot(tmp_path)

    code = main(argv)

    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("planeval: error: "), lines[0]
    assert "Traceback" not in err and "Traceback" not in out
    for needle in case.needles:
        assert needle.replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert not home.exists(), "the home was written before the error"
    assert not db.exists() and not db.parent.exists(), "the database was written before the error"
    assert _snapshot(tmp_path) == before, "a file changed before the error"
    assert os.listdir(tmp_path / "adir") == []
