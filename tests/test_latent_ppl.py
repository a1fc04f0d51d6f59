"""Latent perplexity: the bigram critic against hand-computed values and its δ choice, the HMM critic
against a known HMM's entropy rate, caching of fitted critics, and the task end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from _tagger import micro_lm, planted_tagger, single_thread, synthetic_corpus  # noqa: F401
from pydantic import ValidationError

from harness.cache import Cache
from tasks import critics
from tasks.base import TASKS, TaskContext
from tasks.critics import BigramCritic, HMMCritic, fit_cached
from tasks.latent_ppl import LatentPerplexity, LatentPplParams

# -- bigram ----------------------------------------------------------------------------------------


def test_bigram_hand_computed() -> None:
    """K=2, train [[0, 1], [0]], δ=0.5; targets are {0, 1, <eos>} so each row adds 3δ.
    Counts: <bos>→0: 2; 0→1: 1; 0→<eos>: 1; 1→<eos>: 1.
    [1, 0]: P(1|<bos>) = .5/3.5, P(0|1) = .5/2.5, P(<eos>|0) = 1.5/3.5 → 3/245 over 3 transitions.
    [0, 1]: 2.5/3.5 · 1.5/3.5 · 1.5/2.5 = 9/49."""
    critic = BigramCritic.fit([[0, 1], [0]], n_actions=2, deltas=[0.5])
    assert critic.delta == 0.5
    (lp1, n1), (lp2, n2) = critic.score([[1, 0], [0, 1]])
    assert (n1, n2) == (3, 3)
    assert lp1 == pytest.approx(math.log(3 / 245), rel=1e-12)
    assert lp2 == pytest.approx(math.log(9 / 49), rel=1e-12)
    assert critic.perplexity([[1, 0], [0, 1]]) == pytest.approx((245 / 3 * 49 / 9) ** (1 / 6), rel=1e-12)
    # an empty sequence is one transition, <bos>→<eos>: P = .5 / 3.5
    assert critic.score([[]]) == [(pytest.approx(math.log(0.5 / 3.5)), 1)]
    rows = np.exp(critic.log_probs()).sum(axis=1)
    np.testing.assert_allclose(rows, 1.0)  # every source row is a distribution over ids + <eos>


def test_bigram_picks_best_delta_not_last() -> None:
    """Validation made only of transitions unseen in training: the largest δ of the grid wins, even
    though it comes first (the reference script would report the grid's last δ)."""
    train = [[0, 1]] * 5
    unseen = [[1, 0], [1, 1, 0], [2, 2]]
    critic = BigramCritic.fit(train, n_actions=3, validation=unseen, deltas=[1.0, 0.1, 0.01])
    assert critic.delta == 1.0
    assert set(critic.validation) == {"1.0", "0.1", "0.01"}
    assert critic.validation["1.0"] < critic.validation["0.1"] < critic.validation["0.01"]
    # validation like the training data: the smallest δ wins
    seen = BigramCritic.fit(train, n_actions=3, validation=[[0, 1]], deltas=[1.0, 0.1, 0.01])
    assert seen.delta == 0.01
    with pytest.raises(ValueError, match="needs validation"):
        BigramCritic.fit(train, n_actions=3, deltas=[1.0, 0.1])
    with pytest.raises(ValueError, match=r"action ids must lie in \[0, 3\)"):
        BigramCritic.fit([[0, 3]], n_actions=3, deltas=[1.0])


# -- HMM -------------------------------------------------------------------------------------------


def _known_hmm(seed: int = 0):
    from hmmlearn.hmm import CategoricalHMM

    true = CategoricalHMM(n_components=3, n_features=5, random_state=seed, implementation="scaling")
    true.transmat_ = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.05, 0.7]])
    true.emissionprob_ = np.array(
        [[0.6, 0.3, 0.05, 0.03, 0.02], [0.05, 0.1, 0.7, 0.1, 0.05], [0.02, 0.03, 0.05, 0.3, 0.6]]
    )
    # start in the stationary distribution, so per-symbol log-loss estimates the entropy rate
    vals, vecs = np.linalg.eig(true.transmat_.T)
    stationary = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    true.startprob_ = stationary / stationary.sum()
    return true


def _sample(model, n: int, length: int, seed: int) -> list[list[int]]:
    rng = np.random.RandomState(seed)
    return [model.sample(length, random_state=rng)[0][:, 0].tolist() for _ in range(n)]


