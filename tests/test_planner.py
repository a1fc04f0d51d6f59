"""The planner family's mechanics (docs/actions.md, docs/families/planner.md) on micro models: selection
modes, the conditioning hooks, token alignment, when gradients reach the planner, re-planning during
generation, and the same adapter on Llama- and OLMo-architecture models built from config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _models import micro_model, tiny_tokenizer
from transformers import LlamaConfig, LlamaForCausalLM, Olmo2Config, Olmo2ForCausalLM

from harness.catalog import include_dir, resolve_suite
from harness.runner import plan_suite
from harness.sampling import Sampling
from trainers.planner.adapter import PlannerLM, ends_sentence
from trainers.planner.alignment import align
from trainers.planner.data import Example, sample_batch
from trainers.planner.model import PlannedLM
from trainers.planner.modules import ActionConditioner, conditioned_layers, output_projections, select
from trainers.planner.trainer import PlannerConfig, PlannerTrainer

K, D_ENC = 6, 16
DATA = Path(__file__).parent / "data" / "planner"


def _centroids(seed: int = 0) -> torch.Tensor:
    return torch.randn(K, D_ENC, generator=torch.Generator().manual_seed(seed))


def _planned(lm: torch.nn.Module | None = None, **kw) -> PlannedLM:
    torch.manual_seed(0)
    lm = lm or micro_model(len(tiny_tokenizer()))
    return PlannedLM.build(lm, _centroids(), "all", "unused-encoder", planner={"max_sentences": 8}, **kw)


# -- selection -----------------------------------------------------------------------------------


def test_straight_through_is_hard_forward_and_soft_backward() -> None:
    logits = torch.randn(5, K, requires_grad=True)
    probe = torch.randn(5, K)
    st = select(logits, "st", 0.7)
    assert torch.equal(st.detach(), select(logits, "hard"))
    (g_st,) = torch.autograd.grad((st * probe).sum(), logits)
    (g_soft,) = torch.autograd.grad((select(logits, "soft", 0.7) * probe).sum(), logits)
    assert torch.allclose(g_st, g_soft)


def test_uniform_is_the_codebook_mean_and_soft_respects_temperature() -> None:
    logits = torch.randn(3, K)
    codebook = _centroids()
    assert torch.allclose(select(logits, "uniform") @ codebook, codebook.mean(0).expand(3, -1), atol=1e-6)
    sharp = select(logits, "soft", 1e-4)
    assert torch.allclose(sharp, select(logits, "hard"), atol=1e-3)
    with pytest.raises(ValueError, match="valid: hard, soft, st, uniform"):
        select(logits, "gumbel")


# -- conditioning --------------------------------------------------------------------------------


def test_zero_projection_leaves_the_base_logits_unchanged() -> None:
    lm = micro_model(len(tiny_tokenizer()))
    ids = torch.randint(0, 400, (2, 12), generator=torch.Generator().manual_seed(1))
    base = lm(input_ids=ids).logits
    cond = ActionConditioner(lm, _centroids(), [0, 1])
    for proj in cond.projs.values():
        torch.nn.init.zeros_(proj.weight)
    cond.weights = torch.softmax(torch.randn(2, 12, K), -1)
    assert torch.equal(lm(input_ids=ids).logits, base)
    torch.nn.init.normal_(cond.projs["1"].weight)
    assert not torch.allclose(lm(input_ids=ids).logits, base)
    cond.weights = None
    assert torch.equal(lm(input_ids=ids).logits, base)  # unconditioned again
    cond.remove()


def test_conditioned_layers_follow_the_paper() -> None:
    assert conditioned_layers(12, "last-2") == list(range(2, 12))  # the last n-2 layers
    assert conditioned_layers(4, "last-2") == [2, 3]
    assert conditioned_layers(2, "all") == [0, 1]
    with pytest.raises(ValueError, match="out of range"):
        conditioned_layers(2, [5])


def test_token_alignment_last_token_of_a_sentence_carries_the_next_action() -> None:
    tok = tiny_tokenizer()
    sentences = ["The river walks.", "A stone reads quickly!", "Finally the city."]
    text = " ".join(sentences)
    a = align(text, sentences, tok, tok.eos_token_id)
    pieces = [tok.decode([i]) for i in a.ids[1:]]
    own, at = [], 0
    for p in pieces:  # the sentence each text token belongs to, by hand
        own.append(min(at, 2))
        if p.strip().endswith((".", "!")):
            at += 1
    # position t is conditioned on the sentence of token t+1; the very last on "the next one"
    expected = [*own, 3]
    assert a.plan_index.tolist() == expected
    ends = [i for i, p in enumerate(pieces) if p.strip().endswith((".", "!"))]
    for e in ends[:-1]:
        assert a.plan_index[e + 1] == own[e] + 1  # the sentence-final token carries the next action
        assert a.plan_index[e] == own[e]  # the token before it still carries its own sentence


# -- gradients and schedules ---------------------------------------------------------------------


def _examples(n: int = 6) -> list[Example]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        s = int(rng.integers(2, 5))
        ids = rng.integers(1, 400, size=40)
        plan = np.minimum(np.arange(40) // 10, s)
        out.append(Example(ids, plan, torch.randn(s, D_ENC), torch.from_numpy(rng.integers(0, K, size=s))))
    return out


def _planner_grad(cfg: PlannerConfig, step: int) -> bool:
    model = _planned(selection=cfg.selection)
    trainer = PlannerTrainer()
    for p in model.lm.parameters():
        p.requires_grad_(False)
    trainer.set_planner_trainable(model, cfg, step)
    batch = sample_batch(_examples(), 4, 16, (0, 0, step))
    loss, _ = trainer.loss(model, cfg, batch, step, seed=0)
    loss.backward()
    assert all(p.grad is None for p in model.lm.parameters())  # the base LM stays frozen
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.conditioner.parameters())
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.planner.parameters())


@pytest.mark.parametrize("selection", ["soft", "st"])
def test_planner_gets_gradients_exactly_from_the_unfreeze_step(selection: str) -> None:
    halfway = PlannerConfig(selection=selection, unfreeze="halfway", max_steps=10)
    assert halfway.unfreeze_step() == 5
    assert not _planner_grad(halfway, 4)
    assert _planner_grad(halfway, 5)
    assert _planner_grad(PlannerConfig(selection=selection, unfreeze="immediate", max_steps=10), 0)
    assert not _planner_grad(PlannerConfig(selection=selection, unfreeze="never", max_steps=10), 9)


@pytest.mark.parametrize(
    "params",
    [
        {"train_actions": "oracle", "eval_actions": "oracle"},  # OA
        {"train_actions": "predicted", "selection": "hard"},  # PA
    ],
)
def test_oracle_and_predicted_action_variants_never_train_the_planner(params: dict) -> None:
    cfg = PlannerConfig(max_steps=10, **params)
    assert not any(_planner_grad(cfg, s) for s in (0, 5, 9))


def test_hard_selection_cannot_be_unfrozen_and_nap_loss_needs_a_schedule() -> None:
    with pytest.raises(ValueError, match="passes no gradient"):
        PlannerConfig(selection="hard", unfreeze="immediate")
    with pytest.raises(ValueError, match="unfreeze schedule"):
        PlannerConfig(selection="soft", nap_weight=0.5)


def test_nap_loss_joins_the_objective_with_its_weight() -> None:
    model = _planned(selection="soft")
    trainer = PlannerTrainer()
    batch = sample_batch(_examples(), 4, 16, (0, 0, 0))
    cfg = PlannerConfig(selection="soft", unfreeze="immediate", nap_weight=0.5)
    total, parts = trainer.loss(model, cfg, batch, 0, seed=0)
    assert total.item() == pytest.approx(parts["lm"] + 0.5 * parts["nap"], rel=1e-5)


def _long_examples(n: int = 5, sentences: int = 30, tokens: int = 240) -> list[Example]:
    """Articles much longer than a training window (WikiText's run to hundreds of sentences)."""
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        ids = rng.integers(1, 400, size=tokens)
        plan = np.minimum(np.arange(tokens) // 8, sentences)
        acts = torch.from_numpy(rng.integers(0, K, size=sentences))
        out.append(Example(ids, plan, torch.randn(sentences, D_ENC), acts))
    return out


def _whole_document_weights(
    model: PlannedLM, cfg: PlannerConfig, batch, step: int, seed: int
) -> torch.Tensor:
    """The weights as computed before windows: every sentence of every row's document planned."""
    from trainers.planner.data import token_weights

    q = cfg.q(step)
    logits = model.planner.plan_documents([ex.embeddings for ex in batch.docs])
    rng = np.random.default_rng([seed, 2, step])
    per_doc = []
    for i, ex in enumerate(batch.docs):
        oracle = model.oracle_weights(ex.actions)
        predicted = model.sentence_weights(logits[i])
        if q >= 1.0:
            per_doc.append(predicted)
            continue
        use = torch.from_numpy(rng.random(len(oracle)) < q)[:, None]
        per_doc.append(torch.where(use, predicted, oracle))
    return token_weights(per_doc, batch.plan_index)


@pytest.mark.parametrize(
    "params",
    [
        {"selection": "soft", "unfreeze": "immediate"},
        {"selection": "hard"},
        {"selection": "st", "unfreeze": "halfway", "train_actions": "mix", "predicted_fraction": 0.5},
    ],
)
def test_a_window_plans_only_its_sentences_and_gets_the_whole_document_weights(params: dict) -> None:
    model = _planned(selection=params["selection"])
    cfg = PlannerConfig(max_steps=10, **params)
    batch = sample_batch(_long_examples(), 4, 16, (0, 0, 3))
    spans = batch.spans()
    assert all(hi - lo + 1 <= 4 for lo, hi in spans), spans  # 16 tokens read 2-3 of 30 sentences
    got, _ = PlannerTrainer().weights(model, cfg, batch, 3, seed=0)
    want = _whole_document_weights(model, cfg, batch, 3, seed=0)
    scored = batch.targets != -100
    torch.testing.assert_close(got[scored], want[scored], rtol=0, atol=1e-6)
    # and the loss the step trains on is the same
    total, _ = PlannerTrainer().loss(model, cfg, batch, 3, seed=0)
    logits = model(batch.input_ids, want, use_cache=False).logits
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=-100)
    assert total.item() == pytest.approx(ref.item(), rel=1e-6)


def test_the_nap_loss_still_reads_every_sentence() -> None:
    model = _planned(selection="soft")
    batch = sample_batch(_long_examples(), 4, 16, (0, 0, 0))
    cfg = PlannerConfig(selection="soft", unfreeze="immediate", nap_weight=0.5)
    _, nap = PlannerTrainer().weights(model, cfg, batch, 0, seed=0)
    logits = model.planner.plan_documents([ex.embeddings for ex in batch.docs])
    pred = torch.cat([lg[:-1] for lg in logits])
    want = torch.nn.functional.cross_entropy(pred, torch.cat([ex.actions for ex in batch.docs]))
    assert nap.item() == pytest.approx(want.item(), rel=1e-6)


def test_mixing_fraction_and_scheduled_sampling() -> None:
    assert PlannerConfig(train_actions="oracle").q(3) == 0.0
    assert PlannerConfig(train_actions="mix", predicted_fraction=0.25).q(7) == 0.25
    sched = PlannerConfig(train_actions="scheduled", max_steps=11)
    assert [sched.q(s) for s in (0, 5, 10)] == [0.0, 0.5, 1.0]


# -- the adapter ---------------------------------------------------------------------------------


class _FakeEmbedder:
    """Deterministic sentence vectors (the real encoder is tested in test_actions.py)."""

    def __call__(self, sentences, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(sentences), D_ENC), np.float32)
        for i, s in enumerate(sentences):
            rng = np.random.default_rng(sum(map(ord, s)))
            out[i] = rng.standard_normal(D_ENC)
        return out


