"""The plan-tuned family: rows and masking, plan sources, rewards, the two-stage adapter, the teacher,
SFT and GRPO runs on micro models, and the GRPO-on-SFT requirement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _models import micro_model, tiny_tokenizer
from conftest import shared_file
from pydantic import ValidationError
from safetensors.torch import load_file

from harness.corpus import Corpus, Document, build_corpus
from harness.corpus.arithmetic import format_prompt, plan_completion, render_plan, solution_completion
from harness.hf_adapter import HFCausalLM
from harness.runner import plan_suite
from harness.sampling import Sampling
from harness.specs import CorpusSpec, SuiteSpec, TaskSpec, VariantSpec
from trainers.base import TRAINERS, Requirement, TrainContext
from trainers.checkpointing import TrainingInterrupted
from trainers.plan_tuning.adapter import TwoStageLM
from trainers.plan_tuning.answers import is_correct
from trainers.plan_tuning.data import MathExample, policy_prompt, rows, tokenize_row
from trainers.plan_tuning.grpo import PlanGRPOConfig, PlanGRPOTrainer, reward_functions
from trainers.plan_tuning.plans import PLAN_SOURCES, gsm8k_plan, make_plan_source, step_goal
from trainers.plan_tuning.rewards import answer_reward, make_plan_reward, plan_similarity, total_reward
from trainers.plan_tuning.sft import PlanSFTConfig, PlanSFTTrainer, build_dataset, make_sft_trainer
from trainers.plan_tuning.teacher import TeacherPlans, few_shot_prompt, select

MICRO = dict(weights="preset:micro", n_positions=256, batch_size=4, lr=3e-3, warmup_steps=0, logging_steps=1)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(
        CorpusSpec(source="arithmetic", params={"n_problems": 60, "levels": [1]}, val_fraction=0.1)
    )


def _ctx(tmp_path: Path, name: str, config, corpus: Corpus, tokenizer, inputs=None, trainer="plan-sft"):
    out = tmp_path / name / "out"
    out.mkdir(parents=True, exist_ok=True)
    return TrainContext(
        variant=VariantSpec(name=name, family="plan_tuned", trainer=trainer),
        config=config,
        seed=0,
        corpus=corpus,
        tokenizer=tokenizer,
        out_dir=out,
        checkpoint_dir=tmp_path / name / "ckpt",
        progress=False,
        inputs=inputs or {},
        log=lambda s: None,
    )


EXAMPLE = MathExample(
    "x",
    "Mia has 2 bags with 3 apples each. How many apples?",
    ("apples = bags * per bag",),
    ("2 * 3 = 6",),
    "6",
)


# -- formats and masking ------------------------------------------------------------------------------


def test_registered_and_config() -> None:
    assert TRAINERS.get("plan-sft") is PlanSFTTrainer and TRAINERS.get("plan-grpo") is PlanGRPOTrainer
    assert {"gold", "gsm8k", "teacher"} <= set(PLAN_SOURCES.names())
    with pytest.raises(ValidationError, match="unknown plan source"):
        PlanSFTConfig(plan_source="oracle")
    with pytest.raises(ValidationError, match="model"):
        PlanSFTConfig(plan_source="teacher")  # the teacher needs a model
    with pytest.raises(ValidationError, match="cannot override"):
        PlanSFTConfig(weights="hf:gpt2", n_positions=64)
    with pytest.raises(ValidationError, match="cannot override a trained model"):
        PlanSFTConfig(weights="variant:plan-m1", n_layer=2)
    from_variant = PlanSFTConfig(weights="variant:tiny-lm")
    assert PlanSFTTrainer().requires(from_variant) == {"weights": Requirement(variant="tiny-lm")}
    assert PlanSFTTrainer().requires(PlanSFTConfig()) == {} == PlanSFTTrainer().pretrained(from_variant)
    with pytest.raises(ValidationError, match=r"`preset: tiny` is now `weights: preset:tiny`"):
        PlanSFTConfig.model_validate({"preset": "tiny"})
    assert (
        PlanSFTConfig().lm_config().n_positions == 256
        and PlanSFTConfig(weights="hf:x").lm_config().n_positions is None
    )
    with pytest.raises(ValidationError, match="multiple of num_generations"):
        PlanGRPOConfig(batch_size=6, num_generations=4)


def test_rows_per_format() -> None:
    prompt = "Problem: Mia has 2 bags with 3 apples each. How many apples?\n"
    assert rows(EXAMPLE, "solution") == [(prompt, "Solution: 2 * 3 = 6\n#### 6")]
    assert rows(EXAMPLE, "plan") == [
        (prompt, "Plan:\n1. apples = bags * per bag\nSolution: 2 * 3 = 6\n#### 6")
    ]
    plan = render_plan(EXAMPLE.plan)
    assert rows(EXAMPLE, "two-stage") == [
        (prompt, plan),
        (prompt + plan + "Solution:", " 2 * 3 = 6\n#### 6"),
    ]
    # the execution stage's context is never a plan row's context (which is followed by EOS)
    assert not rows(EXAMPLE, "two-stage")[1][0].endswith(plan)
    assert solution_completion(EXAMPLE.execution, "6") == "Solution: 2 * 3 = 6\n#### 6"
    # M2's two rows concatenate to M1's text
    assert "".join(rows(EXAMPLE, "two-stage")[1]) == "".join(rows(EXAMPLE, "plan")[0])
    assert plan_completion(EXAMPLE.plan, EXAMPLE.execution, "6") == rows(EXAMPLE, "plan")[0][1]


def test_tokenized_row_is_the_evaluation_context(tokenizer) -> None:
    prompt, completion = rows(EXAMPLE, "plan")[0]
    ids, mask = tokenize_row(tokenizer, prompt, completion)
    lm = HFCausalLM(micro_model(len(tokenizer)), tokenizer, "m")
    n_prompt = len(lm.document_ids(prompt))  # what generate() conditions on: [prefix] + prompt
    assert ids[:n_prompt] == lm.document_ids(prompt) and mask[:n_prompt] == [0] * n_prompt
    assert ids[-1] == tokenizer.eos_token_id and all(mask[n_prompt:])
    assert tokenizer.decode(ids[n_prompt:-1]) == completion
    # GRPO's text prompt encodes to the same context
    assert tokenizer(policy_prompt(tokenizer, prompt))["input_ids"] == lm.document_ids(prompt)


def test_completion_only_loss_in_the_batch(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    """What TRL feeds the model: labels -100 on prompt and padding; the loss is the completion's CE."""
    cfg = PlanSFTConfig(**MICRO, format="plan", max_steps=1)
    ctx = _ctx(tmp_path, "mask", cfg, corpus, tokenizer)
    gold = make_plan_source("gold", {}).plans(corpus.train[:6], seed=0)
    train, dropped = build_dataset(tokenizer, gold, "plan", cfg.max_length)
    assert dropped == 0
    model = micro_model(len(tokenizer), n_positions=256)
    trainer = make_sft_trainer(model, tokenizer, train, cfg, ctx)
    batch = next(iter(trainer.get_train_dataloader()))
    labels, ids = batch["labels"], batch["input_ids"]
    prompts = {format_prompt(d.meta["question"]) for d in corpus.train[:6]}
    for row in range(ids.shape[0]):
        length = int(batch["attention_mask"][row].sum())
        seq = ids[row, :length].tolist()
        first = int((labels[row] != -100).nonzero()[0])
        assert (labels[row, :first] == -100).all()
        assert (
            seq[0] == tokenizer.eos_token_id and tokenizer.decode(seq[1:first]) in prompts
        )  # prefix + problem
        assert labels[row, first:length].tolist() == seq[first:]  # the whole completion, EOS included
        assert tokenizer.decode(seq[first:]).startswith("Plan:\n1. ") and seq[-1] == tokenizer.eos_token_id
        assert (labels[row, length:] == -100).all()  # padding
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=batch["attention_mask"], labels=labels)
        logits = model(input_ids=ids, attention_mask=batch["attention_mask"]).logits
    target = labels[:, 1:]
    keep = target != -100
    manual = torch.nn.functional.cross_entropy(logits[:, :-1][keep], target[keep])
    assert torch.allclose(out.loss, manual, atol=1e-5)


