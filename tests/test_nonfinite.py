"""A NaN or inf model never gets a number (issue 12): evaluations fail, training stops, regress flags it.

Before these checks, an all-NaN model scored perplexity 1.0 (pandas sums skip NaN) and ranked first.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _models import micro_model, tiny_tokenizer

from harness.cli import main
from harness.finite import NonFiniteError, check_metrics, check_samples
from leaderboard.regress import Baseline, Entry, check
from leaderboard.store import Store
from trainers.finite import check_loss

INCLUDE = str(Path(__file__).parent / "data" / "include")
SUITE = """\
name: nf
corpus: {{source: synthetic, params: {{n_articles: 120}}}}
tokenizer: {{kind: bpe, vocab_size: 300}}
variants: [{variants}]
tasks:
  - {{name: perplexity, alias: ppl-rolling, params: {{mode: rolling, max_docs: 6}}}}
  - {{name: perplexity, alias: ppl-paper, params: {{mode: paper, window: 16, max_docs: 2}}}}
{extra}"""


def _save(model: torch.nn.Module, path: Path) -> Path:
    model.save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


def _poisoned(tmp_path: Path, name: str, value: float, rows: slice | None = None) -> Path:
    """A micro GPT-2 with ``value`` in every weight, or only in some rows of its input embeddings (the
    output head untied first: with GPT-2's tied head one NaN row would reach every position's softmax)."""
    tok = tiny_tokenizer()
    model = micro_model(len(tok))
    with torch.no_grad():
        if rows is None:
            for p in model.parameters():
                p.fill_(value)
        else:
            model.config.tie_word_embeddings = False
            model.lm_head.weight = torch.nn.Parameter(model.transformer.wte.weight.detach().clone())
            model.transformer.wte.weight[rows] = value
    return _save(model, tmp_path / name)


def _run(tmp_path: Path, capsys, variants: str, extra: str = "") -> tuple[int, str, Store]:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(variants=variants, extra=extra))
    home = tmp_path / "home"
    code = main(["run", str(suite), "--home", str(home), "--include", INCLUDE, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out + err, Store(f"sqlite:///{home / 'leaderboard.db'}")


def _no_finite_ok_row(store: Store, variant: str) -> list[dict]:
    runs = [r for r in store.runs(status=None).to_dict("records") if r["variant"] == variant]
    assert runs, f"no row at all for {variant}"
    for r in runs:
        assert r["status"] == "failed", r
        assert not store.get_run(r["run_id"]).get("metrics"), "a failed run carries metric rows"
    return runs


@pytest.mark.parametrize(("name", "value"), [("nan", math.nan), ("inf", math.inf)])
def test_nan_and_inf_weights_fail_every_eval(tmp_path, capsys, name, value):
    path = _poisoned(tmp_path, f"{name}-model", value)
    code, out, store = _run(tmp_path, capsys, f"'hf:{path}'")
    assert code == 1, out
    assert "non-finite" in out and "Traceback" not in out
    runs = _no_finite_ok_row(store, f"hf:{path}")
    assert all("samples have non-finite scores" in (r["error"] or "") for r in runs)
    assert all(f"hf:{path}" in (r["error"] or "") for r in runs)  # names the variant


def test_partially_nan_outputs_are_not_averaged_away(tmp_path, capsys):
    """NaN on some documents only: pandas would sum the clean ones and keep every token in the count."""
    from harness.corpus import build_corpus
    from harness.specs import CorpusSpec

    tok = tiny_tokenizer()
    docs = build_corpus(CorpusSpec(source="synthetic", params={"n_articles": 120})).test[:6]
    ids = [set(tok(d.text, add_special_tokens=False)["input_ids"]) for d in docs]
    # a token in some of the scored documents but not all: NaN embeddings poison exactly those
    token, k = next((t, n) for t in sorted(set().union(*ids)) if 0 < (n := sum(t in s for s in ids)) < 6)
    path = _poisoned(tmp_path, "some-nan", math.nan, rows=slice(token, token + 1))
    code, out, store = _run(tmp_path, capsys, f"'hf:{path}'")
    assert code == 1, out
    runs = {r["task"]: r for r in store.runs(status=None).to_dict("records")}
    rolling = runs["ppl-rolling"]  # all 6 documents: the poisoned one fails the evaluation
    assert rolling["status"] == "failed" and not store.get_run(rolling["run_id"])["metrics"]
    assert f"{k} of 6 samples have non-finite scores" in rolling["error"], rolling["error"]
    # paper mode scores only the first 2 documents; if they are clean, its row is an honest number
    paper = runs["ppl-paper"]
    clean = all(token not in s for s in ids[:2])
    assert paper["status"] == ("ok" if clean else "failed")
    if clean:
        assert all(math.isfinite(m["value"]) for m in store.get_run(paper["run_id"])["metrics"])


def test_diverging_training_stops_and_says_at_which_step(tmp_path, capsys):
    code, out, store = _run(
        tmp_path, capsys, "unigram, micro-lm", "overrides: {micro-lm: {lr: 1.0e+6, max_steps: 40}}\n"
    )
    assert code == 1
    assert "training loss is" in out and "at step" in out and "Traceback" not in out
    runs = _no_finite_ok_row(store, "micro-lm")
    assert all("training failed" in r["error"] and "at step" in r["error"] for r in runs)
    # the healthy variant of the same suite is unaffected
    healthy = [r for r in store.runs(status=None).to_dict("records") if r["variant"] == "unigram"]
    assert healthy and all(r["status"] == "ok" for r in healthy)


def test_check_samples_counts_rows_and_columns():
    frame = pd.DataFrame(
        {"sample_id": ["a", "b", "c", "d"], "nll": [1.0, np.nan, np.inf, 2.0], "n": [1, 2, 3, 4]}
    )
    with pytest.raises(NonFiniteError, match=r"2 of 4 samples .*nll: 2"):
        check_samples(frame, "ppl × m")
    check_samples(frame, "ppl × m", allow=("nll",))  # a column a task declares nullable
    with pytest.raises(NonFiniteError, match="perplexity=nan"):
        check_metrics({"perplexity": math.nan, "nll": 1.0}, "ppl × m")


def test_check_loss_names_the_step():
    assert check_loss(torch.tensor(0.5), 3, "lm x") == 0.5
    with pytest.raises(NonFiniteError, match="lm x: training loss is nan at step 7"):
        check_loss(torch.tensor(float("nan")), 7, "lm x")
    with pytest.raises(NonFiniteError, match="inf"):
        check_loss(float("inf"), 1, "lm x")


def test_regress_treats_a_nonfinite_current_value_as_a_regression():
    base = Baseline(
        suite="s",
        entries=[Entry(variant="v", task="t", metric="perplexity", value=10.0, higher_is_better=False)],
    )
    results = pd.DataFrame(
        [{"suite": "s", "variant": "v", "family": "f", "task": "t", "metric": "perplexity", "value": math.nan,
          "seed": 0, "n": 3, "ci_low": None, "ci_high": None, "higher_is_better": False,
          "config_hash": "c", "run_id": "r", "model_key": "m", "git_commit": "g"}]
    )  # fmt: skip
    report = check(base, results)
    assert report.count("regressed") == 1 and report.failed()
