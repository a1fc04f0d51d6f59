"""ROUGE task: the scorer against rouge-score and the ROUGE-1.5.5 vectors, the prompt cuts, and an
end-to-end run on a micro model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _models import micro_model, sample_texts, tiny_tokenizer
from _tagger import single_thread  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from rouge_score.rouge_scorer import RougeScorer

from harness.corpus import Corpus, Document
from harness.hf_adapter import HFCausalLM
from harness.specs import CorpusSpec
from harness.text import rouge_pltrdy
from harness.text.prompts import continuation_prompts, cut_document, sentence_ends
from harness.text.rouge import IMPLEMENTATIONS, ROUGE_TYPES, one_sentence_per_line, score_rouge
from tasks.base import TASKS, TaskContext
from tasks.rouge import Rouge, RougeParams

VECTORS = "rouge_vectors/google_research_rouge"
PLTRDY_VECTORS = "rouge_vectors/pltrdy_rouge/data.json"


@pytest.fixture
def vectors(shared_data: Path) -> Path:
    """The rouge-score test vectors in ../shared/data, or skip naming what is missing."""
    folder = shared_data / VECTORS
    names = ("target.txt", "prediction.txt", "target_multi.0.txt", "prediction_multi.0.txt")
    missing = [n for n in (*names, "rouge155_expected.json") if not (folder / n).exists()]
    if missing:
        pytest.skip(f"ROUGE test vectors absent from {folder}: {', '.join(missing)}")
    return folder


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln]


# -- the scorer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", [False, True])
def test_rouge155_per_pair_vectors(vectors: Path, stem: bool) -> None:
    """ROUGE-1/2/L F1 of the two line pairs reproduce Perl ROUGE-1.5.5 (as rouge-score's own tests
    assert, to 5 places) and equal a direct rouge_scorer call exactly."""
    expected = json.loads((vectors / "rouge155_expected.json").read_text())
    targets, predictions = _lines(vectors / "target.txt"), _lines(vectors / "prediction.txt")
    assert len(targets) == len(predictions) == 2
    ours = score_rouge(predictions, targets, rouge_types=["rouge1", "rouge2", "rougeL"], use_stemmer=stem)
    direct = RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=stem)
    key = "stem" if stem else "no_stem"
    checked = 0
    for entry in expected["per_pair"]:
        i = entry["line"]
        ref = direct.score(targets[i], predictions[i])
        for rtype in ("rouge1", "rouge2", "rougeL"):
            assert ours[i][rtype] == ref[rtype].fmeasure
            if key in entry[rtype]:
                assert round(ours[i][rtype], 5) == pytest.approx(entry[rtype][key]["fmeasure"], abs=5e-6)
                checked += 1
    assert checked == (6 if not stem else 4)


def test_rouge155_rougelsum_multiline(vectors: Path) -> None:
    """Summary-level LCS over newline-separated sentences (stemmed) reproduces ROUGE-1.5.5; with a
    splitter that keeps each line whole, the one-sentence-per-line rewrite changes nothing."""
    expected = json.loads((vectors / "rouge155_expected.json").read_text())["rougeLsum_multiline"]
    target = (vectors / expected["target_file"]).read_text(encoding="utf-8")
    prediction = (vectors / expected["prediction_file"]).read_text(encoding="utf-8")
    direct = RougeScorer(["rougeLsum"], use_stemmer=True).score(target, prediction)["rougeLsum"].fmeasure
    as_given = score_rouge([prediction], [target], rouge_types=["rougeLsum"], use_stemmer=True)[0]
    rewritten = score_rouge(
        [prediction], [target], rouge_types=["rougeLsum"], use_stemmer=True, split=lambda line: [line]
    )[0]
    assert as_given["rougeLsum"] == direct == rewritten["rougeLsum"]
    assert round(direct, 5) == pytest.approx(expected["stem"]["fmeasure"], abs=5e-6)


def test_one_sentence_per_line_feeds_rougelsum() -> None:
    """Sentences found inside a line become lines; rouge1 is unchanged by the rewrite, rougeLsum
    sees the sentences."""

    def split(line: str) -> list[str]:
        return [s + "." for s in line.split(".") if s.strip()]

    text = "The cat sat. The dog ran.\nBirds fly."
    assert one_sentence_per_line(text, split) == "The cat sat.\nThe dog ran.\nBirds fly."
    pred, ref = "The dog ran. The cat sat.", "The cat sat. The dog ran."
    plain = score_rouge([pred], [ref], rouge_types=["rouge1", "rougeLsum"])[0]
    split_scores = score_rouge([pred], [ref], rouge_types=["rouge1", "rougeLsum"], split=split)[0]
    assert plain["rouge1"] == split_scores["rouge1"] == 1.0
    # one line each: LCS of the whole token sequences (3 of 6); per sentence both sentences match
    assert plain["rougeLsum"] == pytest.approx(0.5)
    assert split_scores["rougeLsum"] == pytest.approx(1.0)


def test_unknown_implementation_is_named() -> None:
    assert "rouge-score" in IMPLEMENTATIONS
    with pytest.raises(ValueError, match="unknown ROUGE implementation 'perl'"):
        score_rouge(["a"], ["a"], implementation="perl")


def test_params_validation() -> None:
    assert TASKS.get("rouge") is Rouge
    p = RougeParams(lengths=[256, 128])
    assert p.lengths == (128, 256) and p.implementation == "rouge-score" and not p.use_stemmer
    with pytest.raises(ValidationError):
        RougeParams(lenghts=[128])
    with pytest.raises(ValidationError):
        RougeParams(rouge_types=["rouge3L"])
    with pytest.raises(ValidationError, match="implementation pltrdy has no"):
        RougeParams(implementation="pltrdy")  # the default types include rougeLsum
    p = RougeParams(implementation="pltrdy", rouge_types=["rouge1", "rouge2", "rougeL"])
    assert p.implementation == "pltrdy"
    with pytest.raises(ValidationError, match="no stemmer"):
        RougeParams(implementation="pltrdy", rouge_types=["rouge1"], use_stemmer=True)
    with pytest.raises(ValidationError):
        RougeParams(implementation="perl")
    with pytest.raises(ValidationError):
        RougeParams(lengths=[0, 128])


# -- pltrdy ---------------------------------------------------------------------------------------

EPS = 1e-8


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r + EPS)


def test_pltrdy_hand_computed() -> None:
    """Sentences split on ".", case-sensitive words, n-gram sets over the concatenated sentences."""
    s = rouge_pltrdy.score(
        "The cat sat. The cat ran", "the cat sat on the mat.", ["rouge1", "rouge2", "rougeL"]
    )
    # unigram sets {The, cat, sat, ran} vs {the, cat, sat, on, mat}: "The" != "the"
    assert s["rouge1"] == {"f": _f(2 / 4, 2 / 5), "p": 2 / 4, "r": 2 / 5}
    # bigrams cross the sentence boundary ("sat The"); the repeated "The cat" counts once
    assert s["rouge2"] == {"f": _f(1 / 4, 1 / 5), "p": 1 / 4, "r": 1 / 5}
    assert s["rouge1"]["f"] == pytest.approx(0.4444444395, abs=1e-10)  # the 1e-8 smoothing shows


def test_pltrdy_rouge_l_union_of_word_sets() -> None:
    """ref "a b c d. e f", hyp "a c. b d e": LCS words {a,c} ∪ {b,d} for ref sentence 1, {e} for
    sentence 2 — 5 hits over 6 distinct reference and 5 distinct hypothesis words."""
    s = rouge_pltrdy.score("a c. b d e", "a b c d. e f", ["rougeL"])["rougeL"]
    assert s == {"f": _f(1.0, 5 / 6), "p": 1.0, "r": 5 / 6}
    # the union is one running set: a word matched again in a later sentence adds nothing
    twice = rouge_pltrdy.score("a b", "a b. a b", ["rougeL"])["rougeL"]
    assert twice["p"] == 1.0 and twice["r"] == 1.0


def test_pltrdy_quirks() -> None:
    # a whitespace-only part between two dots survives (length > 0) as the empty word ""
    assert rouge_pltrdy.sentences("a. . b") == ["a", "", "b"]
    s = rouge_pltrdy.score("a. . b", "a b", ["rouge1"])["rouge1"]
    assert (s["p"], s["r"]) == (2 / 3, 1.0)
    # whitespace is collapsed inside a sentence; "" after a final dot is dropped, " " is not
    assert rouge_pltrdy.sentences(" x  y.\n z.") == ["x y", "z"]
    assert rouge_pltrdy.sentences(" x  y.\n z. ") == ["x y", "z", ""]
    # LCS ties broken as the reference's backtracking does: step left unless up is strictly better
    assert rouge_pltrdy.lcs_words(["a", "b"], ["b", "a"]) == ["b"]
    # the reference raises on a text without sentences; here the pair scores 0
    assert rouge_pltrdy.score("...", "a b", ["rouge1"])["rouge1"] == {"f": 0.0, "p": 0.0, "r": 0.0}
    # very long sentences (no "."): the iterative backtrack does not hit the recursion limit
    long = " ".join(f"w{i % 50}" for i in range(1200))
    assert rouge_pltrdy.score(long, long, ["rougeL"])["rougeL"]["r"] == 1.0


def _reference_recon_lcs(x: list[str], y: list[str]) -> list[str]:
    """pltrdy's ``_lcs`` + recursive ``_recon`` transcribed, to check the iterative version against."""
    table = {}
    for i in range(len(x) + 1):
        for j in range(len(y) + 1):
            if i == 0 or j == 0:
                table[i, j] = 0
            elif x[i - 1] == y[j - 1]:
                table[i, j] = table[i - 1, j - 1] + 1
            else:
                table[i, j] = max(table[i - 1, j], table[i, j - 1])

    def recon(i: int, j: int) -> list[str]:
        if i == 0 or j == 0:
            return []
        if x[i - 1] == y[j - 1]:
            return [*recon(i - 1, j - 1), x[i - 1]]
        if table[i - 1, j] > table[i, j - 1]:
            return recon(i - 1, j)
        return recon(i, j - 1)

    return recon(len(x), len(y))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=12), st.lists(st.sampled_from("abcd"), max_size=12))