def _adapter(lm: torch.nn.Module | None = None, **kw) -> PlannerLM:
    model = _planned(lm, **kw)
    adapter = PlannerLM(model, tiny_tokenizer(), "test", batch_size=3)
    adapter.embedder = _FakeEmbedder()
    return adapter


def test_generation_replans_exactly_once_per_sentence() -> None:
    lm = _adapter()
    prompts = ["The river walks. A stone reads quickly.", "", "First the plan"]
    gens = lm.generate(prompts, Sampling(max_new_tokens=60, seed=3, stop_at_eos=False))
    for g in gens:
        pieces = [lm.tokenizer.decode(g.token_ids[: i + 1]) for i in range(len(g.token_ids))]
        ends, current = 0, []
        for tok in g.token_ids:
            current.append(tok)
            if ends_sentence(lm.tokenizer.decode(current)):
                ends += 1
                current = []
        assert g.meta["plan_calls"] == ends + 1  # one plan at the start, one per finished sentence
        assert len(g.plans) == ends + (1 if current else 0)  # one planned action per generated sentence
        assert all(0 <= a < K for a in g.plans)
        assert len(pieces) == 60
    # seeded: the same call gives the same text; batching does not change a row
    again = lm.generate(prompts, Sampling(max_new_tokens=60, seed=3, stop_at_eos=False))
    assert [g.token_ids for g in again] == [g.token_ids for g in gens]
    alone = lm.generate(prompts[1:2], Sampling(max_new_tokens=60, seed=3, stop_at_eos=False))
    assert alone[0].token_ids != [] and len(alone[0].token_ids) == 60


