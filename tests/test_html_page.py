"""The web leaderboard: self-contained, escaped, and working in a real headless Chromium (console clean,
sorting, filtering, run metadata on click, a ``<script>`` variant shown as text, frozen columns when
scrolled right, the per-sample drill-down and the history across commits)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from _leaderboard_data import PPL_PARAMS, XSS, build, perplexity_samples

from harness.cli import main
from leaderboard.page import JS, script_json

CHROMIUM_CANDIDATES = [os.environ.get("PLANEVAL_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    fx = build(root)
    # "better" again at a later commit, its samples with text columns (one hostile): history and drill-down
    later = perplexity_samples(120, 2.85, 99).assign(prompt=lambda d: "text of " + d["sample_id"], output=XSS)
    fx.record("better", "planner", "ppl", "perplexity", PPL_PARAMS, later, commit="def456")
    out = root / "leaderboard.html"
    assert main(["leaderboard", "--db", fx.store.url, "--format", "html", "-o", str(out)]) == 0
    return out


def test_self_contained_and_escaped(page_file: Path):
    text = page_file.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # nothing to fetch
    assert "@import" not in text and "url(" not in text
    assert text.count("data:image/svg+xml;base64,") == 2  # the bars of both tasks, inline
    # the hostile name appears only escaped: as HTML text in the table, as \u003c in the JSON
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text
    # the CSP admits exactly the page's own script
    digest = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text).group(1))
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_script_json_cannot_close_its_block():
    hostile = {"name": "</script><script>alert(1)</script>", "amp": "&lt;", "ls": "\u2028"}
    text = script_json(hostile)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == hostile


def _browser(playwright):
    for path in filter(None, CHROMIUM_CANDIDATES):
        if Path(path).exists():
            return playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
    try:
        return playwright.chromium.launch()  # a browser installed by `playwright install chromium`
    except Exception as exc:
        pytest.skip(
            f"no Chromium: install Debian's chromium (/usr/bin/chromium) or run `playwright install` ({exc})"
        )


def test_page_in_headless_chromium(page_file: Path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    problems: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")

            def column(i: int) -> list[str]:
                return page.eval_on_selector_all(
                    "#lb tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{i}].textContent)"
                )

            # the hostile variant is a cell's text, never markup, and nothing ran
            assert XSS in column(1)
            assert page.eval_on_selector_all("#lb script", "s => s.length") == 0
            assert dialogs == []

            # sorting: ppl/perplexity (lower is better), ascending then descending, by the unrounded value
            headers = page.eval_on_selector_all("#lb thead th", "hs => hs.map(h => h.textContent)")
            ppl = headers.index("ppl/perplexity ↓")
            page.click(f"#lb thead th:nth-child({ppl + 1})")
            values = [float(v.split()[0]) for v in column(ppl)]
            assert values == sorted(values) and column(1)[0] == "better"
            assert page.get_attribute(f"#lb thead th:nth-child({ppl + 1})", "aria-sort") == "ascending"
            page.click(f"#lb thead th:nth-child({ppl + 1})")
            assert [float(v.split()[0]) for v in column(ppl)] == sorted(values, reverse=True)
            page.click("#lb thead th:nth-child(2)")
            assert column(1) == sorted(column(1), key=str.lower)

            # filtering by text, then clearing
            page.fill("#filter", "plan")
            assert sorted(column(1)) == ["better", "same"]
            page.fill("#filter", "")
            assert len(column(1)) == 4

            # run metadata on click, written as text
            assert page.is_hidden("#details")
            page.click(f"#lb tbody tr:has(td:text-is('{XSS}'))")
            details = page.inner_text("#details")
            assert XSS in details and "config_hash" in details and "samples_path" in details
            assert "ppl · seed 0" in details and "rouge · seed 0" in details
            assert page.eval_on_selector_all("#details script", "s => s.length") == 0

            # the history of the variant across commits, from the store
            page.click("#lb tbody tr:has(td:text-is('better'))")
            history = page.inner_text("#details table.history")
            assert "abc123" in history and "def456" in history
            assert history.index("abc123") < history.index("def456")  # oldest first

            # the per-sample drill-down of the newest ppl run: paged, texts as text
            assert page.is_hidden("#drill")
            page.click("#details th:has-text('ppl') button.samples")
            assert page.is_visible("#drill")
            drill_heads = page.eval_on_selector_all("#drill thead th", "hs => hs.map(h => h.textContent)")
            assert drill_heads[:3] == ["sample_id", "prompt", "output"] and "nll" in drill_heads
            first = page.eval_on_selector_all("#drill tbody tr", "rs => rs.map(r => r.cells[0].textContent)")
            assert first == [f"doc-{i}" for i in range(20)]
            assert "rows 1–20 of 120" in page.inner_text("#drill .where")
            assert page.is_disabled("#drill button.prev")
            page.click("#drill button.next")
            assert "rows 21–40 of 120" in page.inner_text("#drill .where")
            assert (
                XSS in page.inner_text("#drill tbody")
                and page.eval_on_selector_all("#drill script", "s => s.length") == 0
            )

            # frozen columns: scrolled fully right, family and variant are still the cells at the left edge
            page.set_viewport_size({"width": 480, "height": 700})
            page.evaluate("window.dispatchEvent(new Event('resize'))")
            scrolled = page.evaluate(
                "() => { const s = document.querySelector('.scroll'); s.scrollIntoView();"
                " s.scrollLeft = s.scrollWidth;"
                " return s.scrollLeft; }"
            )
            assert scrolled > 0  # the table is wider than the window
            hits = page.evaluate(
                """() => {
                  const row = document.querySelector('#lb tbody tr');
                  return [0, 1].map(i => {
                    const r = row.cells[i].getBoundingClientRect();
                    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                    return [hit === row.cells[i], Math.round(r.left)];
                  });
                }"""
            )
            (family_visible, family_left), (variant_visible, variant_left) = hits
            box = page.evaluate("document.querySelector('.scroll').getBoundingClientRect().left")
            assert (
                family_visible
                and variant_visible
                and family_left == round(box)
                and variant_left > family_left
            )

            # the inline plots decoded and rendered
            sizes = page.eval_on_selector_all("#plots img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(sizes) == 2 and all(w > 0 for w in sizes)
        finally:
            browser.close()
    assert problems == [] and dialogs == []


def test_page_data_caps_samples_and_keeps_history_of_several_commits():
    import pandas as pd

    from leaderboard.page_data import TEXT_CHARS, history_doc, sample_doc

    samples = pd.DataFrame(
        {"n": range(500), "output": ["x" * (TEXT_CHARS + 5)] * 500, "sample_id": range(500)}
    )
    doc = sample_doc(samples, limit=50)
    assert doc["n_rows"] == 500 and len(doc["rows"]) == 50 and doc["columns"] == ["sample_id", "output", "n"]
    assert doc["rows"][0][1].endswith("… (+5 chars)")
    at = pd.Timestamp("2026-01-01", tz="UTC")
    history = pd.DataFrame(
        {
            "family": "f", "variant": ["a", "a", "a", "b"], "task": "t", "metric": "m", "seed": [0, 1, 0, 0],
            "value": [1.0, 3.0, 5.0, 7.0], "git_commit": ["new", "new", "old", "old"],
            "created_at": [at + pd.Timedelta(days=1)] * 2 + [at, at],
        }
    )  # fmt: skip
    doc = history_doc(history, [("f", "a"), ("f", "b")], [("t", "m")])
    assert list(doc) == ["0"]  # b has one commit: its history is the table itself
    assert [(p["commit"], p["values"], p["seeds"]) for p in doc["0"]["points"]] == [
        ("old", [5.0], [0]),
        ("new", [2.0], [0, 1]),
    ]


def test_page_names_the_correction_of_its_marks(tmp_path: Path):
    fx = build(tmp_path)
    out = tmp_path / "marked.html"
    argv = ["leaderboard", "--db", fx.store.url, "--format", "html", "-o", str(out), "--reference", "base"]
    assert main([*argv, "--n-boot", "50"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "† differs from base at p &lt; 0.05" in text and "Holm-corrected over every comparison" in text
