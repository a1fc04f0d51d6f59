"""One article: its entity, and sentences written by filling templates' slots.

Article-level slots are drawn once and kept, so an article's facts agree; sentence-level slots are
drawn afresh, so the text varies.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

from harness.corpus.synthetic.templates import TEMPLATES, TYPE_NAMES
from harness.corpus.synthetic.vocab import (
    _ANIMALS,
    _CHOICES,
    _COLORS,
    _DISCOVERY_THINGS,
    _FIELDS,
    _HABITATS,
    _INDUSTRIES,
    _MONTHS,
    _NUMBER_WORDS,
    _ORDINALS,
    _RIVER_INDUSTRIES,
    _SEASONS,
    _SP_ADJ,
    _SP_PLACE,
    _TOWN_INDUSTRIES,
    _TOWN_SUFFIXES,
    NamePools,
    _word,
)

_YEAR_RANGES = {"town": (1150, 1850), "company": (1840, 2005), "species": (1758, 1995)}
_ARTICLE_CHOICE_KEYS = frozenset(
    {"former", "river_adj", "size_adj", "landform", "landform_pl", "soil", "crop", "climate",
     "season_desc", "landmark", "meaning", "festival", "food", "parent_job", "hobby", "status",
     "children", "cargo"}
)  # fmt: skip


_YEAR_SPAN: dict[str, Any] = {  # the years a sentence about the entity may mention
    "town": lambda a: (a.slot("founded") + 20, 2020),
    "river": lambda a: (1600, 2020),
    "scientist": lambda a: (a.slot("born") + 18, a.slot("died") - 1),
    "company": lambda a: (a.slot("founded") + 1, 2023),
    "species": lambda a: (a.slot("described") + 3, 2023),
}
_OTHER_FORMAT = {
    "town": "{}",
    "river": "the {} River",
    "scientist": "{}",
    "company": "{}",
    "species": "the {}",
}


def _year(a: Article, s: dict[str, Any]) -> int:
    lo, hi = _YEAR_SPAN[a.kind](a)
    return a.rng.randint(lo, max(lo, hi))


@lru_cache(maxsize=32)
def _kind_pool(pools: NamePools, kind: str) -> tuple[str, ...]:
    """Names of the entities of one kind (species: common names; ``kind`` may be a class noun)."""
    named = {
        "town": pools.towns,
        "river": pools.rivers,
        "company": pools.companies,
        "scientist": pools.persons,
    }
    if kind in named:
        return named[kind]
    return tuple(sp[0] for sp in pools.species if kind in ("species", sp[2]))


def _other(a: Article, avoid: Any = None) -> str:
    """Another entity of the article's kind, as the article would name it."""
    pool, fmt = _kind_pool(a.pools, a.kind), _OTHER_FORMAT[a.kind]
    while True:
        name = fmt.format(a.rng.choice(pool))
        if name not in (avoid, a.values["name"]):
            return name


def _pick(a: Article, pool: tuple[str, ...], avoid: Any = None) -> str:
    while True:
        x = a.rng.choice(pool)
        if x != avoid and x != a.values.get("bare"):
            return x


def _chooser(key: str) -> Any:
    """A slot generator that picks from ``_CHOICES[key]``."""
    return lambda a: a.rng.choice(_CHOICES[key])


def _species_of(a: Article, cls: str) -> str:
    return _pick(a, _kind_pool(a.pools, cls))


