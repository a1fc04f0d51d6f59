"""The planted plan: one Markov chain over sentence types per kind, sampled at a bounded length."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harness.corpus.synthetic.templates import KINDS, ORDERS, REPEATABLE, TYPE_NAMES
from harness.errors import PlanevalError

END = -1  # the end state of the chain


@dataclass(frozen=True)
class KindPlan:
    """The chain of one entity kind: type ids are global (``TYPE_NAMES`` index)."""

    start: dict[int, float]
    trans: dict[int, dict[int, float]]  # state → {next state or END: probability}


@dataclass(frozen=True)
class Plan:
    """The planted plan: one Markov chain per entity kind over ``n_types`` sentence types."""

    n_types: int
    kinds: dict[str, KindPlan]

    def matrix(self, kind: str) -> list[list[float]]:
        """Row-stochastic ``n_types x (n_types + 1)`` matrix; the last column is the end state."""
        rows = [[0.0] * (self.n_types + 1) for _ in range(self.n_types)]
        for s, nxt in self.kinds[kind].trans.items():
            for x, p in nxt.items():
                rows[s][self.n_types if x == END else x] = p
        return rows


@lru_cache(maxsize=8)
def build_plan(n_types: int, plan_seed: int = 0) -> Plan:
    """Sparse, mostly-forward transitions along each kind's canonical section order (as in real
    encyclopedia articles), with jittered weights, skips, self-loops on repeatable types, an early
    jump to the closing type and an end state reachable from the last sections."""
    rng = random.Random(f"planeval-synthetic-plan:{plan_seed}")
    closing = TYPE_NAMES.index("see_also")
    kinds: dict[str, KindPlan] = {}
    for kind in KINDS:
        order = [TYPE_NAMES.index(t) for t in ORDERS[kind] if TYPE_NAMES.index(t) < n_types]
        m = len(order)
        trans: dict[int, dict[int, float]] = {}
        for i, s in enumerate(order):
            w: dict[int, float] = {}
            if s == closing:
                w = {closing: 0.25, END: 0.75}
            else:
                for step, base in ((1, 1.0), (2, 0.55), (3, 0.25)):
                    if i + step < m:
                        w[order[i + step]] = w.get(order[i + step], 0.0) + base * rng.uniform(0.6, 1.4)
                if TYPE_NAMES[s] in REPEATABLE:
                    w[s] = w.get(s, 0.0) + 0.5 * rng.uniform(0.6, 1.4)
                if i >= m // 2 and closing not in w:
                    w[closing] = 0.12
                if i >= m - 4 or not w:
                    w[END] = 0.15
            total = sum(w.values())
            trans[s] = {x: p / total for x, p in w.items()}
        start = {order[0]: 0.9, order[1]: 0.1} if m > 1 else {order[0]: 1.0}
        kinds[kind] = KindPlan(start=start, trans=trans)
    return Plan(n_types=n_types, kinds=kinds)


_Table = tuple[list[int], list[float]]  # states and their cumulative weights, for rng.choices


class _LengthSampler:
    """Samples type sequences of one kind conditioned on length in ``[lo, hi]``.

    ``beta[t][s]``: probability that a chain whose t-th sentence has type s ends with a length in range.
    Sampling each step ∝ P(s → x)·beta[t+1][x] draws exactly from the conditioned chain.
    """

    def __init__(self, kp: KindPlan, lo: int, hi: int, kind: str):
        states = list(kp.trans)
        beta: list[dict[int, float]] = [{} for _ in range(hi + 2)]
        for t in range(hi, 0, -1):
            for s in states:
                b = kp.trans[s].get(END, 0.0) if lo <= t else 0.0
                if t < hi:
                    b += sum(p * beta[t + 1][x] for x, p in kp.trans[s].items() if x != END)
                beta[t][s] = b
        start = self._table({s: p * beta[1].get(s, 0.0) for s, p in kp.start.items()})
        if start is None:
            raise PlanevalError(
                f"synthetic corpus: no {kind} article can have {lo}..{hi} sentences with these n_types; "
                "raise n_types or max_sentences, or lower min_sentences"
            )
        self._start: _Table = start
        self._steps: list[dict[int, _Table | None]] = [{} for _ in range(hi + 1)]
        for t in range(1, hi + 1):
            for s in states:
                w = {
                    x: p * (beta[t + 1].get(x, 0.0) if x != END else float(lo <= t))
                    for x, p in kp.trans[s].items()
                }
                self._steps[t][s] = self._table(w)

    @staticmethod
    def _table(w: dict[int, float]) -> _Table | None:
        items = [(x, p) for x, p in w.items() if p > 0]
        if not items:
            return None
        cum, acc = [], 0.0
        for _, p in items:
            acc += p
            cum.append(acc)
        return [x for x, _ in items], cum

    def sample(self, rng: random.Random) -> list[int]:
        states, cum = self._start
        seq = [rng.choices(states, cum_weights=cum)[0]]
        while True:
            table = self._steps[len(seq)][seq[-1]]
            assert table is not None, "only states that can still end in range are ever entered"
            states, cum = table
            nxt = rng.choices(states, cum_weights=cum)[0]
            if nxt == END:
                return seq
            seq.append(nxt)


def transition_entropies(action_seqs: list[tuple[int, ...]] | list[list[int]]) -> dict[str, Any]:
    """Plug-in estimates (bits) of H(next type) and H(next type | current type) over all transitions,
    the end state included: how much the plan tells about the next sentence."""
    pair: dict[tuple[int, int], int] = {}
    for seq in action_seqs:
        for a, b in zip(seq, [*seq[1:], END], strict=True):
            pair[(a, b)] = pair.get((a, b), 0) + 1
    n = sum(pair.values())
    nxt: dict[int, int] = {}
    cur: dict[int, int] = {}
    for (a, b), c in pair.items():
        nxt[b] = nxt.get(b, 0) + c
        cur[a] = cur.get(a, 0) + c
    h_next = -sum(c / n * math.log2(c / n) for c in nxt.values())
    h_joint = -sum(c / n * math.log2(c / n) for c in pair.values())
    h_cur = -sum(c / n * math.log2(c / n) for c in cur.values())
    return {"h_next": h_next, "h_next_given_current": h_joint - h_cur, "n_transitions": n}
