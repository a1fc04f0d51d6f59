"""ROUGE as pltrdy's ``rouge`` PyPI package computes it (1.0.x, ``Rouge()`` defaults), the scorer behind
paper A's ROUGE numbers (docs/tasks/rouge.md), re-implemented here so the harness does not depend on it.

Its semantics differ from ROUGE-1.5.5 / rouge-score, which is why it is a separate ``implementation``:

* sentences: ``text.split(".")``, parts of length 0 dropped, each part's whitespace collapsed
  (``" ".join(part.split())``). A part made only of spaces survives the length test and becomes the
  empty sentence, whose single "word" is ``""`` — kept, as the reference does.
* words: each sentence ``.split(" ")``; no lower-casing, no punctuation removal, no stemming
  (case-sensitive; ``"news,"`` and ``"news"`` differ). n-grams run over the words of all sentences
  concatenated, so they cross sentence boundaries.
* ``exclusive=True`` (the default): n-grams are *sets* — a repeated bigram counts once on each side.
* ROUGE-L is summary-level: for each reference sentence, the words of its LCS with each hypothesis
  sentence are added to one running *set*; the hit count is that set's final size, recall divides by
  the number of distinct reference words and precision by the number of distinct hypothesis words.
  Which LCS is taken when several exist follows the reference's backtracking order exactly.
* F = 2PR / (P + R + 1e-8) — the smoothing is why its F values read 0.52380951... for 11/21.

One deliberate difference: the reference raises ``ValueError`` when either text has no sentence
(e.g. ``""`` or ``"..."``); here such a pair scores 0, so one empty generation cannot abort a run.
The recursive LCS backtrack of the reference overflows Python's stack on sentences longer than
~1000 words (a generation without any ``.``); this one is iterative with the same tie-breaking.
"""

from __future__ import annotations

from collections.abc import Sequence

#: rouge-score type name → pltrdy metric name
TYPES = {"rouge1": "rouge-1", "rouge2": "rouge-2", "rougeL": "rouge-l"}
_EPS = 1e-8


def sentences(text: str) -> list[str]:
    """pltrdy's sentence split: on ".", parts of length 0 dropped, whitespace collapsed."""
    return [" ".join(part.split()) for part in text.split(".") if len(part) > 0]


def _words(sents: Sequence[str]) -> list[str]:
    return [w for s in sents for w in s.split(" ")]


def _ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _frp(n_hyp: int, n_ref: int, n_overlap: int) -> dict[str, float]:
    p = n_overlap / n_hyp if n_hyp else 0.0
    r = n_overlap / n_ref if n_ref else 0.0
    return {"f": 2.0 * ((p * r) / (p + r + _EPS)), "p": p, "r": r}


def rouge_n(hyp: Sequence[str], ref: Sequence[str], n: int) -> dict[str, float]:
    """ROUGE-N over n-gram sets of the concatenated sentences (``exclusive=True``)."""
    h, r = _ngrams(_words(hyp), n), _ngrams(_words(ref), n)
    return _frp(len(h), len(r), len(h & r))


def lcs_words(x: Sequence[str], y: Sequence[str]) -> list[str]:
    """The words of one LCS of ``x`` and ``y``, chosen by the reference's backtracking: on a match take
    it, else step up when ``table[i-1][j] > table[i][j-1]``, else step left."""
    n, m = len(x), len(y)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev, xi = table[i], table[i - 1], x[i - 1]
        for j in range(1, m + 1):
            row[j] = prev[j - 1] + 1 if xi == y[j - 1] else max(prev[j], row[j - 1])
    out: list[str] = []
    i, j = n, m
    while i > 0 and j > 0:
        if x[i - 1] == y[j - 1]:
            out.append(x[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    out.reverse()
    return out


def rouge_l_summary(hyp: Sequence[str], ref: Sequence[str]) -> dict[str, float]:
    """Summary-level ROUGE-L with the union LCS kept as one running word set (``exclusive=True``)."""
    m = len(set(_words(ref)))
    n = len(set(_words(hyp)))
    union: set[str] = set()
    hyp_words = [s.split(" ") for s in hyp]
    for ref_sentence in ref:
        ref_words = ref_sentence.split(" ")
        for words in hyp_words:
            union.update(lcs_words(ref_words, words))
    hits = len(union)
    r, p = hits / m, hits / n
    return {"f": 2.0 * ((p * r) / (p + r + _EPS)), "p": p, "r": r}


def score(prediction: str, reference: str, rouge_types: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{type: {"f", "p", "r"}}`` for one pair, as ``rouge.Rouge().get_scores(prediction, reference)``;
    a pair where either side has no sentence scores 0."""
    unknown = [t for t in rouge_types if t not in TYPES]
    if unknown:
        raise ValueError(
            f"the pltrdy implementation has no ROUGE type(s) {unknown} (valid: {', '.join(TYPES)})"
        )
    hyp, ref = sentences(prediction), sentences(reference)
    if not hyp or not ref:
        return {t: {"f": 0.0, "p": 0.0, "r": 0.0} for t in rouge_types}
    out = {}
    for t in rouge_types:
        out[t] = rouge_l_summary(hyp, ref) if t == "rougeL" else rouge_n(hyp, ref, int(t[-1]))
    return out
