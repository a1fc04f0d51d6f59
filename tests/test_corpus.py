"""Corpus sources: the synthetic planted-plan corpus, local files, WikiText and HF datasets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file

from harness.corpus import SPLITS, build_corpus, corpus_sources, load_corpus, save_corpus
from harness.corpus.base import make_source
from harness.corpus.synthetic import (
    KINDS,
    ORDERS,
    TEMPLATES,
    TYPE_NAMES,
    Article,
    NamePools,
    build_plan,
    transition_entropies,
)
from harness.errors import MissingPathError, PlanevalError, SpecError
from harness.sentences import split_sentences, split_sentences_batch
from harness.specs import CorpusSpec


def _all(corpus) -> list:
    return [d for s in SPLITS for d in corpus.split(s)]


@pytest.fixture(scope="module")
def synthetic():
    start = time.perf_counter()
    corpus = build_corpus(CorpusSpec(source="synthetic"))
    return corpus, time.perf_counter() - start


# -- synthetic ------------------------------------------------------------------------------------


def test_synthetic_is_fast_and_well_formed(synthetic):
    corpus, seconds = synthetic
    docs = _all(corpus)
    assert len(docs) == 3000 and seconds < 2.0, f"{len(docs)} articles in {seconds:.2f}s"
    assert corpus.n_actions == len(TYPE_NAMES) == 32
    assert all(corpus.sizes()[s] > 0 for s in SPLITS)
    assert len({d.id for d in docs}) == 3000 and docs[0].id.startswith("syn-")
    for d in docs:
        assert d.text == " ".join(d.sentences)
        assert len(d.actions) == len(d.sentences) and 4 <= len(d.sentences) <= 14
        assert all(0 <= a < 32 for a in d.actions)
        assert all(s.endswith(".") and s[0].isupper() for s in d.sentences)
        assert "{" not in d.text and "  " not in d.text
    used = {a for d in docs for a in d.actions}
    assert used == set(range(32)), f"types never used: {sorted(set(range(32)) - used)}"
    assert {d.meta["kind"] for d in docs} == set(KINDS)


def test_synthetic_is_deterministic_and_seeded(synthetic):
    corpus, _ = synthetic
    small = build_corpus(CorpusSpec(source="synthetic", params={"n_articles": 200}))
    by_id = {d.id: d for d in _all(corpus)}
    assert all(by_id[d.id] == d for d in _all(small)), "article i must not depend on n_articles"
    again = build_corpus(CorpusSpec(source="synthetic", params={"n_articles": 200}))
    assert _all(again) == _all(small)
    other = build_corpus(CorpusSpec(source="synthetic", seed=1, params={"n_articles": 200}))
    shifted = build_corpus(CorpusSpec(source="synthetic", params={"n_articles": 200, "seed_offset": 1}))
    texts = {d.id: d.text for d in _all(small)}
    for variant in (other, shifted):
        assert sum(texts[d.id] != d.text for d in _all(variant)) > 190


def test_sentencizer_recovers_synthetic_sentences(synthetic):
    docs = _all(synthetic[0])[:1000]
    got = split_sentences_batch([d.text for d in docs])
    ok = sum(list(d.sentences) == g for d, g in zip(docs, got, strict=True))
    assert ok >= 0.99 * len(docs), f"only {ok}/{len(docs)} documents split back into their sentences"


def test_the_plan_carries_information(synthetic):
    h = transition_entropies([d.actions for d in _all(synthetic[0])])
    assert h["h_next_given_current"] < h["h_next"] - 1.5, h


def test_plan_is_stochastic_sparse_and_kind_dependent():
    plan = build_plan(32)
    for kind in KINDS:
        for s, row in enumerate(plan.matrix(kind)):
            total = sum(row)
            assert total == pytest.approx(1.0) or (total == 0 and s not in plan.kinds[kind].trans)
            assert sum(p > 0 for p in row) <= 6
    assert plan.matrix("town") != plan.matrix("river")
    assert build_plan(32, plan_seed=1).matrix("town") != plan.matrix("town")


def test_every_template_renders_for_every_kind_that_uses_it():
    pools = NamePools.build(0)
    import random

    for kind in KINDS:
        for type_name in ORDERS[kind]:
            by_kind = TEMPLATES[type_name]
            for template in by_kind.get(kind) or by_kind["*"]:
                text = Article(kind, random.Random(0), pools).write(template)
                assert text.endswith(".") and "{" not in text, (kind, template)
                assert split_sentences(text) == [text], (kind, text)


def test_synthetic_params(tmp_path):
    c = build_corpus(
        CorpusSpec(params={"n_articles": 300, "n_types": 8, "min_sentences": 9, "max_sentences": 11})
    )
    docs = _all(c)
    assert c.n_actions == 8 and all(a < 8 for d in docs for a in d.actions)
    assert all(9 <= len(d.actions) <= 11 for d in docs)
    with pytest.raises(PlanevalError, match=r"no \w+ article can have 1\.\.1 sentences"):
        build_corpus(CorpusSpec(params={"n_articles": 5, "min_sentences": 1, "max_sentences": 1}))
    with pytest.raises(SpecError, match="min_sentences"):
        build_corpus(CorpusSpec(params={"min_sentences": 9, "max_sentences": 5}))
    with pytest.raises(SpecError, match="n_types"):
        build_corpus(CorpusSpec(params={"n_types": 40}))
    with pytest.raises(SpecError, match="unknown field"):
        build_corpus(CorpusSpec(params={"n_article": 5}))
    save_corpus(c, tmp_path / "corpus.parquet")
    back = load_corpus(c.spec, tmp_path / "corpus.parquet")
    assert back.train == c.train and back.test == c.test and back.n_actions == 8


# -- local files ----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_text_source_folder_glob_separator_and_max_docs(tmp_path):
    _write(tmp_path / "a.txt", "First doc.\n")
    _write(tmp_path / "sub" / "b.txt", "Second doc ünïcode.\n")
    _write(tmp_path / "c.md", "not text by default")
    c = build_corpus(
        CorpusSpec(source="text", params={"path": str(tmp_path)}, val_fraction=0, test_fraction=0)
    )
    assert sorted(d.id for d in c.train) == ["a.txt"]
    c = build_corpus(CorpusSpec(source="text", params={"path": str(tmp_path), "glob": "**/*.txt"}))
    assert sorted(d.id for d in _all(c)) == ["a.txt", "sub/b.txt"]
    c = build_corpus(CorpusSpec(source="text", params={"path": str(tmp_path / "**" / "*.txt")}))
    assert sorted(d.text for d in _all(c)) == ["First doc.\n", "Second doc ünïcode.\n"]

    _write(tmp_path / "many.txt", "One.\nstill one.\n\n  \nTwo.\n\n\nThree.")
    p = {"path": str(tmp_path / "many.txt"), "doc_separator": r"\n\s*\n"}
    docs = _all(build_corpus(CorpusSpec(source="text", params=p)))
    assert sorted(d.text for d in docs) == ["One.\nstill one.", "Three.", "Two."]
    assert {d.id for d in docs} == {"many.txt#0", "many.txt#1", "many.txt#2"}
    docs = _all(build_corpus(CorpusSpec(source="text", params={**p, "max_docs": 2})))
    assert sorted(d.id for d in docs) == ["many.txt#0", "many.txt#1"]


def test_file_sources_missing_paths(tmp_path):
    missing = tmp_path / "nope"
    for source in ("text", "jsonl", "parquet"):
        spec = CorpusSpec(source=source, params={"path": str(missing)})
        with pytest.raises(MissingPathError, match="nope: no such file or folder"):
            make_source(spec).check()
        with pytest.raises(MissingPathError, match="nope"):
            build_corpus(spec)
    with pytest.raises(MissingPathError, match=r"no files match"):
        build_corpus(CorpusSpec(source="text", params={"path": str(tmp_path / "*.txt")}))
    with pytest.raises(SpecError, match="exactly one of path or splits"):
        build_corpus(CorpusSpec(source="jsonl", params={}))
    with pytest.raises(SpecError, match="splits needs all of"):
        build_corpus(CorpusSpec(source="jsonl", params={"splits": {"train": "x"}}))


def _jsonl(path: Path, rows: list[dict]) -> Path:
    return _write(path, "\n".join(json.dumps(r) for r in rows) + "\n")


def test_jsonl_source_fields_and_explicit_splits(tmp_path):
    rows = [{"body": f"Text {i}.", "key": f"k{i}"} for i in range(20)]
    f = _jsonl(tmp_path / "d.jsonl", [*rows, {"body": "   ", "key": "blank"}])
    c = build_corpus(
        CorpusSpec(source="jsonl", params={"path": str(f), "text_field": "body", "id_field": "key"})
    )
    docs = _all(c)
    assert len(docs) == 20 and {d.id for d in docs} == {f"k{i}" for i in range(20)}
    assert sum(c.sizes().values()) == 20
    no_id = _all(build_corpus(CorpusSpec(source="jsonl", params={"path": str(f), "text_field": "body"})))
    assert sorted(d.id for d in no_id)[:2] == ["d.jsonl:1", "d.jsonl:10"]

    splits = {s: str(_jsonl(tmp_path / f"{s}.jsonl", [{"text": f"{s} {i}."} for i in range(n)])) for s, n in
              (("train", 5), ("val", 2), ("test", 3))}  # fmt: skip
    c = build_corpus(CorpusSpec(source="jsonl", params={"splits": splits}))
    assert c.sizes() == {"train": 5, "val": 2, "test": 3}
    assert all(d.text.startswith("test") for d in c.test) and c.train[0].id == "train/train.jsonl:1"
    c = build_corpus(CorpusSpec(source="jsonl", params={"splits": splits, "max_docs": 2}))
    assert c.sizes() == {"train": 2, "val": 2, "test": 2}

    with pytest.raises(PlanevalError, match=r"d\.jsonl:1: no field 'text' \(fields: body, key\)"):
        build_corpus(CorpusSpec(source="jsonl", params={"path": str(f)}))
    _write(tmp_path / "bad.jsonl", '{"text": "ok."}\n{broken\n')
    with pytest.raises(PlanevalError, match=r"bad\.jsonl:2: invalid JSON"):
        build_corpus(CorpusSpec(source="jsonl", params={"path": str(tmp_path / "bad.jsonl")}))


def test_parquet_source(tmp_path):
    df = pd.DataFrame({"text": [f"Row {i} text." for i in range(30)], "uid": range(30), "x": 1.0})
    (tmp_path / "p").mkdir()
    df.to_parquet(tmp_path / "p" / "part-0.parquet", row_group_size=7)
    df.assign(uid=df.uid + 100).to_parquet(tmp_path / "p" / "part-1.parquet")
    c = build_corpus(CorpusSpec(source="parquet", params={"path": str(tmp_path / "p"), "id_field": "uid"}))
    docs = _all(c)
    assert len(docs) == 60 and {d.id for d in docs} == {str(i) for i in range(30)} | {
        str(i + 100) for i in range(30)
    }
    c = build_corpus(CorpusSpec(source="parquet", params={"path": str(tmp_path / "p"), "max_docs": 10}))
    assert sorted(d.id for d in _all(c)) == sorted(f"part-0.parquet:{i}" for i in range(10))
    with pytest.raises(PlanevalError, match="no column 'body'"):
        build_corpus(CorpusSpec(source="parquet", params={"path": str(tmp_path / "p"), "text_field": "body"}))


# -- WikiText -------------------------------------------------------------------------------------


def test_wikitext2_shared_files_article_counts():
    folder = shared_file("wikitext2_raw/wiki.valid.raw").parent
    shared_file("wikitext2_raw/wiki.test.raw")
    src = make_source(CorpusSpec(source="wikitext", params={"path": str(folder)}))
    parts = src.load(0)
    assert set(parts) == {"all"}, "without wiki.train.raw the articles are pooled and split by hash"
    docs = parts["all"]
    assert sum(d.id.startswith("valid-") for d in docs) == 60
    assert sum(d.id.startswith("test-") for d in docs) == 62
    assert docs[0].meta["title"] == "Homarus gammarus" and docs[0].text.startswith(" = Homarus gammarus = \n")
    assert all("\r" not in d.text for d in docs)
    raw = (folder / "wiki.valid.raw").read_bytes().decode().replace("\r\n", "\n")
    assert "".join(d.text for d in docs if d.id.startswith("valid-")) == raw.removeprefix(" \n")
    c = build_corpus(
        CorpusSpec(source="wikitext", params={"path": str(folder)}, val_fraction=0.1, test_fraction=0.1)
    )
    assert sum(c.sizes().values()) == 122 and c.sizes()["train"] > 80
    with pytest.raises(MissingPathError, match=r"wiki\.train\.raw: no such file"):
        make_source(CorpusSpec(source="wikitext", params={"path": str(folder), "splits": "files"})).check()


def test_wikitext_explicit_splits_and_crlf(tmp_path):
    article = " = {t} = \r\n \r\n Body of {t} . \r\n \r\n = = Section = = \r\n \r\n More text . \r\n \r\n"
    for stem, n in (("train", 3), ("valid", 1), ("test", 2)):
        body = " \r\n" + "".join(article.format(t=f"{stem} {i}") for i in range(n))
        (tmp_path / f"wiki.{stem}.raw").write_bytes(body.encode())
    c = build_corpus(CorpusSpec(source="wikitext", params={"path": str(tmp_path)}))
    assert c.sizes() == {"train": 3, "val": 1, "test": 2}
    assert c.train[1].text == article.format(t="train 1").replace("\r\n", "\n")
    assert c.train[1].meta["title"] == "train 1"
    c = build_corpus(
        CorpusSpec(source="wikitext", params={"path": str(tmp_path), "splits": "hash", "max_docs": 1})
    )
    assert sum(c.sizes().values()) == 3
    with pytest.raises(MissingPathError, match="nowhere: no such folder"):
        build_corpus(CorpusSpec(source="wikitext", params={"path": str(tmp_path / "nowhere")}))


# -- HF datasets ----------------------------------------------------------------------------------


def test_hf_source_json_text_parquet(tmp_path):
    cache = str(tmp_path / "cache")
    train = _jsonl(tmp_path / "train.jsonl", [{"text": f"Train doc {i}.", "n": i} for i in range(200)])
    test = _jsonl(tmp_path / "test.jsonl", [{"text": f"Test doc {i}.", "n": i} for i in range(5)])
    params = {"name": "json", "data_files": {"train": str(train), "test": str(test)}, "cache_dir": cache}
    c = build_corpus(CorpusSpec(source="hf", params=params))
    sizes = c.sizes()
    assert sizes["test"] == 5 and sizes["train"] + sizes["val"] == 200 and 2 < sizes["val"] < 25
    assert all(d.text.startswith("Test") for d in c.test)

    c = build_corpus(CorpusSpec(source="hf", params={**params, "splits": {"all": "train"}, "max_docs": 10}))
    assert sum(c.sizes().values()) == 10

    _write(tmp_path / "lines.txt", "line one.\nline two.\n\nline three.\n")
    lines = {"name": "text", "data_files": str(tmp_path / "lines.txt"), "cache_dir": cache}
    c = build_corpus(CorpusSpec(source="hf", params=lines))
    assert sorted(d.text for d in _all(c)) == ["line one.", "line three.", "line two."]

    for s, n in (("train", 6), ("dev", 2), ("test", 3)):
        pd.DataFrame({"body": [f"{s} {i}." for i in range(n)]}).to_parquet(tmp_path / f"{s}.parquet")
    files = {s: str(tmp_path / f"{s}.parquet") for s in ("train", "dev", "test")}
    p = {"name": "parquet", "data_files": files, "text_field": "body", "cache_dir": cache}
    assert build_corpus(CorpusSpec(source="hf", params=p)).sizes() == {"train": 6, "val": 2, "test": 3}
    mapped = {**p, "splits": {"train": "train", "val": "dev", "test": "test[:1]"}}
    assert build_corpus(CorpusSpec(source="hf", params=mapped)).sizes() == {"train": 6, "val": 2, "test": 1}

    with pytest.raises(PlanevalError, match="no column 'text'"):
        build_corpus(CorpusSpec(source="hf", params={**p, "text_field": "text"}))
    with pytest.raises(MissingPathError, match=r"gone\.jsonl: no such file"):
        make_source(
            CorpusSpec(source="hf", params={"name": "json", "data_files": str(tmp_path / "gone.jsonl")})
        ).check()


def test_all_sources_registered():
    assert {"synthetic", "text", "jsonl", "parquet", "wikitext", "hf"} <= set(corpus_sources.names())
