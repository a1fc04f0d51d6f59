"""Critics of action-id sequences for latent perplexity (docs/tasks/latent_ppl.md): models of the real texts'
writing actions that score any text's action sequence. ``exp(-Σ log P / N)`` over a set of sequences is its
latent perplexity under the critic.

* ``BigramCritic`` (Deng et al. 2022, used by paper A; docs/tasks/latent_ppl.md): a transition matrix
  with ``<bos>`` and ``<eos>``; a sequence ``a_1..a_n`` is read as ``<bos>→a_1 … a_n→<eos>``. Two
  definitions, named so that every score says which one it is:

  - ``deng2022`` (the default) is the reference's (``da03/criticize_text_generation``,
    ``scripts/criticize/fit_critic.py`` and ``criticize.py``): the vocabulary is the ids seen in training
    plus ``<bos>`` and ``<eos>``; ``P(b|a) = (C[a,b] + δ) / (C[a,·] + δ·(n_seen + 2))``; a transition into
    or out of an id never seen in training is skipped and not counted; δ is the first of the grid with
    the lowest validation perplexity (an infinite or undefined one is never picked).
  - ``planeval-v1`` (planeval's definition before task version 2, kept to reproduce old numbers; not
    Deng et al.'s): ``P(b|a) = (C[a,b] + δ) / (C[a,·] + δ·(K+1))`` over all K ids and ``<eos>``, and
    every one of the ``n + 1`` transitions is scored.
* ``HMMCritic``: hmmlearn's ``CategoricalHMM`` with ``n_states`` hidden states over the ids (no
  ``<bos>``/``<eos>`` symbols; a sequence of n ids has n predictions, the first from the initial
  distribution). EM with the ``scaling`` implementation (~8× faster than ``log``, docs/environment.md).
  Emission probabilities get a floor ``emission_floor`` (renormalised) so that an id unseen in training —
  common in generated text with K=1024 actions — costs a finite amount instead of making the perplexity
  infinite.

Both are fitted on the TRAIN split's actions and cached (``fit_cached``) by their params and a hash of
the training and validation sequences, so every model of a suite is scored by the same critic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from harness.hashing import stable_hash

Seqs = Sequence[Sequence[int]]
#: per critic kind, part of its cache key: bigram 2 = the deng2022 definition (the HMM is unchanged, so
#: its fitted critics stay valid)
CRITICS_VERSION = {"bigram": "2", "hmm": "1"}
BigramDefinition = Literal["deng2022", "planeval-v1"]
BIGRAM_DEFINITIONS: tuple[str, ...] = ("deng2022", "planeval-v1")
#: the δ grid searched on validation by default: a log grid up to Laplace (1). The reference takes its
#: grid as a command-line argument (``--deltas``, default ``0 1``); ``deltas: [0, 1]`` reproduces that.
DEFAULT_DELTAS = (1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)


def perplexity(logp: float, n: int) -> float:
    """``exp(-Σ log P / N)``; NaN when nothing was predicted."""
    return math.exp(-logp / n) if n else math.nan


# -- bigram ----------------------------------------------------------------------------------------


@dataclass
class BigramCritic:
    """Counts over (K+1) sources (ids, then ``<bos>`` at index K) × (K+1) targets (ids, then ``<eos>``).

    ``<bos>`` as a target and ``<eos>`` as a source never occur, so they need no row or column of counts;
    the reference's ``<bos>`` column still takes its δ share of every row's normaliser (``deng2022``)."""

    n_actions: int
    delta: float
    counts: np.ndarray  # (K+1, K+1) float64
    validation: dict[str, float] = field(default_factory=dict)  # δ → validation perplexity
    definition: str = "deng2022"

    def __post_init__(self) -> None:
        if self.definition not in BIGRAM_DEFINITIONS:
            raise ValueError(
                f"unknown bigram definition {self.definition!r} (valid: {', '.join(BIGRAM_DEFINITIONS)})"
            )

    @property
    def seen(self) -> np.ndarray:
        """Which ids occur in training: every occurrence is the source of one transition (to the next id
        or to ``<eos>``), so an id is seen exactly when its row has counts."""
        return self.counts[: self.n_actions].sum(axis=1) > 0

    @staticmethod
    def _transitions(seq: Sequence[int], n_actions: int) -> tuple[np.ndarray, np.ndarray]:
        k = n_actions
        src = np.asarray([k, *seq], dtype=np.int64)  # <bos> = k as a source
        dst = np.asarray([*seq, k], dtype=np.int64)  # <eos> = k as a target
        _check_ids(src[1:], k)
        return src, dst

    @classmethod
    def count(cls, seqs: Seqs, n_actions: int) -> np.ndarray:
        counts = np.zeros((n_actions + 1, n_actions + 1), dtype=np.float64)
        for seq in seqs:
            np.add.at(counts, cls._transitions(seq, n_actions), 1.0)
        return counts

    @classmethod
    def fit(
        cls,
        train: Seqs,
        n_actions: int,
        validation: Seqs | None = None,
        deltas: Sequence[float] = DEFAULT_DELTAS,
        definition: str = "deng2022",
    ) -> BigramCritic:
        """Count the training transitions and pick δ on validation. ``deng2022``, as the reference: go
        through the grid in order and keep a δ only when its validation perplexity is strictly lower than
        the best so far (so the first of equal values wins, and an infinite or NaN one never does).
        Without validation sequences the grid must hold exactly one δ."""
        if not deltas or min(deltas) < 0:
            raise ValueError(f"δ grid must be non-empty and non-negative, got {list(deltas)}")
        counts = cls.count(train, n_actions)
        if not validation:
            if len(deltas) != 1:
                raise ValueError("choosing δ needs validation sequences (or give a single δ)")
            return cls(n_actions, float(deltas[0]), counts, definition=definition)
        scores = {}
        for d in deltas:
            critic = cls(n_actions, float(d), counts, definition=definition)
            scores[repr(float(d))] = critic.perplexity(validation)
        if definition == "planeval-v1":
            best = min(deltas, key=lambda d: scores[repr(float(d))])  # min keeps the first of equal values
            return cls(n_actions, float(best), counts, scores, definition)
        chosen, best_ppl = None, math.inf
        for d in deltas:
            if scores[repr(float(d))] < best_ppl:  # NaN and inf compare False: never chosen
                chosen, best_ppl = float(d), scores[repr(float(d))]
        if chosen is None:
            if all(math.isnan(v) for v in scores.values()):
                raise ValueError(
                    "no validation transition can be scored: every one goes into or out of an id unseen "
                    "in training, so δ cannot be chosen (give a single δ, or other validation sequences)"
                )
            raise ValueError(
                f"every δ of the grid {list(deltas)} gives an infinite validation latent perplexity "
                "(δ = 0 leaves a transition unseen in training at probability 0): add a positive δ"
            )
        return cls(n_actions, chosen, counts, scores, definition)

    def log_probs(self) -> np.ndarray:
        """log P(target | source), (K+1, K+1). Under ``deng2022`` the entries of ids unseen in training
        are meaningless (such transitions are never scored); with δ = 0 an unseen transition is -inf."""
        if self.definition == "deng2022":
            width = int(self.seen.sum()) + 2  # the seen ids, <bos> and <eos>
        else:
            width = self.n_actions + 1
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(
                (self.counts + self.delta) / (self.counts.sum(axis=1, keepdims=True) + self.delta * width)
            )

    def score(self, seqs: Seqs) -> list[tuple[float, int]]:
        """(Σ log P, number of transitions counted) per sequence; under ``deng2022`` a transition into or
        out of an id unseen in training is skipped, so a sequence of unseen ids only is (0, 0)."""
        table, k = self.log_probs(), self.n_actions
        known = np.append(self.seen, True) if self.definition == "deng2022" else None  # [K] = <bos>/<eos>
        out = []
        for seq in seqs:
            src, dst = self._transitions(seq, k)
            if known is not None:
                keep = known[src] & known[dst]
                src, dst = src[keep], dst[keep]
            out.append((float(table[src, dst].sum()), len(dst)))
        return out

    def perplexity(self, seqs: Seqs) -> float:
        scores = self.score(seqs)
        return perplexity(sum(s for s, _ in scores), sum(n for _, n in scores))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_actions": self.n_actions,
            "delta": self.delta,
            "validation": self.validation,
            "definition": self.definition,
        }


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
    """Fit a critic (``kind`` "bigram": params ``deltas`` and ``definition``, default ``deng2022``;
    "hmm": ``n_states, n_iter, tol, emission_floor, seed``), or load it from
    ``<cache>/critics/<key>/critic.json``. The key hashes the params and the sequences themselves, so a
    different tagging or corpus gets its own critic."""
    train = [list(map(int, s)) for s in train]
    validation = [list(map(int, s)) for s in validation]

    def fit() -> BigramCritic | HMMCritic:
        if kind == "bigram":
            definition = params.get("definition", "deng2022")
            return BigramCritic.fit(train, n_actions, validation, params["deltas"], definition)
        if kind == "hmm":
            return HMMCritic.fit(train, n_actions, **params)
        raise ValueError(f"unknown critic {kind!r} (valid: bigram, hmm)")

    if cache is None:
        return fit()
    key = stable_hash("critic", CRITICS_VERSION.get(kind, "1"), kind, params, n_actions, train, validation)
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
        return BigramCritic(
            state["n_actions"], state["delta"], counts, state["validation"], state["definition"]
        )
    return HMMCritic.from_dict(state)
