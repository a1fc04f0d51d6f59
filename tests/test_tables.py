"""Comparison tables and their renderings: exact markdown, escaping, best-in-bold, seeds."""

from __future__ import annotations

import csv
import io
import json
import math

import pandas as pd
import pytest

from harness.errors import PlanevalError
from leaderboard.render import RENDERERS, csv_safe, layout, render, renderer
from leaderboard.store import MetricRecord, RunRecord, Store
from leaderboard.tables import comparison_table


def result(family, variant, task, metric, value, seed=0, lo=None, hi=None, higher=True, suite="s"):
    return {
        "run_id": f"{variant}-{task}-{seed}-{suite}", "suite": suite, "variant": variant, "family": family,
        "task": task, "seed": seed, "metric": metric, "value": value, "n": 100, "ci_low": lo, "ci_high": hi,
        "higher_is_better": higher, "config_hash": "c", "model_key": "m", "git_commit": "g",
    }  # fmt: skip


def two_by_two() -> pd.DataFrame:
    """lm/base wins accuracy, planner/soft wins perplexity (lower is better)."""
    return pd.DataFrame(
        [
            result("planner", "soft", "wiki", "ppl", 12.34, lo=11.9, hi=12.8, higher=False),
            result("planner", "soft", "wiki", "acc", 0.41),
            result("lm", "base", "wiki", "ppl", 13.1, lo=12.55, hi=13.71, higher=False),
            result("lm", "base", "wiki", "acc", 0.45),
        ]
    )


EXPECTED_MD = """\
| family | variant | wiki/ppl ↓ | wiki/acc ↑ |
|---|---|---:|---:|
| lm | base | 13.10 [12.6, 13.7] | **0.4500** |
| planner | soft | **12.34** [11.9, 12.8] | 0.4100 |
"""


def test_markdown_exact():
    assert render(comparison_table(two_by_two()), "md") == EXPECTED_MD


def test_table_shape_and_directions():
    table = comparison_table(two_by_two())
    assert list(table.index) == [("lm", "base"), ("planner", "soft")]
    assert list(table.columns) == [
        ("wiki", "ppl", "mean"), ("wiki", "ppl", "ci_low"), ("wiki", "ppl", "ci_high"),
        ("wiki", "acc", "mean"), ("wiki", "acc", "ci_low"), ("wiki", "acc", "ci_high"),
    ]  # fmt: skip
    assert table.attrs["higher_is_better"] == {("wiki", "ppl"): False, ("wiki", "acc"): True}
    no_ci = comparison_table(two_by_two(), ci=False)
    assert list(no_ci.columns.get_level_values("stat")) == ["mean", "mean"]
    assert render(no_ci, "md").splitlines()[2] == "| lm | base | 13.10 | **0.4500** |"


def test_csv_exact():
    """Long form: one record per cell, unrounded numbers (unquoted), text quoted, the shown text and the
    run behind each number."""
    out = render(comparison_table(two_by_two()), "csv")
    assert out == (
        '"family","variant","task","metric","higher_is_better","mean","std","n_seeds","ci_low","ci_high",'
        '"best","rank","shown","run_ids","seeds"\n'
        '"lm","base","wiki","ppl","false",13.1,"",1,12.55,13.71,"false",2,"13.10 [12.6, 13.7]",'
        '"base-wiki-0-s","0"\n'
        '"lm","base","wiki","acc","true",0.45,"",1,"","","true",1,"0.4500","base-wiki-0-s","0"\n'
        '"planner","soft","wiki","ppl","false",12.34,"",1,11.9,12.8,"true",1,"12.34 [11.9, 12.8]",'
        '"soft-wiki-0-s","0"\n'
        '"planner","soft","wiki","acc","true",0.41,"",1,"","","false",2,"0.4100","soft-wiki-0-s","0"\n'
    )
    assert list(csv.reader(io.StringIO(out)))[1][12] == "13.10 [12.6, 13.7]"
    frame = pd.read_csv(io.StringIO(out))
    assert frame["mean"].tolist() == [13.1, 0.45, 12.34, 0.41] and frame["run_ids"][2] == "soft-wiki-0-s"


