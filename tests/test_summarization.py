"""Setting (2): (article, reference) pairs as a corpus, the summarization task, and the reward-weighted
trainer's summarisation pairs, on the CNN/DM and XSum test pairs in ../shared/data."""

from __future__ import annotations

import json

import pytest
import torch
from _models import micro_model, tiny_tokenizer
from conftest import shared_file

from harness.corpus import build_corpus
from harness.corpus.base import corpus_sources
from harness.corpus.pairs import PairsSource
from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM
from harness.specs import CorpusSpec
from harness.text.rouge import score_rouge
from harness.text.summarization import summary_prompt
from tasks.base import TASKS, TaskContext
from tasks.summarization import Summarization, SummarizationParams
from trainers.reward_weighted.data import summarization_examples

CNNDM = "summarization/frank_cnndm_test.jsonl"
XSUM = "summarization/frank_xsum_test.jsonl"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _corpus(rel: str, **params):
    path = shared_file(rel)
    spec = CorpusSpec(
        source="pairs", params={"path": str(path), **params}, val_fraction=0.1, test_fraction=0.2
    )
    return build_corpus(spec)


def test_pairs_source_keeps_the_reference() -> None:
    assert corpus_sources.get("pairs") is PairsSource
    corpus = _corpus(CNNDM, id_field="id")
    assert sum(corpus.sizes().values()) == 250
    records = {r["id"]: r for r in map(json.loads, shared_file(CNNDM).read_text().splitlines())}
    for doc in corpus.train[:5] + corpus.test[:5]:
        assert doc.text == records[doc.id]["article"]
        assert doc.meta["reference"] == records[doc.id]["reference"]
    xsum = _corpus(XSUM, max_docs=20)
    assert sum(xsum.sizes().values()) == 20
    assert all(d.meta["reference"] for s in ("train", "val", "test") for d in xsum.split(s))


def test_pairs_source_rejects_a_record_without_reference(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"article": "Some text.", "summary": "x"}) + "\n")
    with pytest.raises(PlanevalError, match="reference"):
        build_corpus(CorpusSpec(source="pairs", params={"path": str(path)}))
    ok = build_corpus(CorpusSpec(source="pairs", params={"path": str(path), "reference_field": "summary"}))
    assert [d.meta["reference"] for s in ("train", "val", "test") for d in ok.split(s)] == ["x"]


def test_summary_prompt_cuts_the_article() -> None:
    tok = tiny_tokenizer()
    enc = lambda t: tok(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    article = "The river walks slowly. " * 40
    prompt = summary_prompt(article, enc, tok.decode, 20)
    assert prompt.endswith("\nTL;DR:") and len(enc(prompt.removesuffix("\nTL;DR:"))) <= 21
    assert (
        summary_prompt("Short one.", enc, tok.decode, 20, "Summarise: {article} =>")
        == "Summarise: Short one. =>"
    )
    with pytest.raises(ValueError, match="article"):
        SummarizationParams(template="no slot")


def test_summarization_task_scores_generations_with_rouge_score(tmp_path) -> None:
    corpus = _corpus(CNNDM, id_field="id", max_docs=60)
    tok = tiny_tokenizer()
    model = HFCausalLM(micro_model(len(tok), n_positions=64), tok, "micro", batch_size=4)
    task = TASKS.get("summarization")()
    assert isinstance(task, Summarization)
    params = SummarizationParams(
        n_samples=3, max_source_tokens=40, max_new_tokens=12, rouge_types=("rouge1", "rougeL")
    )
    ctx = TaskContext(corpus=corpus, params=params, seed=0, work_dir=tmp_path, progress=False)
    samples = task.evaluate(model, ctx)
    assert len(samples) == 3 and samples["sample_id"].is_unique
    assert all(samples["summary_tokens"] <= 12)
    refs = {d.id: d.meta["reference"] for d in corpus.test}
    assert all(refs[i] == r for i, r in zip(samples["sample_id"], samples["reference"], strict=True))
    again = score_rouge(
        list(samples["generated"]), list(samples["reference"]), rouge_types=("rouge1", "rougeL")
    )
    assert list(samples["rougeL"]) == [s["rougeL"] for s in again]
    metrics = task.aggregate(samples, params)
    assert metrics["rouge1"] == pytest.approx(samples["rouge1"].mean())
    assert 0 <= metrics["rougeL"] <= 1


def test_summarization_examples_match_the_task_prompt() -> None:
    corpus = _corpus(CNNDM, id_field="id", max_docs=30)
    tok = tiny_tokenizer()
    examples = summarization_examples(
        corpus.train,
        tok,
        max_source_tokens=40,
        template="{article}\nTL;DR:",
        target_tokens=16,
        max_len=64,
        seed=0,
        limit=5,
    )
    assert len(examples) == 5
    by_id = {d.id: d for d in corpus.train}
    for ex in examples:
        assert ex.target_ids[-1] == tok.eos_token_id and len(ex.target_ids) <= 16
        assert len(ex.source_ids) + len(ex.target_ids) <= 64
        prompt = summary_prompt(by_id[ex.id].text, lambda t: tok(t)["input_ids"], tok.decode, 40)
        full = [tok.eos_token_id, *tok(prompt)["input_ids"]]
        assert list(ex.source_ids) == full[-len(ex.source_ids) :]
        assert by_id[ex.id].meta["reference"].startswith(ex.reference.strip()[:20])


def test_reward_weighted_trainer_in_the_summarization_setting(tmp_path) -> None:
    """Setting (2) end to end on CNN/DM pairs: a micro decoder-only policy, summarisation pairs,
    candidates that may stop at end-of-text, reward training and WMLE; the artifact is summarised by the
    summarization task."""
    from harness.specs import VariantSpec
    from trainers.base import TrainContext
    from trainers.reward_weighted.config import RewardWeightedConfig
    from trainers.reward_weighted.trainer import RewardWeightedTrainer

    corpus = _corpus(CNNDM, id_field="id", max_docs=40)
    tok = tiny_tokenizer()
    base = tmp_path / "base"
    micro_model(len(tok), n_positions=64).save_pretrained(base / "model")
    tok.save_pretrained(base / "model")
    cfg = RewardWeightedConfig(
        setting="summarization", max_source_tokens=30, target_tokens=12, max_steps=3, batch_size=2,
        reward_steps=1, reward_batch_size=2, retrain_every_steps=1, reward_hidden=8,
        reward_weights="preset:micro", eval_prompts=2, aggregation="sum", k=2,
    )  # fmt: skip
    assert cfg.candidates_stop_at_eos
    out = tmp_path / "out"
    out.mkdir()
    ctx = TrainContext(
        variant=VariantSpec(name="sum", family="reward_weighted", trainer="reward_weighted"),
        config=cfg, seed=0, corpus=corpus, tokenizer=tok, out_dir=out, checkpoint_dir=tmp_path / "ckpt",
        progress=False, inputs={"weights": base}, log=lambda s: None,
    )  # fmt: skip
    trainer = RewardWeightedTrainer()
    trainer.train(ctx)
    info = json.loads((out / "training.json").read_text())
    assert info["train_pairs"] == len(corpus.train)
    assert [r["after_policy_step"] for r in info["reward_rounds"]] == [0, 1]
    model = trainer.load(out, "sum")
    params = SummarizationParams(
        n_samples=2, max_source_tokens=30, max_new_tokens=12, rouge_types=("rouge1",)
    )
    samples = Summarization().evaluate(model, TaskContext(corpus, params, 0, tmp_path, progress=False))
    assert len(samples) == 2
