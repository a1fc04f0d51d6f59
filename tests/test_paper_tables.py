"""Paper tables from a layout file: groups, display names, blocks per suite, transposition, and bold only
where the paired test (Holm over the table) separates the best row from the runner-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _leaderboard_data import PPL_PARAMS, ROUGE_PARAMS, XSS, build, perplexity_samples, rouge_samples

from harness.cli import main
from harness.errors import SpecError
from leaderboard.paper import build as build_paper
from leaderboard.paper import load_layout
from leaderboard.paper_render import render_paper

LAYOUT = {
    "title": "Table 1",
    "groups": {"Baselines": ["base", XSS], "Ours": ["better", "same"]},
    "names": {"better": "Ours (better)"},
    "columns": [
        {"task": "ppl", "metric": "perplexity", "name": "PPL"},
        {"task": "rouge", "metric": "rouge1", "name": "R-1"},
    ],
}


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory):
    fx = build(tmp_path_factory.mktemp("paper"))
    # a second suite (a second backbone): "close" is within noise of "base" on perplexity
    for variant, family, nll, level, noise in (("base", "lm", 3.0, 0.0, 1), ("close", "lm", 3.001, 0.0, 2)):
        fx.record(
            variant, family, "ppl", "perplexity", PPL_PARAMS, perplexity_samples(120, nll, noise), suite="t"
        )
        fx.record(variant, family, "rouge", "rouge", ROUGE_PARAMS, rouge_samples(40, level, noise), suite="t")
    return fx


def write(tmp_path: Path, doc: dict, name: str = "layout.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def paper(fx, tmp_path, doc=LAYOUT, suite="s"):
    path = write(tmp_path, doc)
    return build_paper(fx.store, load_layout(path), str(path), suite=suite, n_boot=1000)


def test_markdown_groups_names_and_earned_bold(fx, tmp_path):
    md = render_paper(paper(fx, tmp_path), "md")
    lines = md.splitlines()
    assert lines[0] == "**Table 1**"
    assert "| variant | PPL ↓ | R-1 ↑ |" in md  # display names and arrows
    assert lines.index("| *Baselines* |  |  |") < lines.index("| *Ours* |  |  |")
    better = next(line for line in lines if line.startswith("| Ours (better)"))
    assert better.count("**") == 4  # the planted better row wins both columns, significantly
    assert sum(line.count("**") for line in lines if line.startswith("| ")) == 4  # nobody else is bold
    assert "\\<script\\>" in md and XSS not in md
    assert "corrected over the table's 2 comparisons by Holm (family-wise error rate)" in md


def test_latex_booktabs_shading_and_rules(fx, tmp_path):
    tex = render_paper(paper(fx, tmp_path), "latex")
    assert tex.startswith("% needs \\usepackage{booktabs}")
    assert "\\toprule" in tex and "\\bottomrule" in tex and tex.count("\\midrule") == 2  # header, group
    assert "\\multicolumn{3}{l}{\\textit{Baselines}} \\\\" in tex
    assert "\\rowcolor[gray]{0.93}\\multicolumn{3}{l}{\\textit{Ours}}" in tex  # every other group shaded
    assert tex.count("\\textbf{") == 2 and "PPL $\\downarrow$" in tex
    assert "\\textless{}script\\textgreater{}" in tex
    assert "Holm" in tex.splitlines()[-1]


def test_html_escaped_and_grouped(fx, tmp_path):
    out = render_paper(paper(fx, tmp_path), "html")
    assert XSS not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert '<th colspan="3" scope="rowgroup"><i>Ours</i></th>' in out
    assert out.count("<b>") == 2 and "Holm" in out


def test_within_noise_is_not_bold_and_blocks_per_suite(fx, tmp_path):
    doc = {
        "blocks": [{"suite": "s", "title": "GPT-2"}, {"suite": "t", "title": "OLMo"}],
        "group_by": "family",
        "columns": [{"task": "ppl", "metric": "perplexity"}],
    }
    p = paper(fx, tmp_path, doc, suite=None)
    assert [b.title for b in p.blocks] == ["GPT-2", "OLMo"]
    olmo = p.blocks[1]
    shown = {row.label: row.cells[0] for g in olmo.groups for row in g.rows}
    assert shown["base"].text is not None and shown["close"].text is not None
    assert shown["base"].text != shown["close"].text  # not a tie in the digits: the test decides
    assert not any(c.best for c in shown.values())  # within noise: no bold
    gpt2 = {row.label: row.cells[0].best for g in p.blocks[0].groups for row in g.rows}
    assert gpt2["better"] and sum(gpt2.values()) == 1
    assert [g.name for g in p.blocks[0].groups] == ["lm", "planner"]


def test_transposed(fx, tmp_path):
    p = paper(fx, tmp_path, {**LAYOUT, "transpose": True})
    block = p.blocks[0]
    assert block.corner == "metric" and [r.label for r in block.groups[0].rows] == ["PPL ↓", "R-1 ↑"]
    assert block.headers == ["base", XSS, "Ours (better)", "same"]
    assert block.header_groups == [("Baselines", 2), ("Ours", 2)]
    tex = render_paper(p, "latex")
    assert "\\multicolumn{2}{c}{Ours}" in tex and "\\cmidrule(lr){4-5}" in tex


def test_cli_layout_and_spec_errors(fx, tmp_path, capsys):
    path = write(tmp_path, LAYOUT)
    assert main(["leaderboard", "--db", fx.store.url, "--suite", "s", "--layout", str(path)]) == 0
    assert "| *Ours* |" in capsys.readouterr().out
    for doc, field in (
        ({**LAYOUT, "colums": []}, "colums"),
        ({**LAYOUT, "group_by": "family"}, "either groups"),
        ({**LAYOUT, "columns": [{"task": "ppl", "metric": "perplexity"}, {"task": "ppl", "metric": "nope"}]},
         "columns[1]"),
        ({**LAYOUT, "groups": {"A": ["base", "ghost"]}}, "groups"),
    ):  # fmt: skip
        bad = write(tmp_path, doc, "bad.yaml")
        assert main(["leaderboard", "--db", fx.store.url, "--suite", "s", "--layout", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert str(bad) in err and field in err and len(err.splitlines()) == 1, err
    with pytest.raises(SpecError, match="groups"):
        load_layout(write(tmp_path, {**LAYOUT, "groups": {"A": ["base"], "B": ["base"]}}, "twice.yaml"))


def test_shipped_paper_table1_layout_validates():
    spec = load_layout(Path(__file__).parents[1] / "docs" / "layouts" / "paper-table1.yaml")
    assert spec.groups and "Baselines" in spec.groups and len(spec.columns) >= 3


def test_unrankable_metric_is_never_bold(fx, tmp_path, monkeypatch):
    from tasks.base import TASKS, MetricInfo

    cls = TASKS.get("perplexity")
    monkeypatch.setitem(cls.metrics, "perplexity", MetricInfo(False, "as if a spread", rank=False))
    p = paper(fx, tmp_path)
    assert not any(row.cells[0].best for g in p.blocks[0].groups for row in g.rows)
    assert any(row.cells[1].best for g in p.blocks[0].groups for row in g.rows)  # rouge1 still ranks
    assert "Not ranked (the task declares no meaningful best): ppl/perplexity." in p.notes


def test_cli_layout_refuses_other_formats_and_reference(fx, tmp_path, capsys):
    path = str(write(tmp_path, LAYOUT))
    assert main(["leaderboard", "--db", fx.store.url, "--layout", path, "--format", "csv"]) == 2
    assert "--layout writes md, latex, html" in capsys.readouterr().err
    assert main(["leaderboard", "--db", fx.store.url, "--layout", path, "--reference", "base"]) == 2
    assert "--reference does not apply" in capsys.readouterr().err


@pytest.mark.parametrize("transpose", [False, True])
def test_latex_compiles_with_pdflatex(fx, tmp_path, transpose):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex (Debian: apt-get install texlive-latex-recommended)")
    doc = {**LAYOUT, "transpose": transpose, "spread": True, "correction": "bh"}
    doc["blocks"] = [{"suite": "s", "title": "GPT-2 & co."}, {"suite": "t", "title": "OLMo_1B"}]
    doc["groups"] = {"Baselines": ["base", XSS], "Ours – 50%": ["better", "same"]}
    tex = render_paper(paper(fx, tmp_path, doc, suite=None), "latex")
    source = "\\documentclass{article}\\usepackage{booktabs}\\usepackage[table]{xcolor}\\begin{document}\n"
    (tmp_path / "t.tex").write_text(source + tex + "\n\\end{document}\n", encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000
