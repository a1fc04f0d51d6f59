"""Word tables for the arithmetic word problems: pure data, so adding a name or an item is a data edit."""

from __future__ import annotations

NAMES: tuple[str, ...] = (
    "Mia", "Sam", "Leo", "Ava", "Ben", "Zoe", "Max", "Ivy", "Tom", "Eva", "Noah", "Lily", "Omar", "Nina",
    "Jack", "Ruby", "Alex", "Emma", "Finn", "Rosa",
)  # fmt: skip

#: (singular, plural) of the things counted
ITEMS: tuple[tuple[str, str], ...] = (
    ("apple", "apples"), ("pencil", "pencils"), ("sticker", "stickers"), ("marble", "marbles"),
    ("cookie", "cookies"), ("coin", "coins"), ("card", "cards"), ("shell", "shells"), ("egg", "eggs"),
    ("book", "books"), ("balloon", "balloons"), ("candle", "candles"),
)  # fmt: skip

#: (singular, plural) of what holds them
CONTAINERS: tuple[tuple[str, str], ...] = (
    ("box", "boxes"), ("bag", "bags"), ("pack", "packs"), ("jar", "jars"), ("basket", "baskets"),
    ("crate", "crates"), ("tray", "trays"), ("tin", "tins"),
)  # fmt: skip

#: ways to state "a containers with b items each"; slots: P C Cs items a b
GROUP_FACTS: tuple[str, ...] = (
    "{P} buys {a} {Cs} of {items}. Each {C} holds {b} {items}.",
    "{P} has {a} {Cs} with {b} {items} in each {C}.",
    "{P} fills {a} {Cs} with {b} {items} each.",
    "There are {b} {items} in each of {P}'s {a} {Cs}.",
)

#: events that add to a count: (fact, label of the new count, name of the added amount); slots: P Q items c
GAINS: tuple[tuple[str, str, str], ...] = (
    ("Then {Q} gives {P} {c} more {items}.", "{P}'s {items} after the gift", "{items} from {Q}"),
    ("{P} finds {c} more {items}.", "{P}'s {items} after finding more", "{items} found"),
    ("{P} wins {c} more {items} in a game.", "{P}'s {items} after the game", "{items} won"),
)

#: events that take from a count: (fact, label, name of the removed amount)
LOSSES: tuple[tuple[str, str, str], ...] = (
    ("{P} gives {c} {items} to {Q}.", "{P}'s {items} left", "{items} given away"),
    ("{P} sells {c} of the {items}.", "{P}'s {items} after selling", "{items} sold"),
    ("{P} loses {c} {items} on the way home.", "{P}'s {items} after the loss", "{items} lost"),
)

#: "Q has k times as many as P"; slots: P Q items k
TIMES_FACTS: tuple[str, ...] = (
    "{Q} has {k} times as many {items} as {P} has now.",
    "{Q} collects {k} times as many {items} as {P} has now.",
)
