"""Latent perplexity: the bigram critic against hand-computed values and its δ choice, the HMM critic
against a known HMM's entropy rate, caching of fitted critics, and the task end to end."""

from __future__ import annotations

import itertools
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

# -- bigram: Deng et al.'s reference definition ---------------------------------------------------
#
# The reference (da03/criticize_text_generation, scripts/criticize/fit_critic.py and criticize.py): the
# vocabulary is the labels seen in training, then <bos> and <eos>; counts + δ are divided by their row
# sum over that whole vocabulary (δ·(n_seen + 2) added per row); a transition whose source or target is
# not in the vocabulary is skipped and not counted; δ: the grid in order, kept when strictly lower.
#
# The table's training data: [[0, 1], [0]] with K = 3 ids, so id 2 is never seen (n_seen = 2, each row
# adds 4δ). Counts: <bos>→0: 2; 0→1: 1; 0→<eos>: 1; 1→<eos>: 1. Row sums: <bos> 2, 0: 2, 1: 1.
# With δ = 0.5 the denominators are <bos> 4, 0: 4, 1: 3.
TRAIN = [[0, 1], [0]]
HAND = [
    # (case, sequence, probability of the counted transitions, transitions counted)
    ("all ids seen", [0, 1], 2.5 / 4 * 1.5 / 4 * 1.5 / 3, 3),  # = 15/128
    ("all seen, a transition never seen", [1, 0], 0.5 / 4 * 0.5 / 3 * 1.5 / 4, 3),  # = 1/128
    ("empty: only <bos>→<eos>", [], 0.5 / 4, 1),
    ("length 1", [0], 2.5 / 4 * 1.5 / 4, 2),
    ("length 1, unseen in training", [2], 1.0, 0),  # both transitions skipped
    ("unseen id inside: 0→2 and 2→1 skipped", [0, 2, 1], 2.5 / 4 * 1.5 / 3, 2),
    ("unseen id first: <bos>→2 and 2→0 skipped", [2, 0], 1.5 / 4, 1),
    ("unseen ids only", [2, 2], 1.0, 0),
]


@pytest.mark.parametrize(("case", "seq", "prob", "n"), HAND, ids=[h[0] for h in HAND])
def test_bigram_deng2022_hand_computed(case: str, seq: list[int], prob: float, n: int) -> None:
    critic = BigramCritic.fit(TRAIN, n_actions=3, deltas=[0.5])
    assert critic.definition == "deng2022" and critic.seen.tolist() == [True, True, False]
    [(logp, counted)] = critic.score([seq])
    assert counted == n
    assert logp == pytest.approx(math.log(prob), rel=1e-12, abs=1e-15)
    assert _reference_scores(TRAIN, [seq], 0.5) == (pytest.approx(logp, rel=1e-12, abs=1e-15), n)


def test_bigram_normaliser_counts_seen_ids_bos_and_eos() -> None:
    """Every id seen (K = 2): the reference's rows add δ·(n_seen + 2) = 4δ, planeval-v1's δ·(K+1) = 3δ,
    so the two differ; the reference's rows sum to less than 1 over ids + <eos> (δ goes to <bos>)."""
    ref = BigramCritic.fit(TRAIN, n_actions=2, deltas=[0.5])
    old = BigramCritic.fit(TRAIN, n_actions=2, deltas=[0.5], definition="planeval-v1")
    assert ref.score([[0, 1]])[0][0] == pytest.approx(math.log(15 / 128), rel=1e-12)
    assert old.score([[0, 1]])[0][0] == pytest.approx(math.log(9 / 49), rel=1e-12)  # 2.5/3.5·1.5/3.5·1.5/2.5
    rows = np.exp(ref.log_probs()).sum(axis=1)
    np.testing.assert_allclose(rows[[0, 1, 2]], [1 - 0.5 / 4, 1 - 0.5 / 3, 1 - 0.5 / 4])  # ids 0, 1, <bos>
    np.testing.assert_allclose(np.exp(old.log_probs()).sum(axis=1), 1.0)
    # exactly one id missing from training: the two normalisers coincide (n_seen + 2 = K + 1) ...
    three_ref = BigramCritic.fit(TRAIN, n_actions=3, deltas=[0.5])
    three_old = BigramCritic.fit(TRAIN, n_actions=3, deltas=[0.5], definition="planeval-v1")
    assert three_ref.score([[0, 1]]) == three_old.score([[0, 1]])
    # ... but planeval-v1 scores the transitions into and out of the unseen id: 0→2 and 2→1
    want = 2.5 / 4 * 0.5 / 4 * 0.5 / 2 * 1.5 / 3
    assert three_old.score([[0, 2, 1]]) == [(pytest.approx(math.log(want)), 4)]
    with pytest.raises(ValueError, match="unknown bigram definition 'deng'"):
        BigramCritic(2, 0.5, ref.counts, definition="deng")


