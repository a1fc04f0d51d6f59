"""The claims table: which of the seed papers' findings the leaderboard reproduces.

Each claim (``leaderboard/claims.yaml``, data not code) is one or more paired comparisons between two
rows of a suite on one metric. Every comparison gets the paired difference with its CI and a p-value
(``compare_variants``: seeds pooled as (seed, sample) pairs), the p-values of the whole table are
corrected together (Holm by default), and each claim gets a verdict with its reason: *reproduced*, *not
reproduced* (opposite direction, or not significant after correction) or *not testable here* (the rows
are not in the leaderboard). The table is built from the store, never written by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from harness.specs import load_spec
from leaderboard.multiplicity import METHODS, adjust
from leaderboard.render import md_escape

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str
    task: str
    metric: str
    first: str
    second: str
    relation: Literal["better", "no_worse"]

    def text(self) -> str:
        rel = ">" if self.relation == "better" else "≥"
        return f"{self.first} {rel} {self.second} on {self.task}/{self.metric} ({self.suite})"


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    finding: str
    source: str = ""
    comparisons: list[Comparison] = Field(min_length=1)
    #: what would test the finding where the tiny CPU preset cannot show it (scale, steps, GPU suite)
    at_scale: str = ""


class Claims(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    claims: list[Claim] = Field(min_length=1)


def load_claims(path: Path = CLAIMS_FILE) -> Claims:
    return load_spec(Claims, path)


@dataclass
class Measured:
    """One comparison's numbers (``None`` fields: not testable, with ``missing`` saying why)."""

    comparison: Comparison
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    n: int | None = None
    seeds: str = ""
    higher_is_better: bool = True
    missing: str = ""


def measure(store: Any, comparison: Comparison, n_boot: int, seed: int) -> Measured:
    """The paired comparison of the two rows, or why it cannot be made from this store."""
    from leaderboard.compare import compare_variants

    c = comparison
    results = store.results(suite=c.suite, variants=[c.first, c.second], tasks=[c.task])
    if results.empty:
        why = f"suite {c.suite!r} has no {c.task} results in this leaderboard (run: planeval run {c.suite})"
        return Measured(c, missing=why)
    results = results[results["metric"] == c.metric]
    have = set(results["variant"])
    for name in (c.first, c.second):
        if name not in have:
            return Measured(c, missing=f"no {c.task}/{c.metric} row for {name} in suite {c.suite}")
    runs = store.runs(suite=c.suite)
    frame = compare_variants(
        results, runs, c.first, c.second, keep=lambda m: m == c.metric, load=store.load_samples,
        n_boot=n_boot, seed=seed,
    )  # fmt: skip
    if frame.empty:
        return Measured(c, missing=f"{c.first} and {c.second} share no seed or samples on {c.task}")
    row = frame.iloc[0]
    return Measured(
        c, diff=float(row["diff"]), ci_low=_f(row["ci_low"]), ci_high=_f(row["ci_high"]),
        p_value=_f(row["p_value"]), n=int(row["n"]), seeds=str(row["seeds"]),
        higher_is_better=bool(row["higher_is_better"]),
    )  # fmt: skip