# Article-level slots: drawn on first use, then fixed for the article (its facts stay consistent).
_ARTICLE_SLOTS: dict[str, Any] = {
    "region": lambda a: _pick(a, a.pools.regions),
    "region2": lambda a: _pick(a, a.pools.regions, a.slot("region")),
    "nation": lambda a: a.rng.randrange(len(a.pools.countries)),
    "country": lambda a: a.pools.countries[a.slot("nation")][0],
    "nationality": lambda a: a.pools.countries[a.slot("nation")][1],
    "lang": lambda a: f"old {a.slot('nationality')}",
    "academy": lambda a: f"{a.slot('nationality')} Academy of Sciences",
    "river": lambda a: f"the {_pick(a, a.pools.rivers)} River",
    "hq": lambda a: _pick(a, a.pools.towns),
    "birthplace": lambda a: _pick(a, a.pools.towns),
    "university": lambda a: a.rng.choice(a.pools.universities),
    "award": lambda a: a.rng.choice(a.pools.awards),
    "founder": lambda a: a.rng.choice(a.pools.persons),
    "spouse": lambda a: a.rng.choice(a.pools.persons),
    "describer": lambda a: a.rng.choice(a.pools.persons),
    "founded": lambda a: a.rng.randint(*_YEAR_RANGES[a.kind]),
    "described": lambda a: a.rng.randint(*_YEAR_RANGES["species"]),
    "died": lambda a: a.slot("born") + a.rng.randint(45, 92),
    "age": lambda a: a.slot("died") - a.slot("born"),
    "day": lambda a: a.rng.randint(1, 28),
    "pop": lambda a: a.rng.randint(800, 95_000),
    "population": lambda a: f"{a.slot('pop'):,}",
    "pop_old": lambda a: f"{int(a.slot('pop') * a.rng.uniform(0.6, 0.95)):,}",
    "census_year": lambda a: a.rng.choice((2001, 2011, 2021)),
    "old_census_year": lambda a: a.slot("census_year") - 10 * a.rng.randint(1, 3),
    "area": lambda a: a.rng.randint(5, 240),
    "elevation": lambda a: a.rng.randint(40, 1900),
    "km": lambda a: a.rng.randint(25, 900),
    "length": lambda a: f"{a.slot('km'):,}",
    "basin": lambda a: f"{a.slot('km') * a.rng.randint(20, 60):,}",
    "discharge": lambda a: a.rng.randint(5, 900),
    "source_place": lambda a: f"the {a.rng.choice(a.pools.hills)} {a.rng.choice(('Hills', 'Mountains'))}",
    "mountains": lambda a: f"{a.rng.choice(a.pools.hills)} Mountains",
    "peak": lambda a: f"Mount {a.rng.choice(a.pools.hills)}",
    "mouth": lambda a: a.rng.choice(a.pools.waters),
    "tributary": lambda a: _pick(a, a.pools.rivers),
    "tributary2": lambda a: _pick(a, a.pools.rivers, a.slot("tributary")),
    "fish": lambda a: _species_of(a, "fish"),
    "fish2": lambda a: _species_of(a, "fish"),
    "bird": lambda a: _species_of(a, "bird"),
    "old_name": lambda a: _word(a.rng, 2, 2),
    "industry": lambda a: a.rng.choice(_TOWN_INDUSTRIES if a.kind == "town" else _RIVER_INDUSTRIES),
    "industry2": lambda a: a.rng.choice(_TOWN_INDUSTRIES),
    "topic": lambda a: a.rng.choice(a.values["topics"]),
    "discovery": lambda a: f"the {a.values['short']} {a.rng.choice(_DISCOVERY_THINGS)}",
    "book": lambda a: a.rng.choice(("Principles of {}", "Elements of {}", "Lectures on {}")).format(
        a.values["field"].capitalize()
    ),
    "product": lambda a: a.rng.choice(a.values["products"]),
    "product2": lambda a: _pick(a, a.values["products"], a.slot("product")),
    "employees": lambda a: f"{a.rng.randint(40, 60_000):,}",
    "revenue": lambda a: f"{a.rng.randint(5, 9_000):,}",
    "n_countries": lambda a: a.rng.randint(2, 40),
    "size_lo": lambda a: a.rng.randint(2, 30),
    "size_hi": lambda a: a.slot("size_lo") + a.rng.randint(2, 25),
    "color": lambda a: a.rng.choice(_COLORS),
    "color2": lambda a: _pick(a, _COLORS, a.slot("color")),
    "habitat": lambda a: a.rng.choice(_HABITATS),
    "diet": lambda a: a.rng.choice(a.values["diets"]),
    "season": lambda a: a.rng.choice(_SEASONS),
    "clutch": lambda a: a.rng.randint(2, 12),
    "days": lambda a: a.rng.randint(10, 40),
    "weeks": lambda a: a.rng.randint(2, 12),
    "group": lambda a: a.rng.randint(5, 40),
    "genus2": lambda a: _word(a.rng, 2, 2) + "us",
    "n_species": lambda a: a.rng.randint(3, 120),
    "other_binomial": lambda a: a.rng.choice(a.pools.species)[1],
    "council": lambda a: a.rng.randint(7, 31),
    "n_schools": lambda a: a.rng.choice(_NUMBER_WORDS),
    "n_papers": lambda a: a.rng.choice((30, 50, 80, 100, 150, 200)),
    "n_dams": lambda a: a.rng.choice(_NUMBER_WORDS),
    "ordinal": lambda a: a.rng.choice(_ORDINALS),
    "rain": lambda a: a.rng.randint(350, 1600),
    "threat": lambda a: a.rng.choice(_CHOICES["threat"]),
    "threat2": lambda a: _pick(a, _CHOICES["threat"], a.slot("threat")),
    **{k: _chooser(k) for k in _ARTICLE_CHOICE_KEYS},
}