def test_bigram_id_seen_only_in_validation_and_delta_choice() -> None:
    """Validation [[0, 2]], id 2 unseen in training: the reference counts only <bos>→0, P = (2 + δ) /
    (2 + 4δ): δ = 1 gives perplexity 2, δ = 0.1 gives 8/7, so it picks 0.1. planeval-v1 also scores 0→2 and
    2→<eos> (P = δ/(2 + 4δ) and 1/4), which favours the larger δ."""
    critic = BigramCritic.fit(TRAIN, 3, validation=[[0, 2]], deltas=[1.0, 0.1])
    assert critic.delta == 0.1
    assert critic.validation == {"1.0": pytest.approx(2.0), "0.1": pytest.approx(8 / 7)}
    old = BigramCritic.fit(TRAIN, 3, validation=[[0, 2]], deltas=[1.0, 0.1], definition="planeval-v1")
    assert old.delta == 1.0
    assert old.validation["1.0"] == pytest.approx(48 ** (1 / 3))  # 1/(3/6 · 1/6 · 1/4) over 3 transitions
    # δ = 0 is allowed, as in the reference: the MLE wins when validation has only transitions seen in
    # training (P = 1, 1/2, 1 → 2^(1/3), against 15^(1/3) at δ = 1) ...
    mle = BigramCritic.fit(TRAIN, 3, validation=[[0, 1]], deltas=[0.0, 1.0])
    assert mle.delta == 0.0 and mle.validation["0.0"] == pytest.approx(2 ** (1 / 3))
    assert mle.score([[1, 0]])[0][0] == -math.inf  # <bos>→1 was never seen: probability 0
    # ... and an infinite validation perplexity is never chosen (the reference's strict <)
    assert BigramCritic.fit(TRAIN, 3, validation=[[1, 0]], deltas=[0.0, 1.0]).delta == 1.0
    with pytest.raises(ValueError, match="infinite validation latent perplexity"):
        BigramCritic.fit(TRAIN, 3, validation=[[1, 0]], deltas=[0.0])
    with pytest.raises(ValueError, match="no validation transition can be scored"):
        BigramCritic.fit(TRAIN, 3, validation=[[2, 2]], deltas=[0.1, 1.0])
    with pytest.raises(ValueError, match="needs validation"):
        BigramCritic.fit(TRAIN, 3, deltas=[1.0, 0.1])
    with pytest.raises(ValueError, match="non-negative"):
        BigramCritic.fit(TRAIN, 3, deltas=[-1.0])
    with pytest.raises(ValueError, match=r"action ids must lie in \[0, 3\)"):
        BigramCritic.fit([[0, 3]], n_actions=3, deltas=[1.0])
    # the set's perplexity is micro-averaged over counted transitions; nothing counted is NaN
    assert critic.perplexity([[2]]) != critic.perplexity([[2]])