def test_pltrdy_lcs_matches_reference_backtracking(x: list[str], y: list[str]) -> None:
    assert rouge_pltrdy.lcs_words(x, y) == _reference_recon_lcs(x, y)


def test_pltrdy_shared_vectors(shared_data: Path) -> None:
    """../shared/data's pltrdy vectors (tests/data.json of pltrdy/rouge at c1b90a78) were produced by an
    early version of the package that did not split sentences on "." and had a sentence-level, β = P/R
    ROUGE-L. Its n-gram-set ROUGE-1/2 is the one the current package (and this module) computes: on the
    unsplit texts it reproduces all four records exactly, and through the full 1.0 pipeline the two
    records without "." reproduce exactly. ROUGE-L changed semantics and is checked by hand above."""
    path = shared_data / PLTRDY_VECTORS
    if not path.exists():
        pytest.skip(f"pltrdy ROUGE vectors absent: {path}")
    records = json.loads(path.read_text())
    assert len(records) == 4
    without_dots = 0
    for rec in records:
        for n in (1, 2):
            expected = rec["scores"][f"rouge-{n}"]
            assert rouge_pltrdy.rouge_n([rec["hyp"]], [rec["ref"]], n) == expected
        if "." not in rec["hyp"] + rec["ref"]:
            without_dots += 1
            ours = score_rouge(
                [rec["hyp"]], [rec["ref"]], rouge_types=["rouge1", "rouge2"], implementation="pltrdy"
            )
            assert ours[0] == {
                "rouge1": rec["scores"]["rouge-1"]["f"],
                "rouge2": rec["scores"]["rouge-2"]["f"],
            }
    assert without_dots == 2