def test_csv_and_json_carry_full_precision_and_run_ids():
    """What a checker needs: every float reads back to the stored double, and each cell names its runs
    (one per seed, in seed order); the text formats keep rounding."""
    awkward = [0.1 + 0.2, 1 / 3, 2 / 3 * 1e-7, 123456.78901234567]
    rows = [result("f", f"v{i}", "t", "m", x, lo=x - 1e-9, hi=x + 1e-9) for i, x in enumerate(awkward)]
    rows += [result("f", "multi", "t", "m", x, seed=s) for s, x in [(1, 0.7), (0, 0.30000000000000004)]]
    table = comparison_table(pd.DataFrame(rows))
    records = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    by_variant = {r["variant"]: r for r in records}
    for i, x in enumerate(awkward):
        r = by_variant[f"v{i}"]
        assert float(r["mean"]) == x and float(r["ci_low"]) == x - 1e-9 and float(r["ci_high"]) == x + 1e-9
        assert (r["run_ids"], r["seeds"], r["n_seeds"]) == (f"v{i}-t-0-s", "0", "1")
    multi = by_variant["multi"]
    assert (multi["run_ids"], multi["seeds"], multi["n_seeds"]) == ("multi-t-0-s;multi-t-1-s", "0;1", "2")
    assert float(multi["mean"]) == (0.30000000000000004 + 0.7) / 2 and multi["ci_low"] == ""
    doc = json.loads(render(table, "json"))
    cells = {row["variant"]: row["cells"][0] for row in doc["rows"]}
    for i, x in enumerate(awkward):
        assert cells[f"v{i}"]["mean"] == x and cells[f"v{i}"]["run_ids"] == [f"v{i}-t-0-s"]
    assert cells["multi"]["run_ids"] == ["multi-t-0-s", "multi-t-1-s"] and cells["multi"]["seeds"] == [0, 1]
    assert "0.30000000000000004" in render(table, "json")
    assert "0.3000 " not in render(table, "md")  # the reading formats still round (4 significant digits)


