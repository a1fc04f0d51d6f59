"""``planeval compare`` and significance marks on a store whose runs have real per-sample tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _leaderboard_data import XSS, build

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard.compare import compare_variants, significance_vs
from leaderboard.select import select_metrics

N_BOOT = 100


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory):
    return build(tmp_path_factory.mktemp("board"))


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory):
    variants = {"base": ("lm", 3.0, 0.0), "better": ("planner", 2.95, 0.03)}
    return build(tmp_path_factory.mktemp("seeds"), seeds=(0, 1), variants=variants)


def headline(fx):
    return select_metrics(fx.store.results(), None)


def test_planted_difference_is_significant_and_null_is_not(fx):
    out = compare_variants(headline(fx), fx.store.runs(), "better", "base", n_boot=N_BOOT)
    assert list(out["metric"]) == ["perplexity", "nll_per_token", "bits_per_byte", "rouge1", "rouge2"]
    assert (
        out["p_value"] <= 1 / (N_BOOT + 1)
    ).all()  # the smallest a permutation p can be and (out["better"] == "better").all()
    assert (out["test"] == "permutation").all()
    ppl = out.set_index("metric").loc["perplexity"]
    assert ppl["diff"] < 0 and ppl["ci_high"] < 0 and ppl["n"] == 120 and not ppl["higher_is_better"]
    # the difference is of the task's own aggregates, which are the leaderboard's numbers
    values = fx.store.results(tasks=["ppl"]).set_index(["variant", "metric"])["value"]
    assert ppl["a"] == pytest.approx(values[("better", "perplexity")])
    assert ppl["diff"] == pytest.approx(values[("better", "perplexity")] - values[("base", "perplexity")])
    null = compare_variants(headline(fx), fx.store.runs(), "same", "base", n_boot=N_BOOT)
    assert (null["p_value"] > 0.05).all() and (null["better"] == "").all()


def test_seeds_are_pooled_as_seed_sample_pairs(two_seeds):
    out = compare_variants(headline(two_seeds), two_seeds.store.runs(), "better", "base", n_boot=N_BOOT)
    assert set(out["seeds"]) == {"0,1"}
    assert out.set_index("metric").loc["perplexity", "n"] == 240
    one = compare_variants(
        headline(two_seeds)[lambda r: r["seed"] == 1], two_seeds.store.runs(), "better", "base", n_boot=N_BOOT
    )
    assert set(one["seeds"]) == {"1"} and one.set_index("metric").loc["perplexity", "n"] == 120


def test_clear_errors(fx, tmp_path):
    results, runs = headline(fx), fx.store.runs()
    with pytest.raises(PlanevalError, match=r"no results for variant 'bse'.*did you mean 'base'.*valid:"):
        compare_variants(results, runs, "bse", "better")
    with pytest.raises(PlanevalError, match="two different variants"):
        compare_variants(results, runs, "base", "base")
    gone = runs.assign(samples_path=str(tmp_path / "nowhere.parquet"))
    with pytest.raises(PlanevalError, match="no longer in the cache: re-run the suite"):
        compare_variants(results, gone, "better", "base", n_boot=N_BOOT)


def test_significance_vs_reference(fx):
    results = headline(fx)[lambda r: r["metric"] == "perplexity"]
    sig = significance_vs(results, fx.store.runs(), "base", n_boot=100)
    assert list(sig.columns) == ["variant", "task", "metric", "diff", "p_value"]
    assert sig.set_index("variant")["p_value"].to_dict() == {
        XSS: 1 / 101,
        "better": 1 / 101,
        "same": pytest.approx(0.1, abs=0.08),
    }
    with pytest.raises(PlanevalError, match="did you mean 'base'"):
        significance_vs(results, fx.store.runs(), "bas")


def test_reference_marks_the_table(fx, capsys):
    # 1000 permutations: p can reach 0.001, so the marks survive Holm over the table's comparisons
    code = main(["leaderboard", "--db", fx.store.url, "--reference", "base", "--n-boot", "1000",
                 "--metrics", "perplexity,rouge1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = {
        line.split(" | ")[1]: line for line in out.splitlines() if line.startswith("| ") and " | " in line
    }
    assert lines["better"].count("\u2020") == 2  # both columns differ from base
    assert "\u2020" not in lines["same"] and "\u2020" not in lines["base"]
    assert "differs from base at p \\< 0.05" in out and "Holm-corrected" in out
    # with 100 permutations the smallest p (1/101) cannot survive the correction: no mark is made
    assert main(["leaderboard", "--db", fx.store.url, "--reference", "base", "--n-boot", "100",
                 "--metrics", "perplexity,rouge1"]) == 0  # fmt: skip
    assert "\u2020 |" not in capsys.readouterr().out.split("\n\n")[0]
    assert main(["leaderboard", "--db", fx.store.url, "--reference", "base", "--n-boot", "100",
                 "--metrics", "perplexity,rouge1", "--correction", "none"]) == 0  # fmt: skip
    uncorrected = capsys.readouterr().out
    assert "not corrected" in uncorrected and uncorrected.count("\u2020") >= 3


def test_cli_compare_formats(fx, capsys):
    code = main(["compare", "better", "base", "--db", fx.store.url, "--task", "ppl", "--n-boot", str(N_BOOT)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("better vs base (difference = first - second; seeds 0; 100 resamples)")
    assert "| ppl | perplexity ↓ |" in out and "| permutation | 120 | better |" in out and "rouge" not in out
    assert "| p | p adj. |" in out and "corrected over the 3 comparisons shown by Holm" in out
    code = main(["compare", XSS, "base", "--db", fx.store.url, "--task", "rouge", "--n-boot", "50",
                 "--format", "json", "--metrics", "rouge1"])  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["metric"] for r in rows] == ["rouge1"] and rows[0]["better"] == "base"
    assert rows[0]["correction"] == "holm" and rows[0]["p_adjusted"] == rows[0]["p_value"]  # one test


def test_compare_winner_needs_the_corrected_p_and_a_ci_excluding_zero():
    import pandas as pd

    from leaderboard.compare import corrected

    frame = pd.DataFrame(
        {
            "diff": [0.3, 0.2, -0.3], "ci_low": [0.1, 0.05, -0.7], "ci_high": [0.5, 0.4, 0.05],
            "p_value": [0.03, 0.04, 0.001], "higher_is_better": [True, True, False],
        }
    )  # fmt: skip
    # raw p < 0.05 on all three: the third's CI contains 0, so it never wins
    assert list(corrected(frame, "a", "b", 0.05, "none")["better"]) == ["a", "a", ""]
    holm = corrected(frame, "a", "b", 0.05, "holm")  # 0.003, 0.06, 0.06: nothing survives but the third
    assert holm["p_adjusted"].tolist() == pytest.approx([0.06, 0.06, 0.003])
    assert list(holm["better"]) == ["", "", ""]
    bh = corrected(frame, "a", "b", 0.05, "bh")  # 0.04, 0.04, 0.003
    assert list(bh["better"]) == ["a", "a", ""]


def test_cli_compare_errors_are_one_line(fx, capsys, tmp_path):
    code = main(["compare", "better", "nope", "--db", fx.store.url])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no results for variant 'nope'" in err[0]
    code = main(["compare", "a", "b", "--db", f"sqlite:///{Path(tmp_path) / 'absent.db'}"])
    assert code == 2 and "no leaderboard" in capsys.readouterr().err


def test_leaderboard_selection_options(fx, capsys):
    code = main(["leaderboard", "--db", fx.store.url, "--variants", "base,better", "--tasks", "ppl",
                 "--seeds", "0", "--metrics", "perplexity", "--format", "csv"])  # fmt: skip
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))  # long form: one record per cell
    assert code == 0
    assert [(r["variant"], r["task"], r["metric"], r["seeds"]) for r in rows] == [
        ("base", "ppl", "perplexity", "0"), ("better", "ppl", "perplexity", "0"),
    ]  # fmt: skip
    code = main(
        ["leaderboard", "--db", fx.store.url, "--metrics", "rouge2,ppl/perplexity,rouge1", "--format", "csv"]
    )
    assert code == 0  # tasks stay grouped; within a task, metrics in the order the patterns were given
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    first = [(r["task"], r["metric"]) for r in rows if r["variant"] == rows[0]["variant"]]
    assert first == [("ppl", "perplexity"), ("rouge", "rouge2"), ("rouge", "rouge1")]
    code = main(["leaderboard", "--db", fx.store.url, "--variants", "nope"])
    assert code == 2 and "no results" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["leaderboard", "compare", "regress", "plot"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "usage: planeval " + command in capsys.readouterr().out