# -- plan sources -------------------------------------------------------------------------------------

GSM8K_SOLUTION = (
    "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
    "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10"
)


def test_gsm8k_plans_hand_written() -> None:
    assert gsm8k_plan(GSM8K_SOLUTION, "keep") == [
        "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.",
        "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.",
    ]
    assert gsm8k_plan(GSM8K_SOLUTION, "strip") == [
        "Weng earns 12/60 = $0.2 per minute.",
        "Working 50 minutes, she earned 0.2 x 50 = $10.",
    ]
    assert gsm8k_plan(GSM8K_SOLUTION, form="goal") == [
        "Weng earns 12/60 per minute.",
        "Working 50 minutes, she earned 0.2 x 50.",
    ]
    assert step_goal("He has <<3*4=12>>12 apples.") == "He has 3*4 apples."
    assert step_goal("So 5 + 3 = 8 apples.") == "So 5 + 3 apples."


def test_gsm8k_plans_on_shared_data() -> None:
    path = shared_file("gsm8k/train.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()[:200]]
    for r in records:
        body = r["answer"].rsplit("####", 1)[0]
        n_lines = len([line for line in body.split("\n") if line.strip()])
        kept, stripped = gsm8k_plan(r["answer"], "keep"), gsm8k_plan(r["answer"], "strip")
        assert len(kept) == len(stripped) == n_lines
        assert not any("<<" in s or ">>" in s for s in stripped)
        assert ("<<" in body) == any("<<" in s for s in kept)
        goals = gsm8k_plan(r["answer"], form="goal")
        assert goals and not any("<<" in g for g in goals)
    docs = [
        Document(
            f"d{i}",
            "",
            meta={
                "question": r["question"],
                "answer": "0",
                "plan": [],
                "execution": [],
                "reference": r["answer"],
            },
        )
        for i, r in enumerate(records[:5])
    ]
    result = make_plan_source("gsm8k", {"annotations": "strip"}).plans(docs, seed=0)
    assert [list(e.plan) for e in result.examples] == [gsm8k_plan(r["answer"]) for r in records[:5]]


def test_teacher_selection() -> None:
    good = "Plan:\n1. bags times apples\nSolution: 2 * 3 = 6\n#### 6"
    no_plan = "Solution: 2 * 3 = 6\n#### 6"
    wrong = "Plan:\n1. bags plus apples\nSolution: 2 + 3 = 5\n#### 5"
    assert select([wrong, no_plan, good, good], "6").index == 2
    assert select([wrong, no_plan, good, good], "6").n_verified == 2
    assert select([wrong, no_plan], "6").index is None
    assert select(["Plan:\n1. x\nSo it is 6."], "6").index == 0  # lenient by default: last number
    assert select(["Plan:\n1. x\nSo it is 6."], "6", require_marker=True).index is None


def test_teacher_best_of_n_mechanics(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    """A tiny local teacher by path: N samples per problem, the verifier applied, fallbacks recorded."""
    teacher_dir = tmp_path / "teacher"
    micro_model(len(tokenizer), n_positions=256).save_pretrained(teacher_dir)
    tokenizer.save_pretrained(teacher_dir)
    docs = corpus.train[:4]
    params = {"model": str(teacher_dir), "n": 3, "shots": 1, "max_new_tokens": 6, "temperature": 1.0}
    source = make_plan_source("teacher", params)
    assert isinstance(source, TeacherPlans)
    result = source.plans(docs, seed=0)
    s = result.stats
    assert s["problems"] == 3 and s["samples"] == 9 and s["shots"] == 1
    assert s["verified"] + s["fallback_gold"] == 3 and len(result.examples) == 4
    for record in s["records"]:
        assert record["samples"] == 3
        assert (record["chosen"] is None) == (record.get("fallback") == "gold")
    # the few-shot prompt shows the shot in the plan-tuned format and asks for a plan
    shot = MathExample.from_document(docs[0])
    prompt = few_shot_prompt([shot], "Q?")
    assert prompt.startswith("Problem: ") and "\n#### " in prompt and prompt.endswith("Problem: Q?\nPlan:\n")
    dropped = make_plan_source("teacher", {**params, "fallback": "drop"}).plans(docs, seed=0)
    assert len(dropped.examples) == 4 - dropped.stats["dropped"]
    assert dropped.stats["verified"] == s["verified"]  # same seed, same samples


# -- rewards ------------------------------------------------------------------------------------------


def test_answer_reward() -> None:
    comps = ["Solution: 2 * 3 = 6\n#### 6", "#### 6.00", "#### 7", "the answer is 6", "#### 1,000"]
    golds = ["6", "6", "6", "6", "1000"]
    assert answer_reward(comps, golds) == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert answer_reward(comps[3:4], ["6"], require_marker=False) == [1.0]
    assert is_correct("#### 5\n#### 6", "6")  # the last stated answer counts


def test_plan_reward_and_lambda() -> None:
    ref = ["apples = bags * apples per bag", "left = apples - eaten"]
    same = render_plan(ref) + "Solution: 2 * 3 = 6\n6 - 1 = 5\n#### 5"
    other = "Plan:\n1. pears = crates + pears\nSolution: 2 + 3 = 5\n#### 5"
    none = "Solution: 2 * 3 = 6\n#### 5"
    for sim in ("rouge_l", "token_sort", "token_set"):
        r = make_plan_reward(sim)([same, other, none], plan=[ref, ref, ref])
        assert r[0] == pytest.approx(1.0) and 0 <= r[1] < r[0] and r[2] == 0.0
    assert total_reward(same, "5", ref, plan_weight=0.5) == pytest.approx(1.5)
    assert total_reward(none, "5", ref, plan_weight=0.5) == pytest.approx(1.0)
    assert total_reward(other, "6", ref, plan_weight=0.0) == 0.0
    partial = total_reward(other, "5", ref, plan_weight=0.5)
    assert partial == pytest.approx(1 + 0.5 * plan_similarity(("pears = crates + pears",), ref, "rouge_l"))
    # token_set is lenient: a subset plan scores 1 (why rouge_l is the default)
    assert (
        plan_similarity(["apples = bags"], ref, "token_set")
        == 1.0
        > plan_similarity(["apples = bags"], ref, "rouge_l")
    )
    funcs, weights = reward_functions(PlanGRPOConfig(plan_weight=0.3))
    assert len(funcs) == 2 and weights == [1.0, 0.3]
    assert reward_functions(PlanGRPOConfig())[1] == [1.0]


# -- the two-stage adapter ------------------------------------------------------------------------------


def test_two_stage_generation(tokenizer, monkeypatch) -> None:
    lm = TwoStageLM(micro_model(len(tokenizer), n_positions=128), tokenizer, "m2", plan_max_tokens=6)
    calls: list[dict] = []
    original = HFCausalLM.generate

    def spy(self, prompts, sampling, **kw):
        calls.append({"prompts": list(prompts), "sampling": sampling})
        return original(self, prompts, sampling, **kw)

    monkeypatch.setattr(HFCausalLM, "generate", spy)
    prompts = ["Problem: Mia has 2 bags.\n", "Problem: Sam has 3 jars of coins.\n"]
    gens = lm.generate(prompts, Sampling(max_new_tokens=10, temperature=0.0, stop=["\n\n"]))
    assert len(calls) == 2
    stage1, stage2 = calls
    assert stage1["prompts"] == prompts and stage1["sampling"].max_new_tokens == 6
    assert stage1["sampling"].stop == ("\n\n", "Solution:") and stage1["sampling"].stop_at_eos
    assert stage2["sampling"].seed == stage1["sampling"].seed + 1 and stage2["sampling"].stop == ("\n\n",)
    assert stage2["prompts"] == [p + g.meta["plan"] + "Solution:" for p, g in zip(prompts, gens, strict=True)]
    for g in gens:
        assert g.meta["stages"] == 2 and g.text.startswith(g.meta["plan"] + "Solution:")
        assert g.meta["plan"] == "" or g.meta["plan"].endswith("\n")
        assert len(g.token_ids) <= 10  # one budget for both stages
    again = lm.generate(prompts, Sampling(max_new_tokens=10, temperature=0.0, stop=["\n\n"]))
    assert [g.text for g in again] == [g.text for g in gens]


# -- training runs ----------------------------------------------------------------------------------------


def test_sft_lowers_loss_and_loads(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    cfg = PlanSFTConfig(**MICRO, format="plan", max_steps=12, checkpoint_every=6, eval_docs=4)
    ctx = _ctx(tmp_path, "m1", cfg, corpus, tokenizer)
    PlanSFTTrainer().train(ctx)
    summary = json.loads((ctx.out_dir / "training.json").read_text())
    curve = [loss for _, loss in summary["train_loss"]]
    assert len(curve) == 12 and sum(curve[-3:]) / 3 < sum(curve[:3]) / 3
    assert summary["format"] == "plan" and summary["plans"]["source"] == "gold" and summary["val_loss"] > 0
    assert summary["optimizer_steps"] == 12 and summary["input_tokens_seen"] > 12 * MICRO["batch_size"]
    assert (ctx.out_dir / "model" / "model.safetensors").is_file()
    assert (ctx.checkpoint_dir / "checkpoint-6").is_dir()  # TRL's resumable checkpoints
    lm = PlanSFTTrainer().load(ctx.out_dir, "m1")
    assert type(lm) is HFCausalLM
    gen = lm.generate(["Problem: x\n"], Sampling(max_new_tokens=4, temperature=0.0))
    assert len(gen) == 1


def test_two_stage_artifact_loads_as_m2(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    cfg = PlanSFTConfig(**MICRO, format="two-stage", max_steps=2, plan_max_tokens=7, eval_docs=0)
    ctx = _ctx(tmp_path, "m2", cfg, corpus, tokenizer)
    PlanSFTTrainer().train(ctx)
    summary = json.loads((ctx.out_dir / "training.json").read_text())
    assert summary["rows"] == 2 * len(corpus.train)
    lm = PlanSFTTrainer().load(ctx.out_dir, "m2")
    assert isinstance(lm, TwoStageLM) and lm.plan_max_tokens == 7


def test_grpo_requires_sft_and_runs(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    trainer = PlanGRPOTrainer()
    assert trainer.requires(PlanGRPOConfig()) == {"weights": Requirement(variant="plan-m1")}
    sft_cfg = PlanSFTConfig(**MICRO, format="plan", max_steps=2, eval_docs=0)
    sft_ctx = _ctx(tmp_path, "sft", sft_cfg, corpus, tokenizer)
    PlanSFTTrainer().train(sft_ctx)
    cfg = PlanGRPOConfig(
        plan_weight=0.5,
        batch_size=4,
        num_generations=2,
        max_steps=2,
        max_completion_length=8,
        max_train_docs=8,
        checkpoint_every=1,
        logging_steps=1,
    )
    ctx = _ctx(
        tmp_path, "grpo", cfg, corpus, tokenizer, inputs={"weights": sft_ctx.out_dir}, trainer="plan-grpo"
    )
    trainer.train(ctx)
    summary = json.loads((ctx.out_dir / "training.json").read_text())
    assert summary["started_from"] == "variant:plan-m1" and summary["reward_weights"] == [1.0, 0.5]
    assert any(k.startswith("rewards/") for k in summary["logs"])
    assert len(summary["logs"]["reward"]) == 2
    assert type(trainer.load(ctx.out_dir, "g")) is HFCausalLM


def test_grpo_shares_the_sft_stage() -> None:
    """The runner builds plan-m1 once and feeds it to both GRPO variants (same requirement key)."""
    suite = SuiteSpec(
        name="t",
        corpus=CorpusSpec(source="arithmetic", params={"n_problems": 50}),
        variants=["plan-m1", "grpo-ans", "grpo-plan"],
        tasks=[TaskSpec(name="perplexity", params={"mode": "rolling"})],
    )
    plan = plan_suite(suite)
    by_name = {m.variant.name: m for m in plan.models}
    sft_key = by_name["plan-m1"].key
    assert (
        by_name["grpo-ans"].requires["weights"].key == sft_key == by_name["grpo-plan"].requires["weights"].key
    )
    assert by_name["grpo-ans"].key != by_name["grpo-plan"].key


def test_sft_resumes_after_a_kill(tmp_path: Path, corpus: Corpus, tokenizer) -> None:
    """Killed after TRL's checkpoint at step 3, the run resumes there and ends where an uninterrupted
    run ends (weights, optimizer, scheduler, RNG and data position come back)."""
    cfg = PlanSFTConfig(**MICRO, format="solution", max_steps=6, checkpoint_every=3, eval_docs=0)
    full = _ctx(tmp_path, "full", cfg, corpus, tokenizer)
    PlanSFTTrainer().train(full)
    killed = _ctx(tmp_path, "killed", cfg, corpus, tokenizer)
    with pytest.raises(TrainingInterrupted):
        PlanSFTTrainer(stop_after=3).train(killed)
    assert (killed.checkpoint_dir / "checkpoint-3").is_dir() and not (killed.out_dir / "model").exists()
    assert (killed.checkpoint_dir / "plans.json").is_file()  # the tuples are kept for the resumed run
    messages: list[str] = []
    killed.log = messages.append
    PlanSFTTrainer().train(killed)
    assert any("reusing the" in m for m in messages)
    assert json.loads((killed.out_dir / "training.json").read_text())["resumed_from"] == "checkpoint-3"
    a = load_file(str(full.out_dir / "model" / "model.safetensors"))
    b = load_file(str(killed.out_dir / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
