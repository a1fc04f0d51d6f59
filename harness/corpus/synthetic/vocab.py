"""Word tables the slots draw from, and ``NamePools``: the made-up entities every article shares."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st",
           "t", "tr", "v", "z", "th", "sk", "c", "w")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ei", "au")
_CODAS = ("", "", "", "n", "r", "l", "s", "m", "nd", "rk", "th", "st")
_TOWN_SUFFIXES = ("", "", "", "holm", "ford", "by", "stad", "wick", "mere", "burg", "dal")
_FIELDS = (  # field, person noun, topics
    ("physics", "physicist", ("heat conduction", "optics", "magnetism", "crystal structure")),
    ("chemistry", "chemist", ("dyes", "catalysis", "metal salts", "organic acids")),
    ("botany", "botanist", ("mosses", "seed dispersal", "alpine plants", "plant diseases")),
    ("astronomy", "astronomer", ("variable stars", "comets", "the motion of planets", "star clusters")),
    ("geology", "geologist", ("glaciers", "volcanic rocks", "fossil beds", "earthquakes")),
    ("mathematics", "mathematician", ("number theory", "geometry", "probability", "series")),
)
_DISCOVERY_THINGS = ("effect", "equation", "reaction", "principle", "cycle", "constant", "method")
_INDUSTRIES = (  # industry, name suffix, products
    ("engineering", "Works", ("pumps", "turbines", "gearboxes", "cranes")),
    ("textile", "Textiles", ("woollen cloth", "carpets", "linen", "uniforms")),
    ("food", "Foods", ("canned fish", "biscuits", "dairy products", "sausages")),
    ("electronics", "Systems", ("radios", "sensors", "control panels", "cables")),
    ("automotive", "Motors", ("trucks", "tractors", "engines", "buses")),
    ("chemical", "Industries", ("paints", "fertilisers", "plastics", "detergents")),
    ("optical", "Instruments", ("microscopes", "lenses", "cameras", "telescopes")),
)
_ANIMALS = (  # animal, class noun, its plural, diets
    ("heron", "bird", "birds", ("fish", "frogs", "insects")),
    ("finch", "bird", "birds", ("seeds", "berries", "insects")),
    ("owl", "bird", "birds", ("mice", "voles", "large insects")),
    ("beetle", "insect", "insects", ("rotting wood", "leaves", "fungi")),
    ("moth", "insect", "insects", ("nectar", "leaves", "lichens")),
    ("frog", "amphibian", "amphibians", ("insects", "worms", "spiders")),
    ("salamander", "amphibian", "amphibians", ("worms", "snails", "insect larvae")),
    ("trout", "fish", "fish", ("insect larvae", "small fish", "shrimps")),
    ("carp", "fish", "fish", ("water plants", "snails", "insect larvae")),
    ("lizard", "reptile", "reptiles", ("insects", "spiders", "beetles")),
)
_SP_ADJ = ("spotted", "striped", "crested", "lesser", "greater", "golden", "dusky", "painted", "red",
           "black", "pale", "banded")  # fmt: skip
_SP_PLACE = ("marsh", "mountain", "river", "forest", "meadow", "cave", "coastal", "desert", "valley")
_HABITATS = ("wet forests", "mountain streams", "coastal marshes", "dry grasslands", "river valleys",
             "limestone caves", "highland moors", "lowland lakes")  # fmt: skip
_COLORS = ("brown", "grey", "olive", "black", "yellow", "reddish", "pale blue", "dark green", "white")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_SEASONS = ("spring", "early summer", "late summer", "autumn", "winter")
_NUMBER_WORDS = ("two", "three", "four", "five", "six", "seven", "eight")
_ORDINALS = ("second", "third", "fourth", "fifth", "sixth", "seventh")
_CHOICES: dict[str, tuple[str, ...]] = {
    "former": ("mining settlement", "fishing village", "garrison post", "trading post", "monastery estate"),
    "river_adj": ("long", "short", "fast flowing", "slow", "winding", "shallow"),
    "size_adj": ("large", "small", "mid sized", "family owned", "state owned"),
    "direction": ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"),
    "bank": ("left", "right", "northern", "southern", "eastern", "western"),
    "landform": ("lowlands", "foothills", "upper valley", "coastal plain", "central plateau"),
    "landform_pl": ("rolling hills", "pine forests", "wet meadows", "vineyards", "open fields"),
    "soil": ("clay", "sand", "loam", "peat", "chalk"),
    "crop": ("wheat", "barley", "potatoes", "grapes", "sugar beet", "rye"),
    "climate": ("mild", "temperate", "continental", "dry", "humid", "cool maritime"),
    "season_desc": (
        "warm summers and cold winters",
        "mild winters and wet springs",
        "short summers and long snowy winters",
        "hot dry summers",
    ),
    "disaster": ("fire", "flood", "storm", "earthquake", "plague"),
    "conflict": ("war", "uprising", "siege", "civil war", "border dispute"),
    "crisis": ("banking crisis", "oil crisis", "depression", "trade war"),
    "built": ("railway line", "paper mill", "brewery", "harbour", "bridge", "steel works"),
    "landmark": ("castle", "church", "town hall", "market hall", "watermill", "stone bridge", "abbey"),
    "festival": ("music", "folk dance", "flowers", "wine", "lanterns", "boats"),
    "food": ("smoked fish", "river crayfish", "sour rye bread", "plum dumplings", "goat cheese"),
    "cargo": ("timber", "coal", "salt", "grain", "iron ore"),
    "profession": ("painter", "poet", "composer", "engineer", "architect", "novelist", "singer"),
    "meaning": (
        "high meadow",
        "cold water",
        "stone bridge",
        "willow bank",
        "bright hill",
        "eastern harbour",
        "black ford",
        "deep valley",
        "swift stream",
        "oak grove",
    ),
    "sample": ("rocks", "plants", "insects", "measurements", "fossils"),
    "parent_job": ("farmer", "teacher", "merchant", "doctor", "clockmaker", "priest", "miller"),
    "hobby": ("climber", "sailor", "chess player", "violinist", "gardener", "walker"),
    "virtue": ("patience", "good luck", "courage", "wisdom", "loyalty"),
    "time_of_day": ("dawn", "dusk", "night", "midday"),
    "status": ("vulnerable", "endangered", "near threatened", "least concern"),
    "threat": (
        "drainage of wetlands",
        "forestry",
        "pollution",
        "new roads",
        "introduced predators",
        "climate change",
    ),
    "children": _NUMBER_WORDS[:4],
}
_TOWN_INDUSTRIES = ("farming", "tourism", "forestry", "fishing", "brewing", "textiles", "machine building")
_RIVER_INDUSTRIES = ("paper mills", "mines", "farms", "chemical plants", "sawmills")

# -- name pools ---------------------------------------------------------------------------------


def _word(rng: random.Random, lo: int = 2, hi: int = 3) -> str:
    """A made-up, pronounceable name: consonant-vowel syllables with a closing consonant cluster."""
    n = rng.randint(lo, hi)
    body = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n))
    return (body + rng.choice(_CODAS)).capitalize()


def _distinct(rng: random.Random, make: Any, n: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(make(rng), None)
    return tuple(seen)


@dataclass(frozen=True)
class NamePools:
    """The world the articles share (towns, people, regions…), fixed by ``plan_seed`` so that
    articles cross-reference the same entities, as an encyclopedia does."""

    towns: tuple[str, ...]
    rivers: tuple[str, ...]
    persons: tuple[str, ...]
    companies: tuple[str, ...]
    regions: tuple[str, ...]
    countries: tuple[tuple[str, str], ...]  # (country, adjective)
    universities: tuple[str, ...]
    awards: tuple[str, ...]
    hills: tuple[str, ...]
    waters: tuple[str, ...]
    species: tuple[tuple[str, str, str], ...]  # (common name, binomial, class noun)

    @staticmethod
    @lru_cache(maxsize=4)
    def build(plan_seed: int) -> NamePools:
        rng = random.Random(f"planeval-synthetic-pools:{plan_seed}")
        towns = _distinct(rng, lambda r: _word(r) + r.choice(_TOWN_SUFFIXES), 240)
        persons = _distinct(rng, lambda r: f"{_word(r, 2, 2)} {_word(r)}", 320)
        bases = _distinct(rng, lambda r: _word(r, 2, 2).rstrip("aeiou"), 10)
        species = _distinct(
            rng,
            lambda r: "|".join(
                (
                    f"{r.choice(_SP_ADJ)} {r.choice(_SP_PLACE)} {(a := r.choice(_ANIMALS))[0]}",
                    f"{_word(r, 2, 2)}{r.choice(('a', 'us', 'is'))} "
                    f"{_word(r, 2, 2).lower()}{r.choice(('ensis', 'ica', 'ata', 'ii'))}",
                    a[1],
                )
            ),
            80,
        )
        return NamePools(
            towns=towns,
            rivers=_distinct(rng, lambda r: _word(r, 2, 2) + r.choice(("a", "e", "o", "")), 100),
            persons=persons,
            companies=_distinct(rng, lambda r: f"{_word(r, 2, 2)} {r.choice(_INDUSTRIES)[1]}", 90),
            regions=_distinct(rng, _word, 30),
            countries=tuple((f"{b}ia", f"{b}ian") for b in bases),
            universities=tuple(f"the University of {t}" for t in towns[:24]),
            awards=tuple(f"{p.split()[1]} {rng.choice(('Medal', 'Prize'))}" for p in persons[-20:]),
            hills=_distinct(rng, lambda r: _word(r, 2, 2), 24),
            waters=_distinct(rng, lambda r: r.choice(("Lake {}", "the {} Sea")).format(_word(r, 2, 2)), 16),
            species=tuple(tuple(s.split("|")) for s in species),  # type: ignore[misc]
        )
