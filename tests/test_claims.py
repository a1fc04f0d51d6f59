"""The claims table (issue 14): multiple-comparison corrections on hand-computed p-values, and verdicts
built from a leaderboard — reproduced, not reproduced (with the reason), not testable here."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from leaderboard.claims import Claims, build, load_claims, render_markdown, suites_summary
from leaderboard.multiplicity import adjust, benjamini_hochberg, holm
from leaderboard.store import MetricRecord, RunRecord, Store


def test_holm_by_hand():
    # sorted: .005·4 = .02, .01·3 = .03, .03·2 = .06, .04·1 = .04 → running max .02 .03 .06 .06
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])  # .5·2 capped at 1; monotone after
    out = holm([0.02, float("nan"), 0.01])  # NaN stays NaN and is not counted in m
    assert np.isnan(out[1]) and out[[0, 2]].tolist() == pytest.approx([0.02, 0.02])
    assert holm([]).size == 0


def test_benjamini_hochberg_by_hand():
    # sorted p .005 .01 .03 .04 → p·m/rank = .02 .02 .04 .04, then the running min from the top
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    with pytest.raises(ValueError, match="unknown correction"):
        adjust([0.1], "bonferroni-ish")


def test_bundled_claims_cover_the_papers_findings():
    ids = {c.id for c in load_claims().claims}
    assert set("abcdefghi") <= ids and {"c-wikitext", "e-wikitext", "f-wikitext"} <= ids


def _record(store: Store, variant: str, nll: np.ndarray, seed: int = 0, timings: dict | None = None) -> None:
    samples = pd.DataFrame(
        {"sample_id": [f"d{i}" for i in range(len(nll))], "n_tokens": 100, "nll": nll, "n_bytes": 400}
    )
    buf = io.BytesIO()
    samples.to_parquet(buf, index=False)
    ppl = float(np.exp(nll.sum() / (100 * len(nll))))
    run = RunRecord(
        run_id=f"{variant}-{seed}", suite="s", variant=variant, family="f", task="ppl",
        task_name="perplexity", seed=seed, config_hash="c", model_key=f"m-{variant}",
        eval_key=f"e-{variant}-{seed}", git_commit="g", package_versions={}, timings=timings or {},
        params={"mode": "paper"},
    )  # fmt: skip
    store.record(run, [MetricRecord("perplexity", ppl, len(nll), higher_is_better=False)], buf.getvalue())


CLAIMS = Claims.model_validate(
    {
        "claims": [
            {"id": "good", "finding": "A beats B", "comparisons": [
                {"suite": "s", "task": "ppl", "metric": "perplexity", "first": "A", "second": "B",
                 "relation": "better"}]},
            {"id": "wrong-way", "finding": "B beats A", "comparisons": [
                {"suite": "s", "task": "ppl", "metric": "perplexity", "first": "B", "second": "A",
                 "relation": "better"}]},
            {"id": "tie", "finding": "A beats C", "comparisons": [
                {"suite": "s", "task": "ppl", "metric": "perplexity", "first": "A", "second": "C",
                 "relation": "better"}]},
            {"id": "no-worse", "finding": "C no worse than A", "comparisons": [
                {"suite": "s", "task": "ppl", "metric": "perplexity", "first": "C", "second": "A",
                 "relation": "no_worse"}]},
            {"id": "absent", "finding": "needs a suite not run", "at_scale": "run it on a GPU",
             "comparisons": [
                {"suite": "other", "task": "ppl", "metric": "perplexity", "first": "A", "second": "B",
                 "relation": "better"}]},
        ]
    }
)  # fmt: skip


def test_verdicts_from_a_leaderboard(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = rng.uniform(200, 300, 60)
    store = Store(tmp_path / "lb.db")
    _record(store, "A", base)
    _record(store, "B", base + 20 + rng.normal(0, 1, 60))  # clearly worse than A on every document
    _record(store, "C", base + rng.normal(0, 1, 60))  # A within noise
    frame, n_tests = build(store, CLAIMS, n_boot=300)
    verdict = dict(zip(frame["claim"], frame["verdict"], strict=True))
    assert verdict == {
        "good": "reproduced",
        "wrong-way": "not reproduced",
        "tie": "not reproduced",
        "no-worse": "reproduced",
        "absent": "not testable here",
    }
    assert n_tests == 4  # the absent comparison is not counted in the correction
    reason = dict(zip(frame["claim"], frame["reason"], strict=True))
    assert "opposite" in reason["wrong-way"] and "not significant" in reason["tie"]
    assert "planeval run other" in reason["absent"]
    good = frame.set_index("claim").loc["good"]
    assert good["diff"] < 0 and good["ci_high"] < 0 and good["p_adjusted"] >= good["p_value"]
    suites = suites_summary(store, CLAIMS)
    assert suites[["suite", "seeds", "variants", "runs"]].values.tolist() == [["s", "0", 3, 3]]
    text = render_markdown(frame, n_tests, "holm", 0.05, suites)
    assert "Holm" in text and "4 comparisons" in text and "**not testable here**" in text
    absent = next(line for line in text.splitlines() if line.startswith("| absent |"))
    assert "nan" not in absent and "| – |" in absent  # a comparison never made shows no number
    assert "## The suites behind it" in text and "| s | 0 | 3 | 3 | g |" in text
    assert "**absent** (not testable here): run it on a GPU" in text  # the claim's at_scale
    out = tmp_path / "claims.md"
    claims_file = tmp_path / "claims.yaml"
    import yaml

    claims_file.write_text(yaml.safe_dump(CLAIMS.model_dump()))
    assert main(["claims", "--db", str(tmp_path / "lb.db"), "--claims", str(claims_file), "-o", str(out),
                 "--n-boot", "300"]) == 0  # fmt: skip
    assert out.read_text().startswith("# Claims")


def test_stage_hours_are_a_lower_bound_when_a_training_resumed(tmp_path):
    """A resumed training recorded only its last attempt's seconds: the suite's hours say "≥"."""
    store = Store(tmp_path / "lb.db")
    nll = np.full(4, 250.0)
    _record(store, "A", nll, timings={"train_s": 1800.0, "eval_s": 0.0})
    _record(store, "B", nll, timings={"train_s": 1800.0})
    assert "| 1.00 |" in render_markdown(
        *build(store, CLAIMS, n_boot=50), "holm", 0.05, suites_summary(store, CLAIMS)
    )
    _record(store, "C", nll, timings={"train_s": 1800.0, "train_resumed_from_step": 1200})
    suites = suites_summary(store, CLAIMS)
    assert suites["resumed"].tolist() == [1]
    assert "| ≥ 1.50 |" in render_markdown(*build(store, CLAIMS, n_boot=50), "holm", 0.05, suites)


def test_compare_calls_no_winner_whose_interval_contains_zero():
    from types import SimpleNamespace

    from leaderboard.compare import _better

    row = SimpleNamespace(p_value=0.048, diff=-0.3, higher_is_better=False, ci_low=-0.7, ci_high=0.05)
    assert _better(row, "a", "b", 0.05) == ""  # p < α but the paired CI includes 0
    row.ci_high = -0.01
    assert _better(row, "a", "b", 0.05) == "a"  # lower is better and a - b < 0, CI below 0
    row.p_value = 0.2
    assert _better(row, "a", "b", 0.05) == ""


def test_the_committed_claims_page_is_built_from_the_committed_database(tmp_path):
    """docs/claims.md is `planeval claims` of docs/claims.db (make claims): a hand edit of the page, or a
    change to the claims code or file that would move a verdict, shows here."""
    import shutil
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    db = tmp_path / "claims.db"
    shutil.copy(docs / "claims.db", db)  # opening a database may upgrade it: never the committed file
    out = tmp_path / "claims.md"
    assert main(["claims", "--db", str(db), "-o", str(out)]) == 0
    assert out.read_text() == (docs / "claims.md").read_text()