def test_csv_escapes_formulas_but_not_numbers():
    """A variant named like a spreadsheet formula is written as text (a leading '), in every text field;
    negative numbers stay numbers."""
    evil = '=HYPERLINK("http://x","y")'
    rows = [
        result("@fam", evil, "+task", "-metric", -0.5, lo=-1.0, hi=0.25),
        result("fam", "\tcmd", "+task", "-metric", 2.0),
        result("fam", "  =1+1", "+task", "-metric", 1.0),
        result("fam", "\r=2", "+task", "-metric", 1.5),
    ]
    out = render(comparison_table(pd.DataFrame(rows)), "csv")
    records = list(csv.DictReader(io.StringIO(out)))
    variants = {r["variant"] for r in records}
    assert variants == {"'" + evil, "'\tcmd", "'  =1+1", "'\r=2"}
    assert all(r["family"] in ("'@fam", "fam") and r["task"] == "'+task" for r in records)
    assert all(r["metric"] == "'-metric" for r in records)
    first = next(r for r in records if r["variant"] == "'" + evil)
    assert (first["mean"], first["ci_low"], first["ci_high"]) == ("-0.5", "-1.0", "0.25")  # numbers stay
    assert first["shown"].startswith("'-0.5")  # shown text that a spreadsheet would evaluate is escaped
    fields = [f for row in csv.reader(io.StringIO(out)) for f in row]
    risky = [f for f in fields if f.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert risky and all(_is_float(f) for f in risky)  # only numbers start like a formula
    assert csv_safe("-1.5e-3") == "-1.5e-3" and csv_safe("-inf") == "-inf" and csv_safe("a=b") == "a=b"


def test_latex_booktabs_exact():
    assert render(comparison_table(two_by_two()), "latex") == (
        "\\begin{tabular}{llrr}\n"
        "\\toprule\n"
        "family & variant & wiki/ppl $\\downarrow$ & wiki/acc $\\uparrow$ \\\\\n"
        "\\midrule\n"
        "lm & base & 13.10 [12.6, 13.7] & \\textbf{0.4500} \\\\\n"
        "\\midrule\n"
        "planner & soft & \\textbf{12.34} [11.9, 12.8] & 0.4100 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_html_table():
    out = render(comparison_table(two_by_two()), "html")
    assert out.startswith('<table class="planeval-table">') and out.rstrip().endswith("</table>")
    assert '<th style="text-align:right" title="lower is better">wiki/ppl ↓</th>' in out
    assert "<td>planner</td><td>soft</td>" in out
    best = "background:hsl(140, 55%, 78%)"  # shaded by rank: the best cell darkest, the worst lightest
    assert f'<td style="text-align:right;{best}"><b>12.34</b> [11.9, 12.8]</td>' in out
    assert f'<td style="text-align:right;{best}"><b>0.4500</b></td>' in out
    assert '<td style="text-align:right;background:hsl(140, 55%, 97%)">0.4100</td>' in out
    assert "<script" not in out and "http" not in out  # self-contained


def test_json_has_unrounded_numbers():
    doc = json.loads(render(comparison_table(two_by_two()), "json"))
    assert doc["columns"][0] == {"task": "wiki", "metric": "ppl", "higher_is_better": False}
    base = doc["rows"][0]
    assert (base["family"], base["variant"]) == ("lm", "base")
    assert base["cells"][0] == {
        "task": "wiki", "metric": "ppl", "mean": 13.1, "ci_low": 12.55, "ci_high": 13.71, "best": False,
        "run_ids": ["base-wiki-0-s"], "seeds": [0],
    }  # fmt: skip
    assert base["cells"][1]["best"] is True


def test_html_escapes_every_text():
    evil = "<script>alert(1)</script>"
    rows = [
        result("lm", evil, 'ta"sk', "m&m", 1.0),
        result("<b>fam</b>", "plain", 'ta"sk', "m&m", 2.0),
    ]
    out = render(comparison_table(pd.DataFrame(rows)), "html")
    assert "<script>" not in out and "<b>fam</b>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;b&gt;fam&lt;/b&gt;" in out
    assert "ta&quot;sk/m&amp;m ↑" in out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


SPECIALS = "a_b & 50% $x$ #1 {y} ~z ^w \\ |p| <q> *r* `s` [t](u) !v"


def test_every_shown_name_is_escaped_in_latex_and_markdown():
    """Variant, family, task and metric names full of special characters: LaTeX shows each as text
    (only our own markup is LaTeX), Markdown backslash-escapes each punctuation mark that could start
    markup (and a pipe cannot split the row); a line break cannot end a row in either."""
    rows = [
        result(SPECIALS, SPECIALS, SPECIALS, SPECIALS, 1.0),
        result("f", '=HYPERLINK("http://x","y")', SPECIALS, SPECIALS, 2.0),
        result("f", "two\nlines", SPECIALS, SPECIALS, 3.0),
    ]
    table = comparison_table(pd.DataFrame(rows))
    tex = render(table, "latex")
    want_tex = (
        r"a\_b \& 50\% \$x\$ \#1 \{y\} \textasciitilde{}z \textasciicircum{}w \textbackslash{} "
        r"\textbar{}p\textbar{} \textless{}q\textgreater{} *r* `s` [t](u) !v"
    )
    assert f"{want_tex} & {want_tex} & 1.000" in tex
    assert f"{want_tex}/{want_tex} $\\uparrow$" in tex
    assert '=HYPERLINK("http://x","y")' in tex  # nothing special in LaTeX text
    assert "two lines" in tex and "two\nlines" not in tex
    body = [line for line in tex.splitlines() if "&" in line]
    assert all(line.count(" & ") == 2 for line in body)  # no name adds a column separator
    md = render(table, "md")
    want_md = r"a\_b \& 50% \$x\$ \#1 \{y\} \~z \^w \\ \|p\| \<q\> \*r\* \`s\` \[t\](u) \!v"
    assert f"| {want_md} | {want_md} | 1.000 |" in md
    assert f"| {want_md}/{want_md} ↑ |" in md
    assert "| f | two lines |" in md
    assert all(line.replace("\\|", "").count("|") == 4 for line in md.splitlines() if line)


def test_latex_and_markdown_escaping():
    rows = [result("a_b", "50% & $x^2$ {~} #1 \\", "t|k", "m*", 1.0)]
    table = comparison_table(pd.DataFrame(rows))
    tex = render(table, "latex")
    assert (
        r"a\_b & 50\% \& \$x\textasciicircum{}2\$ \{\textasciitilde{}\} \#1 \textbackslash{} & 1.000 \\"
        in tex
    )
    assert r"t\textbar{}k/m* $\uparrow$" in tex
    md = render(table, "md")
    assert "| t\\|k/m\\* ↑ |" in md  # a pipe would otherwise split the column
    assert md.count("|") - md.count("\\|") == 3 * 4  # three lines of four real separators


def test_best_respects_direction_ties_and_missing():
    rows = [
        result("f", "a", "t", "loss", 1.0, higher=False),
        result("f", "b", "t", "loss", 1.0, higher=False),  # tie for the best: nobody bold
        result("f", "c", "t", "loss", 2.0, higher=False),
        result("f", "a", "t", "score", 5.0),
        result("f", "b", "t", "score", 7.0),
        result("f", "a", "u", "only", 3.0),  # one value in a column: nothing to beat
    ]
    lay = layout(comparison_table(pd.DataFrame(rows)))
    best = {
        (r.variant, h.metric): c.best for r in lay.rows for h, c in zip(lay.headers, r.cells, strict=True)
    }
    assert not best[("a", "loss")] and not best[("b", "loss")] and not best[("c", "loss")]
    assert best[("b", "score")] and not best[("a", "score")]
    assert not best[("a", "only")]
    # a metric whose best value means nothing (MetricInfo.rank False) is neither bold nor ranked
    table = comparison_table(pd.DataFrame(rows))
    table.attrs["rank"] = {("t", "score"): False}
    score = [r.cells[1] for r in layout(table).rows]
    assert not any(c.best for c in score) and all(c.rank is None for c in score)
    md = render(comparison_table(pd.DataFrame(rows)), "md")
    assert "| f | c | 2.000 | \u2013 | \u2013 |" in md  # en dashes for cells never evaluated


def test_best_compares_the_shown_rounding():
    rows = [result("f", "a", "t", "acc", 0.123449), result("f", "b", "t", "acc", 0.12345)]
    lay = layout(comparison_table(pd.DataFrame(rows)))
    assert [r.cells[0].value for r in lay.rows] == ["0.1234", "0.1235"]
    assert [r.cells[0].best for r in lay.rows] == [False, True]


def test_multi_seed_aggregation():
    rows = [result("p", "soft", "wiki", "ppl", v, seed=s, lo=v - 1, hi=v + 1, higher=False)
            for s, v in enumerate([12.0, 12.5, 13.0])]  # fmt: skip
    rows.append(result("lm", "base", "wiki", "ppl", 14.0, lo=13.0, hi=15.0, higher=False))
    table = comparison_table(pd.DataFrame(rows))
    soft = table.loc[("p", "soft"), ("wiki", "ppl")]
    assert soft["mean"] == pytest.approx(12.5)
    assert soft["std"] == pytest.approx(0.5)
    assert soft["n"] == 3
    assert math.isnan(soft["ci_low"])  # per-run CIs do not average into a CI of the mean
    base = table.loc[("lm", "base"), ("wiki", "ppl")]
    assert (base["n"], base["ci_low"], base["ci_high"]) == (1, 13.0, 15.0)
    assert math.isnan(base["std"])
    md = render(table, "md")
    assert "| p | soft | **12.50** ± 0.50 |" in md
    assert "| lm | base | 14.00 [13.0, 15.0] |" in md
    assert "\\textbf{12.50} $\\pm$ 0.50" in render(table, "latex")


def test_rows_grouped_by_family_then_variant_and_metric_selection():
    rows = [result(f, v, "t", m, 1.0) for f, v in [("z", "a"), ("a", "z"), ("a", "b")] for m in ("y", "x")]
    table = comparison_table(pd.DataFrame(rows), metrics=["x", "y"])
    assert list(table.index) == [("a", "b"), ("a", "z"), ("z", "a")]
    assert [h.metric for h in layout(table).headers] == ["x", "y"]
    assert [h.metric for h in layout(comparison_table(pd.DataFrame(rows), metrics=["y"])).headers] == ["y"]
    with pytest.raises(PlanevalError, match=r"unknown metrics \['nope'\].*x, y"):
        comparison_table(pd.DataFrame(rows), metrics=["nope"])


def test_refuses_double_counting_and_mixed_directions():
    twice = pd.DataFrame(
        [result("f", "a", "t", "m", 1.0, suite="s1"), result("f", "a", "t", "m", 2.0, suite="s2")]
    )
    with pytest.raises(PlanevalError, match="repeat"):
        comparison_table(twice)
    mixed = pd.DataFrame([result("f", "a", "t", "m", 1.0), result("f", "b", "t", "m", 2.0, higher=False)])
    with pytest.raises(PlanevalError, match="both"):
        comparison_table(mixed)
    with pytest.raises(PlanevalError, match="no results"):
        comparison_table(twice.iloc[:0])


def test_unknown_format_lists_the_valid_ones():
    with pytest.raises(PlanevalError, match=r"'markdown'.*valid: csv, html, json, latex, latex-shaded, md"):
        render(comparison_table(two_by_two()), "markdown")


def test_a_registered_format_is_used():
    @renderer("variants")
    def variants_only(lay) -> str:
        return ",".join(r.variant for r in lay.rows)

    try:
        assert render(comparison_table(two_by_two()), "variants") == "base,soft"
    finally:
        del RENDERERS["variants"]


def test_infinite_values_show_as_inf_and_json_null():
    rows = [
        result("f", "a", "t", "ppl", math.inf, higher=False),
        result("f", "b", "t", "ppl", 3.0, higher=False),
    ]
    table = comparison_table(pd.DataFrame(rows))
    assert "| f | a | inf |" in render(table, "md")
    assert "**3.000**" in render(table, "md")
    assert json.loads(render(table, "json"))["rows"][0]["cells"][0]["mean"] is None


def test_store_to_table(tmp_path):
    store = Store(tmp_path / "lb.db")
    for i, (variant, family, seed, ppl) in enumerate(
        [("soft", "planner", 0, 20.0), ("soft", "planner", 1, 21.0), ("base", "lm", 0, 25.0)]
    ):
        run = RunRecord(
            run_id=f"{i:016x}", suite="s", variant=variant, family=family, task="wiki",
            task_name="perplexity", seed=seed, config_hash="c", model_key=f"m{i}", eval_key=f"e{i}",
            git_commit="g", package_versions={}, timings={}, params={},
        )  # fmt: skip
        store.record(run, [MetricRecord("perplexity", ppl, 10, ppl - 1, ppl + 1, higher_is_better=False)])
    md = render(comparison_table(store.results(suite="s")), "md")
    assert md.splitlines()[2:] == [
        "| lm | base | 25.00 [24.0, 26.0] |",
        "| planner | soft | **20.50** ± 0.71 |",
    ]


def test_ranks_and_shading_follow_direction():
    rows = [result("f", v, "t", "loss", x, higher=False) for v, x in [("a", 3.0), ("b", 1.0), ("c", 2.0)]]
    lay = layout(comparison_table(pd.DataFrame(rows)))
    assert [(r.variant, r.cells[0].rank, r.cells[0].shade()) for r in lay.rows] == [
        ("a", 3, 1.0), ("b", 1, 0.0), ("c", 2, 0.5),
    ]  # fmt: skip
    tex = render(comparison_table(pd.DataFrame(rows)), "latex-shaded")
    assert tex.startswith("% needs") and r"\cellcolor[gray]{0.70}\textbf{1.000}" in tex
    assert r"\cellcolor[gray]{1.00}3.000" in tex
    assert "cellcolor" not in render(comparison_table(pd.DataFrame(rows)), "latex")


def test_significance_marks_against_a_reference_row():
    sig = pd.DataFrame(
        {"variant": ["soft"], "task": ["wiki"], "metric": ["ppl"], "diff": [-0.8], "p_value": [0.001]}
    )
    table = comparison_table(two_by_two(), significance=sig, reference="base")
    assert table.loc[("planner", "soft"), ("wiki", "ppl", "p")] == 0.001
    assert math.isnan(table.loc[("lm", "base"), ("wiki", "ppl", "p")])
    md = render(table, "md")
    assert "| planner | soft | **12.34** [11.9, 12.8] \u2020 | 0.4100 |" in md
    assert "| lm | base | 13.10 [12.6, 13.7] | **0.4500** |" in md
    assert md.rstrip().endswith(
        "(paired test on the same samples: McNemar for accuracies, permutation otherwise; "
        "p-values not corrected for multiple comparisons)"
    )  # comparison_table alone corrects nothing; build_board applies --correction (Holm by default)
    assert "differs from base at p \\< 0.05" in md  # markdown-escaped
    assert r"12.8]$^\dagger$" in render(table, "latex")
    doc = json.loads(render(table, "json"))
    assert doc["rows"][1]["cells"][0]["significant"] is True and doc["rows"][1]["cells"][0]["p"] == 0.001
    not_sig = sig.assign(p_value=[0.2])
    assert "\u2020 |" not in render(
        comparison_table(two_by_two(), significance=not_sig, reference="base"), "md"
    )


def test_csv_keeps_a_cell_whose_mean_is_undefined_with_its_runs():
    """A NaN seed leaves the cell without a mean (never ranked or bolded); the CSV still lists the runs
    behind it, with an empty mean, while a cell never evaluated has no record at all."""
    rows = [
        result("f", "a", "t", "m", math.nan, seed=0),
        result("f", "a", "t", "m", 1.0, seed=1),
        result("f", "b", "t", "m", 2.0),
        result("f", "c", "u", "x", 1.0),
    ]
    records = list(csv.DictReader(io.StringIO(render(comparison_table(pd.DataFrame(rows)), "csv"))))
    assert [(r["variant"], r["task"]) for r in records] == [("a", "t"), ("b", "t"), ("c", "u")]
    undefined = records[0]
    assert (undefined["mean"], undefined["rank"], undefined["best"]) == ("", "", "false")
    assert (undefined["run_ids"], undefined["seeds"], undefined["n_seeds"]) == ("a-t-0-s;a-t-1-s", "0;1", "2")


def test_spread_metrics_are_declared_unrankable():
    from leaderboard.declared import rankable

    rows = [
        result("f", v, "m", name, x)
        for v, x in (("a", 0.1), ("b", 0.2))
        for name in ("mauve", "mauve_seed_sd")
    ]
    results = pd.DataFrame(rows).assign(base=lambda d: d["metric"])
    runs = pd.DataFrame({"run_id": results["run_id"].unique(), "task_name": "mauve"})
    assert rankable(results, runs) == {("m", "mauve"): True, ("m", "mauve_seed_sd"): False}
