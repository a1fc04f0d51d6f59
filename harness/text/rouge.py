"""ROUGE scoring shared by the ROUGE tasks and the trainers that reward ROUGE, so a reward and a
leaderboard number come from one implementation (docs/tasks/rouge.md).

``score_rouge`` picks the scorer from ``IMPLEMENTATIONS`` (``implementation``): Google's
``rouge_score`` (the ROUGE-1.5.5 re-implementation) or pltrdy's ``rouge`` package semantics
(``harness.text.rouge_pltrdy``; paper A's numbers). Scores are F1 per type per pair.

rougeLsum: rouge-score computes summary-level LCS over sentences it finds by splitting on "\\n"
(its own ``split_summaries`` needs NLTK's punkt data, which cannot be downloaded here). So before
scoring, each text is rewritten one sentence per line by a sentence splitter (``spacy_split``: spaCy,
``harness.sentences``). The other types tokenize on non-alphanumerics, so the rewrite leaves their
scores unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.text import rouge_pltrdy

Splitter = Callable[[str], Sequence[str]]
#: (predictions, references, rouge types, use_stemmer, sentence splitter or None) → F1 per type per pair
RougeImpl = Callable[
    [Sequence[str], Sequence[str], Sequence[str], bool, Splitter | None], list[dict[str, float]]
]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def one_sentence_per_line(text: str, split: Splitter) -> str:
    """The text rewritten with one sentence per line, for rouge-score's rougeLsum. Existing line
    breaks are sentence breaks too (a paragraph end ends a sentence)."""
    sents = (s.strip() for line in text.split("\n") for s in split(line))
    return "\n".join(s for s in sents if s)


def _rouge_score(
    predictions: Sequence[str],
    references: Sequence[str],
    rouge_types: Sequence[str],
    use_stemmer: bool,
    split: Splitter | None,
) -> list[dict[str, float]]:
    """Google's ``rouge_score`` (the reference ROUGE-1.5.5 re-implementation): F1 per type.
    ``split=None`` means the texts already hold one sentence per line."""
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    out = []
    for pred, ref in zip(predictions, references, strict=True):
        if split is not None and "rougeLsum" in rouge_types:
            pred, ref = one_sentence_per_line(pred, split), one_sentence_per_line(ref, split)
        scores = scorer.score(ref, pred)  # rouge-score takes (target, prediction)
        out.append({t: float(scores[t].fmeasure) for t in rouge_types})
    return out


def _pltrdy(
    predictions: Sequence[str],
    references: Sequence[str],
    rouge_types: Sequence[str],
    use_stemmer: bool,
    split: Splitter | None,
) -> list[dict[str, float]]:
    """pltrdy's ``rouge`` package semantics (``harness.text.rouge_pltrdy``): F per type. It splits
    sentences on "." itself (``split`` is ignored) and has no stemmer."""
    if use_stemmer:
        raise ValueError("the pltrdy ROUGE implementation has no stemmer (use_stemmer must be false)")
    return [
        {t: s["f"] for t, s in rouge_pltrdy.score(pred, ref, rouge_types).items()}
        for pred, ref in zip(predictions, references, strict=True)
    ]


#: ROUGE implementations by name (the ``implementation`` Param); each returns F1 per type per pair
IMPLEMENTATIONS: dict[str, RougeImpl] = {"rouge-score": _rouge_score, "pltrdy": _pltrdy}


def score_rouge(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    rouge_types: Sequence[str] = ROUGE_TYPES,
    use_stemmer: bool = False,
    implementation: str = "rouge-score",
    split: Splitter | None = None,
) -> list[dict[str, float]]:
    """F1 of each prediction against its reference, per ROUGE type. ``split`` rewrites texts one
    sentence per line for rouge-score's rougeLsum only (other types never read it; pltrdy splits on "."
    itself); None: the texts already hold one sentence per line."""
    try:
        impl = IMPLEMENTATIONS[implementation]
    except KeyError:
        raise ValueError(
            f"unknown ROUGE implementation {implementation!r} (valid: {', '.join(IMPLEMENTATIONS)})"
        ) from None
    return impl(predictions, references, rouge_types, use_stemmer, split)


def spacy_split(text: str) -> Sequence[str]:
    """spaCy sentences for rougeLsum (imported on first use: spaCy is slow to load)."""
    from harness.sentences import split_sentences

    return split_sentences(text)