def test_generation_slides_past_the_context_and_matches_scoring() -> None:
    lm = _adapter()
    long = Sampling(max_new_tokens=150, seed=0, stop_at_eos=False)  # the micro context is 64
    gens = lm.generate(["The river walks."], long)
    assert len(gens[0].token_ids) == 150
    # greedy decoding picks, at every step, the argmax of the same conditioned model that scores
    greedy = Sampling(max_new_tokens=20, temperature=0, stop_at_eos=False)
    greedy = lm.generate(["The river walks."], greedy)[0]
    text = "The river walks." + lm.tokenizer.decode(greedy.token_ids)
    ids, _ = lm.document_plan(text, oracle=False)
    scores = lm.token_logprobs([text], mode="rolling")
    assert len(scores[0]) == len(ids) - 1


def test_scoring_conditions_on_plans_from_preceding_sentences_only() -> None:
    lm = _adapter()
    base_text = "The river walks. A stone reads quickly."
    a = lm.token_logprobs([base_text + " Finally the city."], mode="rolling")[0]
    b = lm.token_logprobs([base_text + " However two people."], mode="rolling")[0]
    n_shared = len(lm.encode(base_text))
    # changing the last sentence cannot change the plans (or scores) of the tokens before it, except
    # the sentence-final token of the prefix, which already carries the (same) next plan
    assert np.allclose(a[:n_shared], b[:n_shared])