def test_pltrdy_differs_from_rouge_score() -> None:
    """Same pair, two implementations: rouge-score lower-cases and counts n-gram multiplicity."""
    pred, ref = "The cat The cat.", "the cat sat."
    rs = score_rouge([pred], [ref], rouge_types=["rouge1"])[0]["rouge1"]
    pl = score_rouge([pred], [ref], rouge_types=["rouge1"], implementation="pltrdy")[0]["rouge1"]
    assert rs == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))  # clipped counts: the, cat
    assert pl == pytest.approx(_f(1 / 2, 1 / 3))  # sets {The, cat} vs {the, cat, sat}: only "cat"


# -- prompts ---------------------------------------------------------------------------------------


def _bytes_encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def _bytes_decode(ids) -> str:
    return bytes(ids).decode("utf-8", errors="replace")


def test_sentence_ends_in_order() -> None:
    text = "One two.  Three four!\nFive?"
    assert sentence_ends(text, ["One two.", "Three four!", "Five?"]) == [8, 21, 27]
    # a sentence that is not verbatim in the text gives no boundary, later ones still do
    assert sentence_ends(text, ["One two.", "Three  four!", "Five?"]) == [8, 27]


def test_cut_document_by_hand() -> None:
    sents = ("Aa bb.", "Cc dd ee.", "Ff gg hh ii.", "Jj.")
    doc = Document("d", " ".join(sents), sentences=sents)
    # byte tokens: "Aa bb." has 6 < 10, "Aa bb. Cc dd ee." has 16 >= 10 -> cut after sentence 2
    prefix, rest = cut_document(doc, _bytes_encode, 10, 5)
    assert prefix == "Aa bb. Cc dd ee."
    assert _bytes_decode(rest) == " Ff gg hh ii. Jj."
    assert cut_document(doc, _bytes_encode, 10, len(rest) + 1) is None
    assert cut_document(doc, _bytes_encode, 100, 1) is None


