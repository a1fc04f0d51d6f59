"""Multi-step arithmetic word problems with a gold plan, a worked execution and the answer.

A problem is a small story about one person's count of items (bought in containers, then gained or
lost), at higher levels a second person's count (own containers, or "k times as many") whose events
interleave with the first's in a random order, merged (total or difference) and at the top level shared
among friends. Each step makes one new named quantity:

* the **plan** sub-goal names it and says how it is made from named quantities —
  ``"Mia's apples left = Mia's apples - apples given away"`` (no numbers: the plan is the decomposition);
* the **execution** step is the bare arithmetic with its result — ``"12 - 5 = 7"``.

So only the plan says which intermediate quantity feeds which step; a model trained on solutions alone
has to keep that bookkeeping implicit. Levels set the number of steps (``level + 1``) and the number
sizes. Everything is an exact integer (shares divide evenly), and a problem is a pure function of its
``random.Random``: the same seed gives the same problem.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.corpus.arithmetic.vocab import (
    CONTAINERS,
    GAINS,
    GROUP_FACTS,
    ITEMS,
    LOSSES,
    NAMES,
    TIMES_FACTS,
)


@dataclass(frozen=True)
class LevelSpec:
    """How hard a level is: steps, the largest factor (containers, items per container) and the largest
    amount gained or lost."""

    steps: int
    max_factor: int
    max_amount: int


#: small numbers at the low levels keep the arithmetic learnable by tiny models, so that what separates
#: them is the bookkeeping of which quantity feeds which step
LEVELS: dict[int, LevelSpec] = {
    1: LevelSpec(steps=2, max_factor=5, max_amount=5),
    2: LevelSpec(steps=3, max_factor=6, max_amount=9),
    3: LevelSpec(steps=4, max_factor=6, max_amount=9),
    4: LevelSpec(steps=5, max_factor=9, max_amount=20),
    5: LevelSpec(steps=6, max_factor=12, max_amount=30),
}
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a // b}


@dataclass(frozen=True)
class Step:
    """One sub-goal: the quantity ``label = left op right`` (by name) and its arithmetic (by value)."""

    label: str
    op: str  # one of + - * /
    operands: tuple[str, str]  # names of the two inputs (given facts or earlier labels)
    args: tuple[int, int]
    value: int

    @property
    def goal(self) -> str:
        return f"{self.label} = {self.operands[0]} {self.op} {self.operands[1]}"

    @property
    def execution(self) -> str:
        return f"{self.args[0]} {self.op} {self.args[1]} = {self.value}"


@dataclass(frozen=True)
class Problem:
    question: str
    steps: tuple[Step, ...]
    level: int

    @property
    def plan(self) -> list[str]:
        return [s.goal for s in self.steps]

    @property
    def execution(self) -> list[str]:
        return [s.execution for s in self.steps]

    @property
    def answer(self) -> str:
        return str(self.steps[-1].value)


class _Story:
    """Accumulates facts and steps while a problem is drawn."""

    def __init__(self, rng: random.Random, spec: LevelSpec):
        self.rng, self.spec = rng, spec
        self.p, self.q = rng.sample(NAMES, 2)
        self.item, self.items = rng.choice(ITEMS)
        self.facts: list[str] = []
        self.steps: list[Step] = []

    def step(self, label: str, op: str, operands: tuple[str, str], args: tuple[int, int]) -> Step:
        value = _OPS[op](*args)
        s = Step(label, op, operands, args, value)
        self.steps.append(s)
        return s

    def groups(self, person: str) -> Step:
        rng = self.rng
        container, containers = rng.choice(CONTAINERS)
        a, b = rng.randint(2, self.spec.max_factor), rng.randint(2, self.spec.max_factor)
        fact = rng.choice(GROUP_FACTS)
        self.facts.append(fact.format(P=person, C=container, Cs=containers, items=self.items, a=a, b=b))
        per = f"{self.items} per {container}"
        return self.step(f"{person}'s {self.items}", "*", (containers, per), (a, b))

    def change(self, person: str, other: str, current: Step, social: bool) -> Step:
        """A gain or a loss of ``c >= 2`` items (a loss never empties the count). ``social`` events move
        items between the two people; they are only used while the other person's count plays no
        part, so that no count silently misses a transfer."""
        rng = self.rng
        gain = current.value < 3 or rng.random() < 0.5
        slots = {"P": person, "Q": other, "items": self.items}
        # never the event that made the current count: two quantities would share one name
        events = [
            e
            for e in (GAINS if gain else LOSSES)
            if e[1].format(**slots) != current.label and (social or "{Q}" not in e[0])
        ]
        fact, label, amount = rng.choice(events)
        top = self.spec.max_amount if gain else min(self.spec.max_amount, current.value - 1)
        c = rng.randint(2, max(2, top))
        self.facts.append(fact.format(c=c, **slots))
        op = "+" if gain else "-"
        return self.step(
            label.format(**slots), op, (current.label, amount.format(**slots)), (current.value, c)
        )

    def times(self, person: str, of: Step) -> Step:
        k = self.rng.randint(2, 3)
        fact = self.rng.choice(TIMES_FACTS)
        self.facts.append(fact.format(P=self.p, Q=person, items=self.items, k=k))
        return self.step(f"{person}'s {self.items}", "*", ("times as many", of.label), (k, of.value))

    def merge(self, a: Step, b: Step) -> tuple[Step, str]:
        """Total or difference of the two people's counts, with the question that asks for it."""
        if self.rng.random() < 0.5 or a.value == b.value:
            question = f"How many {self.items} do {self.p} and {self.q} have together?"
            return self.step(f"{self.items} together", "+", (a.label, b.label), (a.value, b.value)), question
        big, small, more, less = (a, b, self.p, self.q) if a.value > b.value else (b, a, self.q, self.p)
        question = f"How many more {self.items} does {more} have than {less}?"
        return self.step("difference", "-", (big.label, small.label), (big.value, small.value)), question

    def share(self, current: Step, subject: str) -> tuple[Step, str] | None:
        """Share equally among k friends, with k a divisor of the count (None when there is none)."""
        ks = [k for k in range(2, 10) if current.value % k == 0 and current.value // k >= 1]
        if not ks:
            return None
        k = self.rng.choice(ks)
        self.facts.append(f"{subject} the {self.items} equally among {k} friends.")
        question = f"How many {self.items} does each friend get?"
        return self.step(
            f"{self.items} per friend", "/", (current.label, "friends"), (current.value, k)
        ), question


def _draw(rng: random.Random, level: int) -> Problem | None:
    """One attempt at a problem of ``level``; None when a share has no divisor (the caller redraws)."""
    spec = LEVELS[level]
    s = _Story(rng, spec)
    a = s.groups(s.p)
    if spec.steps <= 3:  # one person's count: a chain
        a = s.change(s.p, s.q, a, social=True)
        question = f"How many {s.items} does {s.p} have now?"
        if spec.steps == 3:
            if rng.random() < 0.5:
                shared = s.share(a, f"{s.p} shares")
                if shared is None:
                    return None
                _, question = shared
            else:
                s.change(s.p, s.q, a, social=True)
    else:
        # the second person's events interleave with the first's in a random story order, so the
        # step a merge (or "k times as many") reads is not always the one just before it: which
        # earlier quantity feeds a step is what the plan names and the bare execution does not
        q_events = 2 if spec.steps >= 5 else 1
        n = 1 + q_events
        p_at = rng.randrange(n)
        b: Step | None = None
        for i in range(n):
            if i == p_at:
                a = s.change(s.p, s.q, a, social=False)
            elif b is None:
                b = s.groups(s.q) if rng.random() < 0.5 else s.times(s.q, a)
            else:
                b = s.change(s.q, s.p, b, social=False)
        assert b is not None
        total, question = s.merge(a, b)
        if spec.steps >= 6:
            shared = s.share(total, "They share")
            if shared is None:
                return None
            _, question = shared
    if s.steps[-1].value <= 0:
        return None
    return Problem(" ".join([*s.facts, question]), tuple(s.steps), level)


def generate_problem(rng: random.Random, level: int) -> Problem:
    """A problem of ``level`` (1..5) drawn from ``rng`` (redrawing the rare story a share cannot divide)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level} (valid: {', '.join(map(str, LEVELS))})")
    while True:
        problem = _draw(rng, level)
        if problem is not None:
            return problem


def evaluate_steps(steps: tuple[Step, ...] | list[Step]) -> int:
    """Execute a plan by name: every operand is a given fact (taken from the step's own arguments) or
    the label of an earlier step (taken from that step's value); returns the last value. Raises when
    a step's recorded arithmetic disagrees, so tests can check plan, execution and answer agree."""
    known: dict[str, int] = {}
    value = 0
    for step in steps:
        inputs = [known.get(name, arg) for name, arg in zip(step.operands, step.args, strict=True)]
        if tuple(inputs) != step.args:
            raise ValueError(f"step {step.goal!r}: operands {inputs} but arithmetic {step.execution!r}")
        value = _OPS[step.op](*inputs)
        if value != step.value:
            raise ValueError(f"step {step.goal!r}: {step.execution!r} but computes {value}")
        known[step.label] = value
    return value