def test_hidden_sites_pre_and_post_merge() -> None:
    lm = _adapter()
    sites = lm.hidden_sites()
    assert "layer1.pre_merge" in sites and "layer1.post_merge" in sites and "layer0.resid" in sites
    out = lm.hidden_states(["The river walks. A stone reads."], ["layer1.pre_merge", "layer1.post_merge"])
    pre, post = out["layer1.pre_merge"][0], out["layer1.post_merge"][0]
    assert pre.shape == post.shape and pre.shape[1] == 32
    assert not np.allclose(pre, post)  # the plan embedding was added


@pytest.mark.parametrize(
    "build",
    [
        lambda: LlamaForCausalLM(
            LlamaConfig(
                vocab_size=400,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=3,
                num_attention_heads=4,
                num_key_value_heads=2,
                max_position_embeddings=64,
            )
        ),
        lambda: Olmo2ForCausalLM(
            Olmo2Config(
                vocab_size=400,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=3,
                num_attention_heads=4,
                num_key_value_heads=4,
                max_position_embeddings=64,
                pad_token_id=0,
                bos_token_id=0,
                eos_token_id=0,
            )
        ),
    ],
    ids=["llama", "olmo2"],
)
def test_the_adapter_hooks_llama_and_olmo_attention(build) -> None:
    torch.manual_seed(0)
    lm = build().eval()
    assert sorted(output_projections(lm)) == [0, 1, 2]
    ids = torch.randint(0, 400, (1, 10))
    base = lm(input_ids=ids).logits
    planned = PlannedLM.build(lm, _centroids(), "last-2", "unused", planner={"max_sentences": 8})
    assert planned.spec.layers == [2]  # 3 layers: the last n-2
    torch.nn.init.zeros_(planned.conditioner.projs["2"].weight)
    assert torch.allclose(planned(ids, torch.full((1, 10, K), 1 / K)).logits, base, atol=1e-6)
    adapter = PlannerLM(planned, tiny_tokenizer(), "test", batch_size=2)
    adapter.embedder = _FakeEmbedder()
    torch.nn.init.normal_(planned.conditioner.projs["2"].weight)
    gens = adapter.generate(
        ["The river walks.", "A stone"], Sampling(max_new_tokens=12, seed=0, stop_at_eos=False)
    )
    assert [len(g.token_ids) for g in gens] == [12, 12]
    assert adapter.token_logprobs(["The river walks. A stone reads."])[0].shape[0] > 0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _planned(selection="soft")
    model.save(tmp_path, tiny_tokenizer())
    loaded, _ = PlannedLM.load(tmp_path)
    ids = torch.randint(0, 400, (1, 9))
    w = torch.softmax(torch.randn(1, 9, K), -1)
    with torch.no_grad():
        assert torch.allclose(model.eval()(ids, w).logits, loaded(ids, w).logits, atol=1e-6)
    assert loaded.spec.selection == "soft"
    assert list((tmp_path / "model").glob("*.safetensors"))


# -- planning: shared requirements ---------------------------------------------------------------


def test_variants_share_the_base_lm_and_the_pretrained_planner() -> None:
    include_dir(DATA)
    suite, source = resolve_suite("micro-planner")
    plan = plan_suite(suite, source)
    by_name = {m.variant.name: m for m in plan.models}
    oa, soft, only = by_name["micro-oa"], by_name["micro-soft"], by_name["micro-lm-only"]
    assert oa.requires["weights"].key == soft.requires["weights"].key == only.requires["weights"].key
    assert oa.requires["planner"].key == soft.requires["planner"].key
    assert "planner" not in only.requires  # the LM-only row needs no planner
    assert set(plan.artifacts) == {"actions"} and oa.key != soft.key