def _f(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def holds(m: Measured, alpha: float) -> tuple[bool, str]:
    """Whether a measured comparison supports its relation, and why (or why not)."""
    c = m.comparison
    assert m.diff is not None
    first_better = (m.diff > 0) == m.higher_is_better
    significant = m.p_adjusted is not None and m.p_adjusted < alpha
    p = f"corrected p = {m.p_adjusted:.3g}" if m.p_adjusted is not None else "no p-value"
    if c.relation == "better":
        if significant and first_better:
            return True, f"{c.first} better ({p})"
        if significant:
            return False, f"the opposite: {c.second} is significantly better ({p})"
        return False, f"not significant after correction ({p})"
    if significant and not first_better:
        return False, f"{c.first} is significantly worse ({p})"
    return True, f"{c.first} not significantly worse ({p})"


def build(store: Any, claims: Claims, alpha: float = 0.05, correction: str = "holm",
          n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, int]:  # fmt: skip
    """One row per comparison (claim id, verdict, reason, numbers) and the number of tests corrected."""
    measured = [(cl, measure(store, c, n_boot, seed)) for cl in claims.claims for c in cl.comparisons]
    tested = [m for _, m in measured if m.p_value is not None]
    for m, q in zip(tested, adjust([m.p_value for m in tested], correction), strict=True):
        m.p_adjusted = float(q)
    rows = []
    for claim in claims.claims:
        mine = [m for cl, m in measured if cl is claim]
        if any(m.missing for m in mine):
            verdict = "not testable here"
            reasons = [m.missing or "measured, but another comparison of the claim is missing" for m in mine]
        else:
            checks = [holds(m, alpha) for m in mine]
            verdict = "reproduced" if all(ok for ok, _ in checks) else "not reproduced"
            reasons = [why for _, why in checks]
        for m, reason in zip(mine, reasons, strict=True):
            rows.append({"claim": claim.id, "finding": claim.finding, "source": claim.source,
                         "comparison": m.comparison.text(), "diff": m.diff, "ci_low": m.ci_low,
                         "ci_high": m.ci_high, "p_value": m.p_value, "p_adjusted": m.p_adjusted,
                         "n": m.n, "seeds": m.seeds, "verdict": verdict, "reason": reason,
                         "at_scale": claim.at_scale})  # fmt: skip
    return pd.DataFrame(rows), len(tested)


def suites_summary(store: Any, claims: Claims) -> pd.DataFrame:
    """Per suite the claims read: the seeds, rows and commits recorded, and the time its stages took —
    the compute behind each verdict (training once per model key, evaluation once per eval key)."""
    rows = []
    for suite in dict.fromkeys(c.suite for cl in claims.claims for c in cl.comparisons):
        runs = store.runs(suite=suite)
        if runs.empty:
            continue
        seconds = sum(
            float((t or {}).get(field) or 0)
            for field, key in (("train_s", "model_key"), ("eval_s", "eval_key"))
            for t in runs.drop_duplicates(key)["timings"]
        )
        trained = runs.drop_duplicates("model_key")["timings"]
        resumed = sum(bool((t or {}).get("train_resumed_from_step")) for t in trained)
        at = pd.to_datetime(runs["created_at"], utc=True)
        rows.append({
            "suite": suite, "seeds": ",".join(str(s) for s in sorted(set(runs["seed"]))),
            "variants": runs["variant"].nunique(), "runs": len(runs),
            "commits": ", ".join(sorted({str(c)[:7] for c in runs["git_commit"]})),
            "stage_hours": seconds / 3600, "resumed": resumed,
            "recorded": f"{at.min():%Y-%m-%d %H:%M} → {at.max():%Y-%m-%d %H:%M} UTC",
        })  # fmt: skip
    return pd.DataFrame(rows)


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "–" if _f(x) is None else format(x, fmt)


def render_markdown(
    frame: pd.DataFrame, n_tests: int, correction: str, alpha: float, suites: pd.DataFrame | None = None
) -> str:
    lines = [
        "# Claims: which of the seed papers' findings planeval reproduces",
        "",
        "Built by `planeval claims` from the leaderboard (not written by hand). Each comparison is a paired "
        "test on the same samples (seeds pooled as (seed, sample) pairs); difference = first − second with "
        "its 95% paired-bootstrap CI.",
        "",
        "| claim | finding | comparison | difference [95% CI] | p | corrected p | seeds | verdict | reason |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    for r in frame.itertuples(index=False):
        ci = "" if _f(r.ci_low) is None else f" [{_num(r.ci_low)}, {_num(r.ci_high)}]"
        cells = [r.claim, r.finding, r.comparison, f"{_num(r.diff)}{ci}", _num(r.p_value, ".3g"),
                 _num(r.p_adjusted, ".3g"), r.seeds or "–", r.verdict, r.reason]  # fmt: skip
        shown = [md_escape(str(c)) for c in cells]
        shown[7] = f"**{shown[7]}**"
        lines.append("| " + " | ".join(shown) + " |")
    lines += [
        "",
        f"p-values corrected together over the {n_tests} comparisons made here: {METHODS[correction]}; "
        f"significance level {alpha}. *not testable here*: the rows are not in this leaderboard (the reason "
        "names the suite to run).",
        "",
    ]
    if suites is not None and not suites.empty:
        lines += [
            "## The suites behind it",
            "",
            "Stage hours: training once per model key plus evaluation once per eval key, as recorded; "
            "≥ where a training resumed from a checkpoint (its recorded seconds are its last attempt's).",
            "",
            "| suite | seeds | variants | runs | commits | stage hours | recorded |",
            "|---|---|---:|---:|---|---:|---|",
        ]
        for s in suites.itertuples(index=False):
            hours = f"{'≥ ' if s.resumed else ''}{s.stage_hours:.2f}"
            cells = [s.suite, s.seeds, s.variants, s.runs, s.commits, hours, s.recorded]
            lines.append("| " + " | ".join(md_escape(str(c)) for c in cells) + " |")
        lines.append("")
    reading = frame[frame["verdict"] != "reproduced"].drop_duplicates("claim")
    reading = reading[reading["at_scale"].astype(bool)] if "at_scale" in reading else reading.iloc[:0]
    if not reading.empty:
        lines += ["## What would test the rest", ""]
        for r in reading.itertuples(index=False):
            lines.append(f"- **{md_escape(r.claim)}** ({r.verdict}): {md_escape(r.at_scale)}")
        lines.append("")
    return "\n".join(lines)