# Sentence-level slots: drawn afresh in every sentence (shared only within one sentence).
_SENTENCE_SLOTS: dict[str, Any] = {
    "year": _year,
    "year2": lambda a, s: s["year"] + a.rng.randint(2, 20),
    "person": lambda a, s: a.rng.choice(a.pools.persons),
    "other": lambda a, s: _other(a),
    "other2": lambda a, s: _other(a, s["other"]),
    "other_town": lambda a, s: _pick(a, a.pools.towns),
    "other_town2": lambda a, s: _pick(a, a.pools.towns, s["other_town"]),
    "other_river": lambda a, s: f"the {_pick(a, a.pools.rivers)} River",
    "distance": lambda a, s: a.rng.randint(3, 120),
    "month": lambda a, s: a.rng.choice(_MONTHS),
    "temp": lambda a, s: a.rng.randint(-5, 26),
    "percent": lambda a, s: a.rng.randint(5, 85),
    **{
        k: (lambda a, s, f=_chooser(k): f(a))
        for k in _CHOICES
        if k not in _ARTICLE_CHOICE_KEYS and k != "threat"
    },
}


class _Slots(dict):
    """The ``format_map`` mapping of one sentence: fills each slot on first use."""

    def __init__(self, article: Article):
        super().__init__()
        self.article = article

    def __missing__(self, key: str) -> Any:
        gen = _SENTENCE_SLOTS.get(key)
        value = gen(self.article, self) if gen is not None else self.article.slot(key)
        self[key] = value
        return value


class Article:
    """One entity and the facts drawn for it so far; ``write`` fills a template from them."""

    def __init__(self, kind: str, rng: random.Random, pools: NamePools):
        self.kind, self.rng, self.pools = kind, rng, pools
        self.used: set[str] = set()
        self.values: dict[str, Any] = getattr(self, f"_{kind}")()
        self.values.setdefault("noun_pl", self.values["noun"] + "s")

    def slot(self, key: str) -> Any:
        if key not in self.values:
            try:
                gen = _ARTICLE_SLOTS[key]
            except KeyError:
                raise KeyError(f"synthetic template slot {{{key}}} is not defined") from None
            self.values[key] = gen(self)
        return self.values[key]

    def write(self, template: str) -> str:
        return template.format_map(_Slots(self))

    def write_type(self, type_id: int) -> str:
        """A sentence of the given type, from a template this article has not used yet if one is
        left (a repeated type reads as new content, not as a copied sentence)."""
        by_kind = TEMPLATES[TYPE_NAMES[type_id]]
        options = by_kind.get(self.kind) or by_kind["*"]
        fresh = [t for t in options if t not in self.used]
        template = self.rng.choice(fresh or options)
        self.used.add(template)
        return self.write(template)

    # identities: what every sentence about the entity needs
    def _town(self) -> dict[str, Any]:
        bare = _word(self.rng) + self.rng.choice(_TOWN_SUFFIXES)
        noun = self.rng.choice(("town", "town", "market town", "village", "port town"))
        return {"bare": bare, "name": bare, "Name": bare, "noun": noun}

    def _river(self) -> dict[str, Any]:
        bare = _word(self.rng, 2, 2) + self.rng.choice(("a", "e", "o", ""))
        return {"bare": bare, "name": f"the {bare} River", "Name": f"The {bare} River", "noun": "river"}

    def _scientist(self) -> dict[str, Any]:
        first, short = _word(self.rng, 2, 2), _word(self.rng)
        field, noun, topics = self.rng.choice(_FIELDS)
        he = self.rng.random() < 0.5
        pron, poss = ("he", "his") if he else ("she", "her")
        return {
            "name": f"{first} {short}", "Name": f"{first} {short}", "short": short, "noun": noun,
            "field": field, "topics": topics, "born": self.rng.randint(1760, 1940),
            "pron": pron, "Pron": pron.capitalize(), "poss": poss, "Poss": poss.capitalize(),
            "child": "son" if he else "daughter",
        }  # fmt: skip

    def _company(self) -> dict[str, Any]:
        bare = _word(self.rng, 2, 2)
        industry, suffix, products = self.rng.choice(_INDUSTRIES)
        name = f"{bare} {suffix}"
        return {
            "bare": bare, "name": name, "Name": name, "noun": "company", "noun_pl": "companies",
            "industry": industry, "suffix": suffix, "products": products,
        }  # fmt: skip

    def _species(self) -> dict[str, Any]:
        animal, cls, cls_pl, diets = self.rng.choice(_ANIMALS)
        common = f"{self.rng.choice(_SP_ADJ)} {self.rng.choice(_SP_PLACE)} {animal}"
        genus = _word(self.rng, 2, 2) + self.rng.choice(("a", "us", "is"))
        epithet = _word(self.rng, 2, 2).lower() + self.rng.choice(("ensis", "ica", "ata", "ii"))
        return {
            "name": f"the {common}", "Name": f"The {common}", "noun": cls, "noun_pl": cls_pl,
            "genus": genus, "epithet": epithet, "binomial": f"{genus} {epithet}", "bare": genus,
            "family": f"{genus[:-2].rstrip('aeiou') or genus}idae", "diets": diets,
        }  # fmt: skip