def test_continuation_prompts_seeded_and_skips() -> None:
    long_sents = ("First one here.", "Second sentence.", "Third is longer than the others.", "End.")
    docs = [Document(f"long{i}", " ".join(long_sents), sentences=long_sents) for i in range(6)]
    docs += [Document(f"short{i}", "Tiny. Doc.", sentences=("Tiny.", "Doc.")) for i in range(4)]
    kw = dict(n_prompts=5, min_prefix_tokens=10, lengths=[8, 4], sentences_of=lambda d: d.sentences)
    a = continuation_prompts(docs, _bytes_encode, _bytes_decode, seed=1, **kw)
    b = continuation_prompts(list(docs), _bytes_encode, _bytes_decode, seed=1, **kw)
    c = continuation_prompts(docs, _bytes_encode, _bytes_decode, seed=2, **kw)
    assert [p.sample_id for p in a.prompts] == [p.sample_id for p in b.prompts]
    assert [p.sample_id for p in a.prompts] != [p.sample_id for p in c.prompts]
    assert len(a.prompts) == 5 and all(p.sample_id.startswith("long") for p in a.prompts)
    assert all(s.startswith("short") for s in a.skipped)
    p = a.prompts[0]
    assert p.prefix_text == "First one here."
    assert p.continuation_texts_by_length == {4: " Sec", 8: " Second "}
    assert _bytes_decode(p.continuation_ids) == " Second "
    # asking for more prompts than there are usable documents gives all of them and names the rest
    everything = continuation_prompts(docs, _bytes_encode, _bytes_decode, seed=1, **{**kw, "n_prompts": 20})
    assert len(everything.prompts) == 6 and len(everything.skipped) == 4
    assert "6 of 20" in everything.summary()


# -- end to end ------------------------------------------------------------------------------------