def test_bigram_planted_delta_selection() -> None:
    """The issue's planted case: id 3 appears in validation and test but never in training. planeval-v1
    scores every transition into and out of it (probability ~δ), so validation pushes δ to the top of the
    grid (1.0); the reference skips them and picks 0.1. Test latent perplexity under the reference's
    critic would be 12.6% higher with the δ the old definition picked."""
    train = [[0, 1, 2]] * 6 + [[0, 2, 1]] * 2 + [[1, 2]] * 2 + [[2, 0, 1]]
    val = [[0, 1], [2, 3], [2, 3, 1]]
    test = [[0, 1, 2, 3], [3, 2, 1], [0, 2, 1]]
    ref = BigramCritic.fit(train, 4, val)  # the default grid, 1e-4 … 1
    old = BigramCritic.fit(train, 4, val, definition="planeval-v1")
    assert (ref.delta, old.delta) == (0.1, 1.0)
    want_delta, want_test = _reference_fit(train, val, test, list(critics.DEFAULT_DELTAS))
    assert ref.delta == want_delta and ref.perplexity(test) == pytest.approx(want_test, rel=1e-12)
    wrong_delta = BigramCritic(4, old.delta, ref.counts).perplexity(test)
    assert wrong_delta / ref.perplexity(test) == pytest.approx(1.1265, abs=1e-4)
    assert old.perplexity(test) / ref.perplexity(test) == pytest.approx(1.5734, abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bigram_equals_reference_semantics_on_random_data(seed: int) -> None:
    """Random sequences over 12 ids of which training uses 9 (and some empty ones): the chosen δ, the
    validation and the test perplexities equal a plain transliteration of the reference's behaviour."""
    rng = np.random.default_rng(seed)

    def seqs(n: int, ids: int) -> list[list[int]]:
        return [rng.integers(0, ids, size=rng.integers(0, 7)).tolist() for _ in range(n)]

    train, val, test = seqs(40, 9), seqs(15, 12), seqs(15, 12)
    grid = [0.0, 1e-3, 0.05, 0.3, 1.0, 2.0]
    critic = BigramCritic.fit(train, 12, val, grid)
    want_delta, want_test = _reference_fit(train, val, test, grid)
    assert critic.delta == want_delta
    assert critic.perplexity(test) == pytest.approx(want_test, rel=1e-12)


def _reference_tables(train: list[list[int]], delta: float) -> tuple[dict, list[list[float]]]:
    """The reference's critic, written from its behaviour in plain Python: labels in order of first
    appearance in training, then <bos> and <eos>; smoothed counts divided by their row sums."""
    vocab: dict = {}
    for seq in train:
        for a in seq:
            vocab.setdefault(a, len(vocab))
    vocab["<bos>"], vocab["<eos>"] = len(vocab), len(vocab) + 1
    size = len(vocab)
    counts = [[0.0] * size for _ in range(size)]
    for seq in train:
        labels = ["<bos>", *seq, "<eos>"]
        for a, b in itertools.pairwise(labels):
            counts[vocab[a]][vocab[b]] += 1
    probs = []
    for row in counts:
        total = sum(c + delta for c in row)
        probs.append([(c + delta) / total if total else math.nan for c in row])
    return vocab, probs


def _reference_scores(train: list[list[int]], seqs: list[list[int]], delta: float) -> tuple[float, int]:
    """Σ log P and the number of counted transitions of ``seqs`` (labels outside the vocabulary skipped)."""
    vocab, probs = _reference_tables(train, delta)
    logp, n = 0.0, 0
    for seq in seqs:
        labels = ["<bos>", *seq, "<eos>"]
        for a, b in itertools.pairwise(labels):
            if a not in vocab or b not in vocab:
                continue
            p = probs[vocab[a]][vocab[b]]
            logp += math.log(p) if p > 0 else -math.inf
            n += 1
    return logp, n


def _reference_fit(train, val, test, grid) -> tuple[float, float]:
    """(the δ the reference keeps, the test latent perplexity under it)."""
    best, best_ppl = None, math.inf
    for delta in grid:
        logp, n = _reference_scores(train, val, delta)
        ppl = math.exp(-logp / n)
        if ppl < best_ppl:
            best, best_ppl = delta, ppl
    logp, n = _reference_scores(train, test, best)
    return best, math.exp(-logp / n)


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
        artifacts={"actions": tagger},
        model_key="micro",
        cache=Cache(tmp_path / "cache"),
    )
    task = LatentPerplexity()
    assert TASKS.get("latent_ppl") is LatentPerplexity and task.artifacts(params) == ("actions",)
    table = task.evaluate(micro_lm(), ctx)
    real = table[table["source"] == "real"]
    gen = table[table["source"] == "generated"]
    assert len(real) == len(synthetic_corpus().test) and len(gen) == 4
    # real documents use their precomputed (planted) actions
    first = synthetic_corpus().test[0]
    assert real.iloc[0]["actions"] == list(first.actions)
    assert (real["bigram_n"] + real["bigram_skipped"] == real["n_actions"] + 1).all()
    assert (real["hmm_n"] == real["n_actions"]).all()
    # generated samples were tagged with the tagger
    assert list(gen["actions"]) == tagger.tag(list(gen["sample_id"].map(_texts(ctx))))
    m = task.aggregate(table, params)
    train = [list(d.actions) for d in synthetic_corpus().train]
    val = [list(d.actions) for d in synthetic_corpus().val]
    bigram = BigramCritic.fit(train, tagger.n_actions, val, params.deltas)
    assert m["bigram_real"] == pytest.approx(
        bigram.perplexity([list(d.actions) for d in synthetic_corpus().test])
    )
    assert (table["delta"] == bigram.delta).all() and (table["bigram_definition"] == "deng2022").all()
    assert m["bigram"] == pytest.approx(bigram.perplexity(list(gen["actions"])))
    assert m["bigram_gap"] == pytest.approx(abs(math.log(m["bigram"]) - math.log(m["bigram_real"])))
    assert all(np.isfinite(v) and v > 0 for v in m.values())
    assert not task.metric_info("hmm").higher_is_better
    assert len(list((tmp_path / "cache" / "critics").iterdir())) == 2


def _texts(ctx: TaskContext):
    from harness.generation import UnconditionalProtocol
    from harness.sampling import Sampling
    from tasks.generation import generations

    sampling = Sampling(max_new_tokens=24, seed=ctx.seed, stop_at_eos=False)
    table = generations(micro_lm(), ctx).unconditional(UnconditionalProtocol(n_samples=4, sampling=sampling))
    return dict(zip(table["sample_id"], table["text"], strict=True))


def test_params() -> None:
    assert LatentPplParams().bigram_definition == "deng2022"  # the reference's critic is the default
    assert LatentPplParams(deltas=[0, 1]).deltas == (0.0, 1.0)  # the reference script's own default grid
    assert LatentPplParams().model_dump(mode="json")["bigram_definition"] == "deng2022"  # stored per run
    with pytest.raises(ValidationError):
        LatentPplParams(bigram_definition="deng")
    with pytest.raises(ValidationError):
        LatentPplParams(deltas=[-0.1, 1.0])
    with pytest.raises(ValidationError):
        LatentPplParams(deltas=[])
    assert LatentPplParams().n_samples == 1000  # = mauve's default: one cached set of samples for both