def test_hmm_critic_reaches_the_entropy_rate() -> None:
    """Fitted on 150 sequences from a known 3-state HMM, the critic's held-out perplexity is within 5% of
    exp(entropy rate), the rate estimated by the true model on one long sequence (Shannon-McMillan-
    Breiman: -log P(x_1..T) / T → h)."""
    true = _known_hmm()
    train = _sample(true, 150, 60, seed=1)
    held_out = _sample(true, 100, 60, seed=2)
    long = np.asarray(_sample(true, 1, 40_000, seed=3)[0])
    entropy_rate = -true.score(long[:, None]) / len(long)
    critic = HMMCritic.fit(train, n_actions=5, n_states=3, n_iter=200, tol=1e-4, seed=0)
    fitted = critic.perplexity(held_out)
    assert fitted == pytest.approx(math.exp(entropy_rate), rel=0.05)
    # sanity: the true model itself on the same held-out sequences is within the same band
    truth = critics.perplexity(sum(true.score(np.asarray(s)[:, None]) for s in held_out), 100 * 60)
    assert truth == pytest.approx(math.exp(entropy_rate), rel=0.05)
    # an id never emitted in training costs a finite amount (emission floor), not an infinite perplexity
    assert np.isfinite(critic.perplexity([[0, 4, 4, 0]]))
    assert critic.score([[]]) == [(0.0, 0)]


def test_critics_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path)
    train, val = [[0, 1, 2], [2, 1]] * 10, [[0, 2]]
    hmm_params = {"n_states": 2, "n_iter": 20, "tol": 1e-3, "emission_floor": 1e-4, "seed": 0}
    b1 = fit_cached(cache, "bigram", {"deltas": [0.1, 1.0]}, train, val, 3)
    h1 = fit_cached(cache, "hmm", hmm_params, train, [], 3)

    def refuse(*a, **k):
        raise AssertionError("refitted a cached critic")

    monkeypatch.setattr(BigramCritic, "fit", refuse)
    monkeypatch.setattr(HMMCritic, "fit", refuse)
    b2 = fit_cached(cache, "bigram", {"deltas": [0.1, 1.0]}, train, val, 3)
    h2 = fit_cached(cache, "hmm", hmm_params, train, [], 3)
    assert b2.delta == b1.delta and b2.perplexity(val) == b1.perplexity(val)
    assert h2.perplexity(val) == pytest.approx(h1.perplexity(val), rel=1e-12)
    with pytest.raises(AssertionError, match="refitted"):  # other training sequences: another critic
        fit_cached(cache, "bigram", {"deltas": [0.1, 1.0]}, [[0, 0]], val, 3)


# -- the task --------------------------------------------------------------------------------------


def test_latent_ppl_end_to_end(tmp_path: Path) -> None:
    """Critics fitted on the synthetic corpus's (planted) training actions score the real test documents
    and micro-model samples; aggregate micro-averages per critic and side."""
    tagger = planted_tagger()
    params = LatentPplParams(n_samples=4, max_new_tokens=24, hmm_states=4, hmm_iter=20)
    ctx = TaskContext(
        corpus=synthetic_corpus(),
        params=params,
        seed=0,
        work_dir=tmp_path,
        progress=False,
        actions=tagger,
        model_key="micro",
        cache=Cache(tmp_path / "cache"),
    )
    task = LatentPerplexity()
    assert TASKS.get("latent_ppl") is LatentPerplexity and task.uses_actions
    table = task.evaluate(micro_lm(), ctx)
    real = table[table["source"] == "real"]
    gen = table[table["source"] == "generated"]
    assert len(real) == len(synthetic_corpus().test) and len(gen) == 4
    # real documents use their precomputed (planted) actions
    first = synthetic_corpus().test[0]
    assert real.iloc[0]["actions"] == list(first.actions)
    assert (real["bigram_n"] == real["n_actions"] + 1).all() and (real["hmm_n"] == real["n_actions"]).all()
    # generated samples were tagged with the tagger
    assert list(gen["actions"]) == tagger.tag(list(gen["sample_id"].map(_texts(ctx))))
    m = task.aggregate(table, params)
    train = [list(d.actions) for d in synthetic_corpus().train]
    val = [list(d.actions) for d in synthetic_corpus().val]
    bigram = BigramCritic.fit(train, tagger.n_actions, val, params.deltas)
    assert m["bigram_real"] == pytest.approx(
        bigram.perplexity([list(d.actions) for d in synthetic_corpus().test])
    )
    assert (table["delta"] == bigram.delta).all()
    assert m["bigram_gap"] == pytest.approx(abs(math.log(m["bigram"]) - math.log(m["bigram_real"])))
    assert all(np.isfinite(v) and v > 0 for v in m.values())
    assert not task.metric_info("hmm").higher_is_better
    assert len(list((tmp_path / "cache" / "critics").iterdir())) == 2


def _texts(ctx: TaskContext):
    from tasks.generation import UnconditionalProtocol, unconditional

    table = unconditional(micro_lm(), ctx, UnconditionalProtocol(n_samples=4, max_new_tokens=24))
    return dict(zip(table["sample_id"], table["text"], strict=True))


def test_params() -> None:
    with pytest.raises(ValidationError):
        LatentPplParams(deltas=[0.0, 1.0])
    with pytest.raises(ValidationError):
        LatentPplParams(deltas=[])
    assert LatentPplParams().n_samples == 1000  # = mauve's default: one cached set of samples for both