def _rouge_ctx(tmp_path: Path, seed: int, **params) -> TaskContext:
    texts = sample_texts(12, seed=5, sentences=(8, 14))
    docs = [Document(f"doc{i}", t) for i, t in enumerate(texts)]
    corpus = Corpus(spec=CorpusSpec(), train=[], val=[], test=docs)
    return TaskContext(
        corpus=corpus, params=RougeParams(**params), seed=seed, work_dir=tmp_path, progress=False
    )


def test_evaluate_end_to_end(tmp_path: Path) -> None:
    """Sampled continuations of spaCy-cut prefixes, scored at each length; deterministic in the seed."""
    tok = tiny_tokenizer()
    lm = HFCausalLM(micro_model(len(tok), n_positions=128, seed=1), tok, identity="test:micro", batch_size=4)
    task = Rouge()
    params = dict(n_prompts=4, min_prefix_tokens=16, lengths=[32, 16])
    a = task.evaluate(lm, _rouge_ctx(tmp_path, seed=3, **params))
    b = task.evaluate(lm, _rouge_ctx(tmp_path, seed=3, **params))
    c = task.evaluate(lm, _rouge_ctx(tmp_path, seed=4, **params))
    pd.testing.assert_frame_equal(a, b)
    assert not a["generated"].equals(c["generated"])
    assert len(a) == 4 * 2 and a["sample_id"].nunique() == 4
    assert list(a["length"]) == [16, 32] * 4
    assert set(ROUGE_TYPES) <= set(a.columns)
    assert a[list(ROUGE_TYPES)].apply(lambda s: s.between(0, 1).all()).all()
    assert (a["n_generated"] <= a["length"]).all()
    # each row is rouge-score on the texts rewritten one sentence per line by the spaCy sentencizer
    from harness.sentences import split_sentences

    direct = RougeScorer(list(ROUGE_TYPES))
    for row in a.itertuples():
        ref = one_sentence_per_line(row.reference, split_sentences)
        pred = one_sentence_per_line(row.generated, split_sentences)
        scores = direct.score(ref, pred)
        assert all(getattr(row, t) == scores[t].fmeasure for t in ROUGE_TYPES)
    # the two lengths of a prompt share one generation: the 16-token text starts the 32-token one
    for _, g in a.groupby("sample_id"):
        short, long = g.sort_values("length")["generated"]
        assert long.startswith(short)
    m = task.aggregate(a, RougeParams(**params))
    assert m["rouge1"] == pytest.approx(a["rouge1"].mean())
    assert m["rougeL@16"] == pytest.approx(a.loc[a["length"] == 16, "rougeL"].mean())
    assert set(m) == {*ROUGE_TYPES, *(f"{t}@{n}" for t in ROUGE_TYPES for n in (16, 32))}
    key = task.metric_keys(m)["rouge2@32"]
    assert (key.base, key.dims) == ("rouge2", {"length": 32})
    assert task.metric_info(key).higher_is_better
    assert task.metric_keys(m)["rouge2"].dims == {}


def test_true_continuations_follow_the_prefix(tmp_path: Path) -> None:
    """The reference at length L is the decoded first L tokens after the prefix in the document."""
    tok = tiny_tokenizer()
    ctx = _rouge_ctx(tmp_path, seed=0)
    docs = {d.id: d for d in ctx.corpus.test}
    sel = continuation_prompts(
        ctx.corpus.test,
        lambda t: tok(t, add_special_tokens=False)["input_ids"],
        tok.decode,
        n_prompts=5,
        min_prefix_tokens=16,
        lengths=[16, 32],
        seed=0,
    )
    assert len(sel.prompts) == 5
    for p in sel.prompts:
        text = docs[p.sample_id].text
        assert text.startswith(p.prefix_text) and p.prefix_text.endswith((".", "!", "?"))
        assert len(tok(p.prefix_text)["input_ids"]) >= 16
        assert text[len(p.prefix_text) :].startswith(p.continuation_texts_by_length[32])
        assert p.continuation_texts_by_length[32].startswith(p.continuation_texts_by_length[16])
