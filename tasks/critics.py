"""Critics of action-id sequences for latent perplexity (DESIGN §8): models of the real texts' writing
actions that score any text's action sequence. ``exp(-Σ log P / N)`` over a set of sequences is its
latent perplexity under the critic.

* ``BigramCritic`` (Deng et al. 2022, used by paper A): a transition matrix over ids with ``<bos>`` and
  ``<eos>``; a sequence ``a_1..a_n`` has ``n + 1`` transitions ``<bos>→a_1 … a_n→<eos>``. Add-δ
  smoothing: ``P(b|a) = (C[a,b] + δ) / (C[a,·] + δ·(K+1))`` over the K ids and ``<eos>``. δ is picked on
  validation sequences from a grid: the δ with the lowest validation perplexity (the reference script
  reports the last δ of its loop, not the best).
* ``HMMCritic``: hmmlearn's ``CategoricalHMM`` with ``n_states`` hidden states over the ids (no
  ``<bos>``/``<eos>`` symbols; a sequence of n ids has n predictions, the first from the initial
  distribution). EM with the ``scaling`` implementation (~8× faster than ``log``, DESIGN §10). Emission
  probabilities get a floor ``emission_floor`` (renormalised) so that an id unseen in training — common
  in generated text with K=1024 actions — costs a finite amount instead of making the perplexity infinite.

Both are fitted on the TRAIN split's actions and cached (``fit_cached``) by their params and a hash of
the training and validation sequences, so every model of a suite is scored by the same critic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.hashing import stable_hash

Seqs = Sequence[Sequence[int]]
CRITICS_VERSION = "1"
#: the δ grid searched on validation by default (Deng et al. search a log grid; 1 is Laplace)
DEFAULT_DELTAS = (1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)


def perplexity(logp: float, n: int) -> float:
    """``exp(-Σ log P / N)``; NaN when nothing was predicted."""
    return math.exp(-logp / n) if n else math.nan


# -- bigram ----------------------------------------------------------------------------------------


@dataclass
class BigramCritic:
    """Counts over (K+1) sources (ids, then ``<bos>`` at index K) × (K+1) targets (ids, then ``<eos>``)."""

    n_actions: int
    delta: float
    counts: np.ndarray  # (K+1, K+1) float64
    validation: dict[str, float] = field(default_factory=dict)  # δ → validation perplexity

    @staticmethod
    def count(seqs: Seqs, n_actions: int) -> np.ndarray:
        k = n_actions
        counts = np.zeros((k + 1, k + 1), dtype=np.float64)
        for seq in seqs:
            src = np.asarray([k, *seq], dtype=np.int64)  # <bos> = k as a source
            dst = np.asarray([*seq, k], dtype=np.int64)  # <eos> = k as a target
            _check_ids(src[1:], k)
            np.add.at(counts, (src, dst), 1.0)
        return counts

    @classmethod
    def fit(
        cls,
        train: Seqs,
        n_actions: int,
        validation: Seqs | None = None,
        deltas: Sequence[float] = DEFAULT_DELTAS,
    ) -> BigramCritic:
        """Count the training transitions; pick δ with the lowest validation perplexity (ties: the first
        in the grid). Without validation sequences the grid must hold exactly one δ."""
        if not deltas or min(deltas) <= 0:
            raise ValueError(f"δ grid must be non-empty and positive, got {list(deltas)}")
        counts = cls.count(train, n_actions)
        if not validation:
            if len(deltas) != 1:
                raise ValueError("choosing δ needs validation sequences (or give a single δ)")
            return cls(n_actions, float(deltas[0]), counts)
        scores = {}
        for d in deltas:
            critic = cls(n_actions, float(d), counts)
            scores[repr(float(d))] = critic.perplexity(validation)
        best = min(deltas, key=lambda d: scores[repr(float(d))])  # min keeps the first of equal values
        return cls(n_actions, float(best), counts, scores)

    def log_probs(self) -> np.ndarray:
        """log P(target | source), (K+1, K+1)."""
        k1 = self.n_actions + 1
        return np.log((self.counts + self.delta) / (self.counts.sum(axis=1, keepdims=True) + self.delta * k1))

    def score(self, seqs: Seqs) -> list[tuple[float, int]]:
        """(Σ log P, number of transitions) per sequence."""
        table, k = self.log_probs(), self.n_actions
        out = []
        for seq in seqs:
            src = np.asarray([k, *seq], dtype=np.int64)
            dst = np.asarray([*seq, k], dtype=np.int64)
            _check_ids(src[1:], k)
            out.append((float(table[src, dst].sum()), len(dst)))
        return out

    def perplexity(self, seqs: Seqs) -> float:
        scores = self.score(seqs)
        return perplexity(sum(s for s, _ in scores), sum(n for _, n in scores))

    def to_dict(self) -> dict[str, Any]:
        return {"n_actions": self.n_actions, "delta": self.delta, "validation": self.validation}


# -- HMM -------------------------------------------------------------------------------------------


@dataclass
class HMMCritic:
    """A fitted ``CategoricalHMM`` with floored emissions."""

    n_actions: int
    model: Any  # hmmlearn.hmm.CategoricalHMM
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        train: Seqs,
        n_actions: int,
        n_states: int = 32,
        n_iter: int = 100,
        tol: float = 1e-3,
        emission_floor: float = 1e-4,
        seed: int = 0,
        restarts: int = 3,
    ) -> HMMCritic:
        """EM from ``restarts`` random initialisations (seeds ``seed``, ``seed+1``, …); the one with the
        highest training log-likelihood is kept. One start is not enough: on a known 3-state HMM, two of
        five starts stopped 4-14% above the entropy rate's perplexity, the other three within 0.01%."""
        from hmmlearn.hmm import CategoricalHMM

        seqs = [np.asarray(s, dtype=np.int64) for s in train if len(s)]
        if not seqs:
            raise ValueError("the HMM critic needs at least one non-empty training sequence")
        for s in seqs:
            _check_ids(s, n_actions)
        x, lengths = np.concatenate(seqs)[:, None], [len(s) for s in seqs]
        best, best_ll, tried = None, -math.inf, []
        for r in range(restarts):
            model = CategoricalHMM(
                n_components=n_states,
                n_features=n_actions,
                n_iter=n_iter,
                tol=tol,
                random_state=seed + r,
                implementation="scaling",
            )
            model.fit(x, lengths=lengths)
            ll = float(model.score(x, lengths=lengths))
            tried.append({"seed": seed + r, "train_loglik": ll, "n_iter": int(model.monitor_.iter)})
            if ll > best_ll:
                best, best_ll = model, ll
        assert best is not None
        floored = best.emissionprob_ + emission_floor
        best.emissionprob_ = floored / floored.sum(axis=1, keepdims=True)
        return cls(n_actions, best, {"restarts": tried, "train_loglik": best_ll})

    def score(self, seqs: Seqs) -> list[tuple[float, int]]:
        """(log P(sequence), its length) per sequence; an empty sequence is (0, 0)."""
        out = []
        for s in seqs:
            arr = np.asarray(s, dtype=np.int64)
            if arr.size == 0:
                out.append((0.0, 0))
                continue
            _check_ids(arr, self.n_actions)
            out.append((float(self.model.score(arr[:, None])), int(arr.size)))
        return out

    def perplexity(self, seqs: Seqs) -> float:
        scores = self.score(seqs)
        return perplexity(sum(s for s, _ in scores), sum(n for _, n in scores))

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "n_actions": self.n_actions,
            "n_states": int(m.n_components),
            "startprob": m.startprob_.tolist(),
            "transmat": m.transmat_.tolist(),
            "emissionprob": m.emissionprob_.tolist(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HMMCritic:
        from hmmlearn.hmm import CategoricalHMM

        model = CategoricalHMM(
            n_components=d["n_states"], n_features=d["n_actions"], implementation="scaling"
        )
        model.startprob_ = np.asarray(d["startprob"])
        model.transmat_ = np.asarray(d["transmat"])
        model.emissionprob_ = np.asarray(d["emissionprob"])
        return cls(d["n_actions"], model, d.get("info", {}))


def _check_ids(ids: np.ndarray, n_actions: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= n_actions):
        raise ValueError(f"action ids must lie in [0, {n_actions}), got {ids.min()}..{ids.max()}")


# -- caching ---------------------------------------------------------------------------------------


def fit_cached(
    cache: Any,
    kind: str,
    params: dict[str, Any],
    train: Seqs,
    validation: Seqs,
    n_actions: int,
) -> BigramCritic | HMMCritic:
    """Fit a critic (``kind`` "bigram": params ``deltas``; "hmm": ``n_states, n_iter, tol,
    emission_floor, seed``), or load it from ``<cache>/critics/<key>/critic.json``. The key hashes the
    params and the sequences themselves, so a different tagging or corpus gets its own critic."""
    train = [list(map(int, s)) for s in train]
    validation = [list(map(int, s)) for s in validation]

    def fit() -> BigramCritic | HMMCritic:
        if kind == "bigram":
            return BigramCritic.fit(train, n_actions, validation, params["deltas"])
        if kind == "hmm":
            return HMMCritic.fit(train, n_actions, **params)
        raise ValueError(f"unknown critic {kind!r} (valid: bigram, hmm)")

    if cache is None:
        return fit()
    key = stable_hash("critic", CRITICS_VERSION, kind, params, n_actions, train, validation)
    path = cache.path("critics", key) / "critic.json"
    if not cache.exists("critics", key):
        with cache.build("critics", key, {"kind": kind, "params": params, "n_train": len(train)}) as b:
            critic = fit()
            if isinstance(critic, BigramCritic):
                np.save(b.dir / "counts.npy", critic.counts)
            (b.dir / "critic.json").write_text(json.dumps(critic.to_dict()))
    state = json.loads(path.read_text())
    if kind == "bigram":
        counts = np.load(path.parent / "counts.npy")
        return BigramCritic(state["n_actions"], state["delta"], counts, state["validation"])
    return HMMCritic.from_dict(state)
