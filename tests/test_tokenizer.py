"""The BPE trained on the training split, HF tokenizers from a folder, and the sentence splitter."""

from __future__ import annotations

import json

import pytest

from harness.corpus import Corpus, Document, build_corpus
from harness.errors import MissingPathError, PlanevalError
from harness.sentences import split_sentences, split_sentences_batch
from harness.specs import CorpusSpec, TokenizerSpec
from harness.tokenizer import EOS, build_tokenizer, load_tokenizer, train_bpe

UNICODE = [
    "Ünïcödé façade, naïve café — “quotes” and ‘apostrophes’.",
    "日本語のテキスト。中文文本。한국어 텍스트.",
    "Emoji 🚀🧪 and math ∑ x² ≤ ∞; tabs\tand\nnewlines\r\n and  double  spaces  ",
    " leading space, trailing space ",
    "",
]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(CorpusSpec(params={"n_articles": 600}))


@pytest.fixture(scope="module")
def bpe(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("tok") / "bpe"
    tok = build_tokenizer(TokenizerSpec(vocab_size=1000), corpus, out)
    return tok, out


def test_bpe_round_trips_and_uses_one_special_token(bpe, corpus):
    tok, _ = bpe
    assert len(tok) == 1000
    assert tok.eos_token == tok.bos_token == tok.pad_token == tok.unk_token == EOS
    assert tok.convert_tokens_to_ids(EOS) == 0
    for text in [d.text for d in corpus.test[:50]] + UNICODE:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        assert 0 not in ids, "plain text must not produce the special token"
    assert tok.decode(tok(EOS)["input_ids"]) == EOS


def test_bpe_is_deterministic(corpus):
    texts = [d.text for d in corpus.train]
    a, b = train_bpe(texts, 800, 2), train_bpe(iter(texts), 800, 2)
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()


def test_bpe_sees_only_the_training_split(tmp_path):
    word = "Quixotzalbrentvik"
    train = [Document(id=f"tr{i}", text=f"The river flows past the old mill number {i}.") for i in range(200)]
    test = [Document(id=f"te{i}", text=f"{word} {word} {word}.") for i in range(200)]

    def pieces(train_docs: list[Document], name: str) -> list[str]:
        c = Corpus(spec=CorpusSpec(), train=train_docs, val=[], test=test)
        return build_tokenizer(TokenizerSpec(vocab_size=600), c, tmp_path / name).tokenize(f" {word}")

    assert len(pieces(train, "a")) > 5, "a word seen only in the test split must not be learned"
    assert len(pieces(train + test, "b")) == 1, "control: the same word in train becomes one token"


def test_saved_config_and_reload(bpe, corpus):
    tok, out = bpe
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "GPT2Tokenizer"
    back = load_tokenizer(out)
    text = corpus.val[0].text + UNICODE[2]
    assert back(text)["input_ids"] == tok(text)["input_ids"] and back.pad_token == EOS
    with pytest.raises(MissingPathError, match="no such tokenizer folder"):
        load_tokenizer(out.parent / "missing")


def test_hf_kind_loads_a_local_folder_and_sets_pad(bpe, corpus, tmp_path):
    tok, out = bpe
    hf = build_tokenizer(TokenizerSpec(kind="hf", name_or_path=str(out)), corpus, tmp_path / "hf")
    text = corpus.test[0].text
    assert hf(text)["input_ids"] == tok(text)["input_ids"]
    assert load_tokenizer(tmp_path / "hf")(text)["input_ids"] == tok(text)["input_ids"]

    no_pad = train_bpe(["some text to learn from. " * 20], 300, 1)
    no_pad.pad_token = None
    no_pad.save_pretrained(str(tmp_path / "nopad"))
    loaded = build_tokenizer(
        TokenizerSpec(kind="hf", name_or_path=str(tmp_path / "nopad")), corpus, tmp_path / "o"
    )
    assert loaded.pad_token == loaded.eos_token == EOS

    with pytest.raises(MissingPathError, match="nowhere: no such tokenizer folder"):
        build_tokenizer(
            TokenizerSpec(kind="hf", name_or_path=str(tmp_path / "nowhere")), corpus, tmp_path / "x"
        )
    with pytest.raises(PlanevalError, match="needs name_or_path"):
        build_tokenizer(TokenizerSpec(kind="hf"), corpus, tmp_path / "y")
    with pytest.raises(PlanevalError, match="no training documents"):
        build_tokenizer(TokenizerSpec(), Corpus(spec=CorpusSpec(), train=[], val=[], test=[]), tmp_path / "z")


def test_split_sentences():
    text = "The town lies on a river. It has 12,400 inhabitants (in 2011).\n = = History = = \nIt grew. "
    assert split_sentences(text) == [
        "The town lies on a river.",
        "It has 12,400 inhabitants (in 2011).",
        "= = History = =",
        "It grew.",
    ]
    assert split_sentences(text, by_line=False)[-1].startswith("= = History")
    assert split_sentences_batch(["One. Two.", "", "Three."]) == [["One.", "Two."], [], ["Three."]]


def test_split_digits_gives_one_token_per_digit(corpus):
    """``split_digits``: no token holds two digits or a digit and a letter, text still round-trips, and
    the option at its default leaves the spec's dump (so every existing tokenizer key) unchanged."""
    texts = [d.text + " 27 + 130 = 157" for d in corpus.train[:200]]
    tok = train_bpe(texts, 600, 2, split_digits=True)
    sample = "Mia has 27 apples and 1,305 pears: 27 + 5 = 32."
    ids = tok(sample)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert tok.decode(ids) == sample
    assert all(sum(c.isdigit() for c in p) <= 1 for p in pieces)
    assert all(not (any(c.isdigit() for c in p) and any(c.isalpha() for c in p)) for p in pieces)
    plain = train_bpe(texts, 600, 2)
    assert any(sum(c.isdigit() for c in plain.decode([i])) > 1 for i in plain(sample)["input_ids"])
    assert "split_digits" not in TokenizerSpec().model_dump()
    assert TokenizerSpec(split_digits=True).model_dump()["split_digits"] is True
