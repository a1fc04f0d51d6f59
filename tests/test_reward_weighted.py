"""The reward-weighted family's maths (docs/families/reward_weighted.md): ListMLE, aggregations, WMLE,
REINFORCE, bounds, tie-breaking, the retrain schedule and the sequence metrics. Pure tensors and micro
models: fast."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from _models import micro_model, tiny_tokenizer

from harness.sampling import Sampling
from trainers.reward_weighted.data import make_batch
from trainers.reward_weighted.losses import (
    aggregate,
    bradley_terry_loss,
    listmle_loss,
    pairwise_accuracy,
    ranking_order,
    reinforce_loss,
    returns_to_go,
    token_nll,
    wmle_loss,
    wmle_weights,
)
from trainers.reward_weighted.metrics import SEQUENCE_METRICS, score_sequences
from trainers.reward_weighted.policy import reinforce_step_loss, supervised_loss
from trainers.reward_weighted.preferences import (
    CandidateSampling,
    PreferenceBatch,
    preference_loss,
    sample_candidates,
)
from trainers.reward_weighted.reward_model import TokenRewardModel, bound_rewards, build_body
from trainers.reward_weighted.schedule import RetrainSchedule, period_in_steps
from trainers.weights import Weights


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny matmuls on a loaded 2-core machine are ~100× slower with two OpenMP threads (spin waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _candidates(n: int, temperature: float = 1.0) -> CandidateSampling:
    """``n`` new tokens at ``temperature``, end-of-text suppressed (the candidates' default)."""
    return CandidateSampling(Sampling(max_new_tokens=n, temperature=temperature, stop_at_eos=False))


def _mask(lengths: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([[[1.0] * n + [0.0] * (width - n) for n in row] for row in lengths])


# -- ListMLE ---------------------------------------------------------------------------------------


def test_k2_sum_is_bradley_terry() -> None:
    """K = 2 with sum aggregation: the Plackett–Luce loss is exactly -log σ(e_better - e_worse)."""
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(6, 2, 9, generator=g) * 0.9 + 0.05
    mask = _mask([[9, 4], [3, 7], [5, 5], [1, 9], [8, 2], [6, 6]], 9)
    targets = torch.tensor([[0.7, 0.2], [0.1, 0.9], [0.5, 0.4], [0.0, 0.3], [0.8, 0.6], [0.2, 0.25]])
    e = aggregate(rewards, mask, "sum")
    better = torch.where(targets[:, 0] > targets[:, 1], e[:, 0], e[:, 1])
    worse = torch.where(targets[:, 0] > targets[:, 1], e[:, 1], e[:, 0])
    expected = bradley_terry_loss(better, worse)
    assert torch.allclose(listmle_loss(e, targets), expected, atol=1e-6)
    # and the reference formula, written out: log(exp(e_b) + exp(e_w)) - e_b
    by_hand = (torch.logaddexp(better, worse) - better).mean()
    assert torch.allclose(expected, by_hand, atol=1e-6)


def test_listmle_matches_plackett_luce_by_hand() -> None:
    e = torch.tensor([[0.3, 1.2, -0.4]])
    targets = torch.tensor([[0.5, 0.9, 0.1]])  # ranking: 1, 0, 2
    ranked = [1.2, 0.3, -0.4]
    by_hand = sum(math.log(sum(math.exp(x) for x in ranked[k:])) - ranked[k] for k in range(3))
    assert listmle_loss(e, targets).item() == pytest.approx(by_hand, abs=1e-6)


def test_loss_is_minimised_by_the_true_ordering() -> None:
    """Of all ways to hand a set of evaluations to the K candidates, the one that orders them like the
    metric has the smallest loss; and gradient descent on free evaluations recovers the ordering."""
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        values = torch.randn(4, generator=g)
        targets = torch.rand(1, 4, generator=g)
        losses = {
            perm: listmle_loss(values[list(perm)][None], targets).item()
            for perm in itertools.permutations(range(4))
        }
        best = min(losses, key=losses.get)
        assigned = values[list(best)]
        assert torch.equal(
            torch.argsort(assigned, descending=True), torch.argsort(targets[0], descending=True)
        )
    e = torch.zeros(3, 5, requires_grad=True)
    targets = torch.rand(3, 5, generator=g)
    opt = torch.optim.SGD([e], lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        listmle_loss(e, targets).backward()
        opt.step()
    assert torch.equal(torch.argsort(e.detach(), dim=1), torch.argsort(targets, dim=1))


def test_random_tie_breaking() -> None:
    """Tied candidates are ranked in random order (each tie first about equally often); untied ones are
    always ranked by target."""
    targets = torch.tensor([[0.5, 0.9, 0.5, 0.5, 0.1]])
    firsts_among_ties = []
    for s in range(400):
        order = ranking_order(targets, torch.Generator().manual_seed(s))[0].tolist()
        assert order[0] == 1 and order[-1] == 4  # the untied best and worst never move
        assert sorted(order[1:4]) == [0, 2, 3]
        firsts_among_ties.append(order[1])
    counts = [firsts_among_ties.count(i) for i in (0, 2, 3)]
    assert min(counts) > 90, counts  # ~133 each
    # the loss itself depends on the draw when tied candidates have different evaluations
    e = torch.tensor([[0.0, 1.0, 2.0, 3.0, 0.0]])
    values = {listmle_loss(e, targets, torch.Generator().manual_seed(s)).item() for s in range(20)}
    assert len(values) > 1


# -- aggregations ----------------------------------------------------------------------------------


def test_length_bias_example() -> None:
    """The paper's example: a longer sequence of smaller rewards vs a shorter one of larger rewards. Sum
    prefers the long one; avg (× mean length) prefers the short one; both are on the same scale."""
    width = 10
    rewards = torch.zeros(1, 2, width)
    rewards[0, 0, :10] = 0.3  # long: 10 tokens of 0.3 (sum 3.0, mean 0.3)
    rewards[0, 1, :4] = 0.6  # short: 4 tokens of 0.6 (sum 2.4, mean 0.6)
    mask = _mask([[10, 4]], width)
    e_sum = aggregate(rewards, mask, "sum")[0]
    e_avg = aggregate(rewards, mask, "avg")[0]
    assert e_sum[0] > e_sum[1]
    assert e_avg[1] > e_avg[0]
    assert e_avg.tolist() == pytest.approx([0.3 * 7, 0.6 * 7])  # L̄ = 7
    # soft max / min with β = 2 (large next to rewards in (0, 1]) carry a ±β·log T length term: soft-max
    # sides with the long candidate, soft-min with the short one
    e_max = aggregate(rewards, mask, "max", beta=2.0)[0]
    e_min = aggregate(rewards, mask, "min", beta=2.0)[0]
    assert e_max.tolist() == pytest.approx(
        [7 * 2 * (math.log(10) + 0.15), 7 * 2 * (math.log(4) + 0.3)], rel=1e-5
    )
    assert e_max[0] > e_max[1] and e_min[1] > e_min[0]
    # if the metric prefers the short candidate, sum is the aggregation that fights it
    short_better = torch.tensor([[0.0, 1.0]])
    assert listmle_loss(e_sum[None], short_better) > listmle_loss(e_avg[None], short_better)


def test_soft_max_min_approach_hard_ones() -> None:
    r = torch.tensor([[[0.2, 0.9, 0.4, 0.0]]])
    m = _mask([[3]], 4)
    assert aggregate(r, m, "max", beta=1e-3).item() == pytest.approx(0.9 * 3, abs=1e-2)
    assert aggregate(r, m, "min", beta=1e-3).item() == pytest.approx(0.2 * 3, abs=1e-2)
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(r, m, "median")


# -- policy objectives -----------------------------------------------------------------------------


def test_wmle_weights_sum_to_one_per_sequence() -> None:
    g = torch.Generator().manual_seed(2)
    rewards = torch.rand(5, 12, generator=g) * 0.99 + 0.01
    mask = torch.zeros(5, 12)
    for i, (a, b) in enumerate([(0, 12), (3, 9), (5, 6), (1, 4), (7, 12)]):
        mask[i, a:b] = 1
    w = wmle_weights(rewards, mask)
    assert torch.allclose(w.sum(-1), torch.ones(5))
    assert torch.all(w[mask == 0] == 0)
    nll = torch.rand(5, 12, generator=g)
    # constant rewards: the per-sequence mean NLL, i.e. supervised MLE
    per_seq = (nll * mask).sum(-1) / mask.sum(-1)
    assert torch.allclose(wmle_loss(nll, mask, mask), per_seq.mean())


def test_returns_to_go() -> None:
    r = torch.tensor([[0.1, 0.2, 0.3, 0.9]])
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert returns_to_go(r, m).tolist()[0] == pytest.approx([0.6, 0.5, 0.3, 0.0])


def _models():
    tok = tiny_tokenizer()
    policy = micro_model(len(tok), seed=0).train()
    reward = TokenRewardModel(build_body(Weights("preset", "micro"), policy, tok), hidden=16).train()
    return tok, policy, reward


def test_gradients_reach_the_policy_only_through_its_log_probs() -> None:
    tok, policy, reward = _models()
    policy.eval()  # no dropout, so the two forward passes compared below are the same function
    batch = make_batch([[0, 5, 6, 7], [0, 9]], [[11, 12, 13], [14, 15, 16, 17, 18]], pad_id=0)
    loss, _ = supervised_loss(policy, batch, objective="wmle", reward_model=reward)
    loss.backward()
    assert all(p.grad is None for p in reward.parameters())  # the reward model is a constant here
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    # the gradient is that of Σ w·NLL with the weights as constants
    got = {n: p.grad.clone() for n, p in policy.named_parameters()}
    policy.zero_grad(set_to_none=True)
    with torch.no_grad():
        weights = wmle_weights(reward.eval()(batch.input_ids, batch.attention_mask), batch.scored)
    reward.train()
    logits = policy(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    ((weights * token_nll(logits, batch.input_ids)).sum(-1).mean()).backward()
    for n, p in policy.named_parameters():
        assert torch.allclose(p.grad, got[n], atol=1e-6), n
    # REINFORCE: the same holds
    policy.zero_grad(set_to_none=True)
    loss, stats = reinforce_step_loss(
        policy,
        reward,
        [[0, 5, 6], [0, 9, 10, 11]],
        samples=2,
        sampling=_candidates(4),
        tokenizer=tok,
        seed=0,
        alpha=0.01,
    )
    loss.backward()
    assert all(p.grad is None for p in reward.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert stats["entropy"] > 0


def test_reward_loss_leaves_the_policy_untouched() -> None:
    _, policy, reward = _models()
    sources = [[0, 5, 6, 7], [0, 9, 10]]
    cands = sample_candidates(policy, sources, 3, _candidates(5), eos_id=0, pad_id=0, seed=1)
    batch = make_batch([s for s in sources for _ in range(3)], cands, pad_id=0)
    prefs = PreferenceBatch(batch, torch.tensor([[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]), 3, [])
    rewards = reward(batch.input_ids, batch.attention_mask)
    loss, _ = preference_loss(rewards, prefs, level="token", aggregation="avg", beta=2.0)
    loss.backward()
    assert all(p.grad is None for p in policy.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in reward.parameters())


def test_reinforce_mean_baseline_cancels_a_constant_reward() -> None:
    """With a constant reward the centred REINFORCE weights are 0: no push on the sampled tokens (the
    paper's un-centred form would raise all of their log-probabilities)."""
    tok, policy, reward = _models()
    with torch.no_grad():
        reward.head[2].weight.zero_()  # every token gets sigmoid(bias): a constant
    kwargs = dict(samples=2, sampling=_candidates(4), tokenizer=tok, seed=0, alpha=0.0)
    loss, _ = reinforce_step_loss(policy, reward, [[0, 5, 6]], baseline="mean", **kwargs)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    loss, _ = reinforce_step_loss(policy, reward, [[0, 5, 6]], baseline="none", **kwargs)
    assert loss.item() > 0


def test_reinforce_loss_entropy_bonus_lowers_the_loss() -> None:
    nll = torch.tensor([[0.0, 1.0, 2.0]])
    w = torch.tensor([[0.0, 0.5, 0.5]])
    m = torch.tensor([[0.0, 1.0, 1.0]])
    h = torch.tensor([[0.0, 2.0, 2.0]])
    assert reinforce_loss(nll, w, m).item() == pytest.approx(0.75)
    assert reinforce_loss(nll, w, m, h, alpha=0.1).item() == pytest.approx(0.75 - 0.2)


# -- reward model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sigmoid", "softplus"])
def test_rewards_are_bounded_in_0_1(how: str) -> None:
    z = torch.tensor([-1e9, -1e4, -50.0, -3.0, 0.0, 0.5, 1.0, 3.0, 50.0, 1e4, 1e9, float("nan")])
    r = bound_rewards(z, how)
    assert torch.all(r > 0) and torch.all(r <= 1)
    assert torch.all(r[1:-1].diff() >= 0)  # monotone in z
    tok, policy, _ = _models()
    model = TokenRewardModel(build_body(Weights("preset", "micro"), policy, tok), hidden=8, bound=how)
    with torch.no_grad():
        model.head[2].bias.fill_(1e4)
        high = model(torch.tensor([[0, 5, 6]]), torch.ones(1, 3, dtype=torch.long))
        model.head[2].bias.fill_(-1e4)
        low = model(torch.tensor([[0, 5, 6]]), torch.ones(1, 3, dtype=torch.long))
    assert high.shape == (1, 3)
    assert torch.all(high <= 1) and torch.all(high > 0.99)
    assert torch.all(low > 0) and torch.all(low < 0.01)


def test_reward_model_round_trip(tmp_path) -> None:
    tok, policy, _ = _models()
    model = TokenRewardModel(build_body(None, policy, tok), hidden=8, bound="softplus").eval()
    ids, mask = torch.tensor([[0, 5, 6, 7]]), torch.ones(1, 4, dtype=torch.long)
    model.save(tmp_path)
    again = TokenRewardModel.load(tmp_path).eval()
    assert torch.allclose(model(ids, mask), again(ids, mask))
    assert (tmp_path / "head.safetensors").is_file() and (tmp_path / "body" / "model.safetensors").is_file()


def test_pairwise_accuracy() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    assert pairwise_accuracy(scores, torch.tensor([[0.1, 0.2, 0.3]])) == (3, 3)
    assert pairwise_accuracy(scores, torch.tensor([[0.3, 0.2, 0.1]])) == (0, 3)
    assert pairwise_accuracy(scores, torch.tensor([[0.5, 0.5, 0.9]])) == (2, 2)  # ties are not compared


# -- sampling --------------------------------------------------------------------------------------


def test_candidates_are_seeded_and_padding_free() -> None:
    _, policy, _ = _models()
    a, b = [0, *range(5, 20)], [0, 30, 31]
    s = _candidates(6)
    one = sample_candidates(policy, [a, b], 2, s, eos_id=0, pad_id=0, seed=7)
    assert one == sample_candidates(policy, [a, b], 2, s, eos_id=0, pad_id=0, seed=7)
    assert one != sample_candidates(policy, [a, b], 2, s, eos_id=0, pad_id=0, seed=8)
    assert all(len(c) == 6 and 0 not in c for c in one)  # end-of-text suppressed: fixed length
    greedy = _candidates(6, temperature=0.0)
    batched = sample_candidates(policy, [a, b], 1, greedy, eos_id=0, pad_id=0, seed=0)
    alone = [sample_candidates(policy, [x], 1, greedy, eos_id=0, pad_id=0, seed=0)[0] for x in (a, b)]
    assert batched == alone  # left padding does not change a row's continuation
    assert policy.training  # the mode is restored


def test_candidates_refuse_stop_strings() -> None:
    """Candidates end at end-of-text or their length; a stop string would be silently ignored."""
    with pytest.raises(ValueError, match="not at stop strings"):
        CandidateSampling(Sampling(max_new_tokens=4, stop=("\n",)))


# -- schedule --------------------------------------------------------------------------------------


def test_retrain_schedule_fires_exactly_and_only_in_the_first_half() -> None:
    sched = RetrainSchedule(max_steps=100, every=10)
    assert sched.steps() == [10, 20, 30, 40]
    assert sched.rounds() == [0, 10, 20, 30, 40]
    assert [s for s in range(0, 120) if sched.fires(s)] == [10, 20, 30, 40]
    for max_steps, every in [(7, 1), (10, 3), (41, 5), (40, 5), (3, 5), (1000, 37)]:
        steps = RetrainSchedule(max_steps, every).steps()
        assert all(2 * s < max_steps for s in steps)
        assert steps == [s for s in range(every, max_steps, every) if 2 * s < max_steps]
    assert RetrainSchedule(100, None).steps() == []
    assert period_in_steps(0.5, 205) == 102 and period_in_steps(0.5, 1) == 1


# -- metrics ---------------------------------------------------------------------------------------


class _Tagger:
    """Stands in for harness.actions.ActionTagger: one action per sentence, by its first word."""

    def tag(self, texts):
        return [[hash(s.split()[0]) % 7 for s in t.split(".") if s.strip()] for t in texts]


def test_sequence_metrics() -> None:
    assert {"rouge1", "rouge2", "rougeL", "exact_match", "action_edit"} <= set(SEQUENCE_METRICS.names())
    refs = ["the cat sat on the mat"] * 3
    preds = ["the cat sat on the mat", "the cat sat", "a dog ran"]
    rl = score_sequences("rougeL", preds, refs)
    assert rl[0] == pytest.approx(1.0) and rl[0] > rl[1] > rl[2] == 0.0
    assert score_sequences("exact_match", [" the cat  sat ", "the cat"], ["the cat sat"] * 2) == [1.0, 0.0]
    with pytest.raises(ValueError, match="writing actions"):
        score_sequences("action_edit", preds, refs)
    edit = score_sequences(
        "action_edit", ["Alpha x. Beta y.", "Gamma z."], ["Alpha q. Beta r."] * 2, _Tagger()
    )
    assert edit[0] == 1.0 and edit[1] < 1.0
