"""The embedded default corpus: encyclopedia-like articles with a planted plan.

Each article describes a made-up entity (a town, a river, a scientist, a company or a species) and is
written by a first-order Markov chain over sentence types — its ground-truth writing actions. Every
type has several templates whose slots are filled from the article's entity (so the article is
coherent) and from fresh draws (so the text varies). Because the true actions are known, planner
models and action taggers can be checked against the truth, which no natural corpus offers.

Two seeds: ``plan_seed`` fixes the plan (transition weights, name pools) so that corpora drawn with
different ``CorpusSpec.seed`` values share one plan; the corpus seed (plus ``seed_offset``) draws the
articles. Article ``i`` depends only on the seeds and ``i``: a smaller corpus is a prefix of a larger.
Lengths are kept in ``[min_sentences, max_sentences]`` by conditioning the chain on ending in that
range (exact, by backward recursion) rather than by truncation, so the plan stays Markov.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import Field, model_validator

from harness.corpus.base import CorpusSource, Document, SourceParams, corpus_sources
from harness.errors import PlanevalError

END = -1  # the end state of the chain

# -- sentence types, section orders and templates -------------------------------------------------

KINDS: tuple[str, ...] = ("town", "river", "scientist", "company", "species")

# Ids are indices. The first eight are shared by every kind (history repeats), so any n_types >= 8
# still lets every kind write articles of any length.
TYPE_NAMES: tuple[str, ...] = (
    "intro", "see_also", "history", "origin", "location", "size", "etymology", "notable_person",
    "geography", "climate", "economy", "culture", "transport", "leadership", "education", "career",
    "discovery", "publication", "award", "death", "personal_life", "products", "acquisition",
    "tributaries", "wildlife", "hydrology", "taxonomy", "appearance", "behaviour", "reproduction",
    "conservation", "legacy",
)  # fmt: skip

# Each kind's canonical section order: the chain mostly moves forward along it.
ORDERS: dict[str, tuple[str, ...]] = {
    "town": ("intro", "etymology", "location", "geography", "climate", "origin", "history", "size",
             "economy", "leadership", "transport", "education", "culture", "notable_person", "award",
             "see_also"),
    "river": ("intro", "etymology", "location", "origin", "geography", "tributaries", "size",
              "hydrology", "climate", "wildlife", "history", "transport", "culture", "notable_person",
              "conservation", "see_also"),
    "scientist": ("intro", "origin", "education", "career", "history", "discovery", "publication",
                  "award", "personal_life", "death", "legacy", "see_also"),
    "company": ("intro", "origin", "etymology", "location", "history", "products", "size", "economy",
                "leadership", "acquisition", "award", "notable_person", "legacy", "see_also"),
    "species": ("intro", "taxonomy", "etymology", "origin", "appearance", "size", "location",
                "behaviour", "reproduction", "history", "culture", "conservation", "see_also"),
}  # fmt: skip

REPEATABLE = frozenset(
    {"history", "notable_person", "career", "discovery", "products", "behaviour", "tributaries", "culture"}
)

_T = dict[str, tuple[str, ...]]

TEMPLATES: dict[str, _T] = {
    "intro": {
        "town": (
            "{Name} is a {noun} in {region}, {country}.",
            "{Name} is a small {noun} on the banks of {river} in {region}.",
            "{Name} is a {noun} and former {former} in the {nationality} province of {region}.",
            "{Name} is a {noun} in the district of {region}, about {distance} kilometres {direction} of "
            "{other_town}.",
        ),
        "river": (
            "{Name} is a river in {region}, {country}.",
            "{Name} is a {river_adj} river that flows through {region} into {mouth}.",
            "{Name} is a {river_adj} river in the {nationality} province of {region}.",
            "{Name} is one of the principal rivers of {region}.",
        ),
        "scientist": (
            "{Name} ({born} to {died}) was a {nationality} {noun} known for {poss} work on {topic}.",
            "{Name} was a {nationality} {noun} and professor at {university}.",
            "{Name} ({born} to {died}) was a {noun} who worked mainly on {topic}.",
            "{Name} was a {nationality} {noun} best known for describing {discovery}.",
        ),
        "company": (
            "{Name} is a {nationality} {industry} company based in {hq}.",
            "{Name} is a {industry} company founded in {founded} by {founder}.",
            "{Name} is a maker of {product} and {product2} with its head office in {hq}, {country}.",
            "{Name} is a {size_adj} {industry} firm with operations across {region}.",
        ),
        "species": (
            "{Name} ({binomial}) is a species of {noun} in the family {family}.",
            "{Name} is a {noun} found in the {habitat} of {region}.",
            "{binomial}, commonly known as {name}, is a species of {noun} native to {region}.",
            "{Name} is a small {noun} of the family {family}.",
        ),
    },
    "see_also": {
        "*": (
            "See also the list of {noun_pl} in {region}.",
            "For related topics, see {other} and {other2}.",
            "{Name} is listed among the {noun_pl} of {country}.",
            "Further information can be found in the articles on {other} and {region}.",
            "Related articles include those on {other} and {other2}.",
        ),
    },
    "history": {
        "town": (
            "In {year}, much of {name} was destroyed by a {disaster}.",
            "During the {conflict} of {year}, {name} was occupied by troops from {other_town}.",
            "The town grew rapidly after {year}, when a {built} was built near the centre.",
            "In {year}, {name} was granted a market charter by the council of {region}.",
            "The old {landmark} of {name} was restored in {year}.",
        ),
        "river": (
            "In {year}, a severe flood on {name} damaged several villages along its banks.",
            "During the {conflict} of {year}, the river formed the border between {region} and {region2}.",
            "The first survey of the river was carried out by {person} in {year}.",
            "In {year}, a canal was dug to connect {name} with {other_river}.",
        ),
        "scientist": (
            "During the {conflict} of {year}, {short} worked on {topic} for the government of {country}.",
            "In {year}, {short} moved to {other_town} to join the laboratory of {person}.",
            "{short} spent the year {year} travelling through {region2} to collect {sample}.",
            "In {year}, {short} was elected a member of the {academy}.",
        ),
        "company": (
            "In {year}, the company opened its first factory in {other_town}.",
            "During the {crisis} of {year}, {name} nearly went bankrupt.",
            "In {year}, {name} was listed on the stock exchange of {country}.",
            "A fire in {year} destroyed the original workshop of the company in {hq}.",
        ),
        "species": (
            "In {year}, a large population of {name} was recorded near {other_town}.",
            "The {noun} was thought to be extinct until it was rediscovered in {year}.",
            "In {year}, {person} collected the first living specimens for the museum of {other_town}.",
            "Numbers of the {noun} fell sharply after a drought in {year}.",
        ),
    },
    "origin": {
        "town": (
            "{Name} was founded in {founded} by settlers from {other_town}.",
            "The settlement was first mentioned in a charter of {founded}.",
            "{Name} was established in {founded} as a {former}.",
            "According to local records, {name} dates back to {founded}.",
        ),
        "river": (
            "{Name} rises in {source_place} at an elevation of {elevation} metres.",
            "The river has its source in {source_place}, near the village of {other_town}.",
            "{Name} begins at the meeting of two streams below {source_place}.",
        ),
        "scientist": (
            "{Name} was born in {birthplace} on {day} {month} {born}.",
            "{short} was born in {born} in {birthplace}, the {child} of a {parent_job}.",
            "{Pron} was born in {birthplace} in {born} and grew up in {region}.",
        ),
        "company": (
            "The company was founded in {founded} by {founder} in {hq}.",
            "{Name} was established in {founded} as a small workshop producing {product}.",
            "{founder} started the business in {founded} with a loan from a bank in {other_town}.",
        ),
        "species": (
            "The species was first described by {describer} in {described}.",
            "{Name} was formally described in {described} from specimens collected in {region}.",
            "{describer} published the first description of the {noun} in {described}.",
        ),
    },
    "location": {
        "town": (
            "{Name} lies {distance} kilometres {direction} of {other_town}.",
            "The town is located on the {bank} bank of {river}.",
            "{Name} is situated in the {landform} of {region}, close to the border with {region2}.",
            "The town lies at an elevation of {elevation} metres above sea level.",
        ),
        "river": (
            "{Name} flows through the provinces of {region} and {region2}.",
            "The river drains a large part of {region}.",
            "{Name} runs {direction} from the hills of {region} towards {mouth}.",
        ),
        "company": (
            "The head office of {name} is located in {hq}, {country}.",
            "The company has offices in {hq} and {other_town}.",
            "Its main production site is near {other_town} in {region}.",
        ),
        "species": (
            "The {noun} is found throughout {region} and parts of {region2}.",
            "Its range extends from {region} to the shores of {mouth}.",
            "The species is endemic to the {habitat} of {region}.",
        ),
    },
    "size": {
        "town": (
            "At the census of {census_year}, {name} had a population of {population}.",
            "The population of the town was {population} in {census_year}, up from {pop_old} in "
            "{old_census_year}.",
            "{Name} has about {population} inhabitants.",
            "The town covers an area of {area} square kilometres.",
        ),
        "river": (
            "{Name} is {length} kilometres long.",
            "The river has a total length of {length} kilometres and a basin of {basin} square kilometres.",
            "With a length of {length} kilometres, it is the {ordinal} longest river in {region}.",
        ),
        "company": (
            "{Name} employs about {employees} people.",
            "In {year}, the company had {employees} employees in {n_countries} countries.",
            "The workforce of {name} grew to {employees} by {year}.",
        ),
        "species": (
            "Adults measure between {size_lo} and {size_hi} centimetres in length.",
            "The {noun} reaches a length of up to {size_hi} centimetres.",
            "It is one of the smallest members of its family, with a body length of about {size_lo} "
            "centimetres.",
        ),
    },
    "etymology": {
        "*": ("The name {bare} comes from the {lang} word for {meaning}.",),
        "town": (
            "The name {bare} is derived from an old word meaning {meaning}.",
            "The name of the town comes from the {lang} words for {meaning}.",
            "{Name} takes its name from the {landmark} that once stood at its centre.",
            "The origin of the name {bare} is uncertain, but it may mean {meaning}.",
        ),
        "river": (
            "The name {bare} comes from the {lang} word for {meaning}.",
            "On older maps the river is called the {old_name}.",
            "Its name is thought to mean {meaning} in the local dialect.",
        ),
        "company": (
            "The name {bare} was chosen by {founder} after a village near {hq}.",
            "The company name combines the {lang} words for {meaning}.",
            "Until {year}, the company traded under the name {old_name} {suffix}.",
        ),
        "species": (
            "The genus name {genus} is derived from the {lang} word for {meaning}.",
            "The specific name {epithet} refers to {region}, where the first specimen was found.",
            "The common name refers to the {color} markings on its back.",
        ),
    },
    "notable_person": {
        "*": ("The {profession} {person} is closely associated with {name}.",),
        "town": (
            "The painter {person} was born in {name} in {year}.",
            "{person}, a well known {profession}, lived in the town for many years.",
            "Notable people from {name} include the {profession} {person}.",
        ),
        "river": (
            "The poet {person} wrote several works about {name}.",
            "{person} was the first to travel the whole length of the river in {year}.",
            "The explorer {person} mapped the lower course of the river.",
        ),
        "company": (
            "{person} served as chief engineer of the company from {year} to {year2}.",
            "The designer {person} created many of its best known products.",
            "{person}, a former employee, later founded the rival firm {other}.",
        ),
    },
    "geography": {
        "town": (
            "The town is surrounded by {landform_pl} and small lakes.",
            "{Name} lies in a wide valley between the {mountains} and {river}.",
            "The soil around the town is mainly {soil} and well suited to {crop}.",
            "The highest point in the area is {peak}, at {elevation} metres.",
        ),
        "river": (
            "In its upper course, {name} flows through narrow gorges and dense forest.",
            "The river passes through {other_town} and {other_town2} before reaching the plain.",
            "Below {other_town}, the valley widens and the river forms several large meanders.",
            "The lower course of the river crosses a broad plain of {soil} soils.",
        ),
    },
    "climate": {
        "town": (
            "{Name} has a {climate} climate with {season_desc}.",
            "The average temperature in {month} is {temp} degrees Celsius.",
            "Annual rainfall in the town is about {rain} millimetres.",
        ),
        "river": (
            "The river basin has a {climate} climate with most rain falling in {season}.",
            "In dry summers, parts of the river can fall to very low levels.",
            "Melting snow in {season} causes the highest water levels of the year.",
        ),
    },
    "economy": {
        "town": (
            "The economy of {name} is based mainly on {industry} and {industry2}.",
            "Many residents work in {other_town}, which lies within commuting distance.",
            "A weekly market has been held in the town since {year}.",
            "Tourism has become an important source of income for the town.",
        ),
        "company": (
            "In {year}, {name} reported revenue of {revenue} million crowns.",
            "The company sells most of its products in {region} and {region2}.",
            "Its main competitors are {other} and {other2}.",
            "About {percent} percent of its revenue comes from exports.",
        ),
    },
    "culture": {
        "town": (
            "Every {month}, the town hosts a festival of {festival}.",
            "The {landmark} is the best known building in {name}.",
            "{Name} has a small museum devoted to the history of {region}.",
            "A local dish made of {food} is considered a speciality of the town.",
        ),
        "river": (
            "{Name} appears in many folk songs of {region}.",
            "The painter {person} made the river the subject of a series of landscapes.",
            "A festival is held on the banks of the river every {month}.",
        ),
        "species": (
            "The {noun} appears on the coat of arms of {other_town}.",
            "In the folklore of {region}, the {noun} is a symbol of {virtue}.",
            "The {noun} is a popular subject for wildlife photographers in {region}.",
        ),
    },
    "transport": {
        "town": (
            "{Name} has a railway station on the line from {other_town} to {other_town2}.",
            "The town is served by buses to {other_town}.",
            "A bridge over {river} was built in {year}.",
            "The nearest airport is at {other_town}, about {distance} kilometres away.",
        ),
        "river": (
            "{Name} is navigable by small boats as far as {other_town}.",
            "Cargo barges carried {cargo} down the river until {year}.",
            "Several ferries cross the river between {other_town} and {other_town2}.",
        ),
    },
    "leadership": {
        "town": (
            "The town is governed by a council of {council} members led by a mayor.",
            "Since {year}, the mayor of {name} has been {person}.",
            "{Name} is the administrative centre of the district of {region}.",
        ),
        "company": (
            "The chief executive of {name} is {person}.",
            "Since {year}, the company has been led by {person}.",
            "{person} succeeded {founder} as head of the company in {year}.",
        ),
    },
    "education": {
        "town": (
            "{Name} has {n_schools} primary schools and one secondary school.",
            "A technical college was opened in the town in {year}.",
            "Students from the surrounding villages attend school in {name}.",
        ),
        "scientist": (
            "{short} studied {field} at {university}.",
            "{Pron} studied at {university} under {person}.",
            "After finishing school in {birthplace}, {short} entered {university} in {year}.",
            "{Pron} received a doctorate from {university} in {year}.",
        ),
    },
    "career": {
        "scientist": (
            "In {year}, {short} became professor of {field} at {university}.",
            "{short} worked for several years at the observatory in {other_town}.",
            "From {year} to {year2}, {pron} led the research institute of {region}.",
            "{short} spent most of {poss} career at {university}.",
        ),
    },
    "discovery": {
        "scientist": (
            "{short} is best known for the discovery of {discovery}.",
            "In {year}, {short} first described {discovery}.",
            "{Poss} experiments on {topic} led to the discovery of {discovery}.",
            "{short} also made important contributions to the study of {topic}.",
        ),
    },
    "publication": {
        "scientist": (
            "In {year}, {short} published {book}.",
            "{Poss} book {book} appeared in {year} and was widely read.",
            "{short} wrote more than {n_papers} papers on {topic}.",
        ),
    },
    "award": {
        "town": (
            "In {year}, {name} was named the most attractive {noun} in {region}.",
            "The old centre of {name} was declared a protected site in {year}.",
            "{Name} received a national prize for its public gardens in {year}.",
        ),
        "scientist": (
            "{short} received the {award} in {year}.",
            "In {year}, {pron} was awarded the {award} for {poss} work on {topic}.",
            "{short} was elected to the {academy} in {year}.",
        ),
        "company": (
            "In {year}, {name} received the {award} for its {product}.",
            "The company has won several national design awards.",
            "{Name} was named employer of the year in {region} in {year}.",
        ),
    },
    "death": {
        "scientist": (
            "{short} died in {other_town} in {died} at the age of {age}.",
            "{Pron} died in {died} after a long illness.",
            "{short} died in {died} and was buried in {birthplace}.",
        ),
    },
    "personal_life": {
        "scientist": (
            "{short} married {spouse} in {year}, and they had {children} children.",
            "{Pron} was a keen {hobby} throughout {poss} life.",
            "{short} lived in {other_town} for most of {poss} later life.",
        ),
    },
    "products": {
        "company": (
            "The best known product of {name} is its range of {product}.",
            "The company also makes {product2} for the {industry2} industry.",
            "In {year}, {name} introduced a new line of {product}.",
            "{Name} produces {product} at its plant in {other_town}.",
        ),
    },
    "acquisition": {
        "company": (
            "In {year}, {name} acquired its rival {other}.",
            "{Name} was bought by {other} in {year}.",
            "In {year}, the company merged with {other} to form a larger group.",
        ),
    },
    "tributaries": {
        "river": (
            "The main tributaries of {name} are the {tributary} and the {tributary2}.",
            "Near {other_town}, the river is joined by the {tributary}.",
            "The {tributary} enters the river from the {bank} just above {other_town}.",
        ),
    },
    "wildlife": {
        "river": (
            "The river is home to the {fish} and the {fish2}.",
            "Its banks provide habitat for the {bird}.",
            "Otters and the {fish} were once common in the lower river.",
            "The wetlands near the mouth of the river are an important site for migrating birds.",
        ),
    },
    "hydrology": {
        "river": (
            "A dam was built across the river near {other_town} in {year}.",
            "The average discharge at the mouth is {discharge} cubic metres per second.",
            "The flow of the river is regulated by {n_dams} dams and several weirs.",
        ),
    },
    "taxonomy": {
        "species": (
            "{binomial} belongs to the family {family}, which contains about {n_species} species.",
            "The species was long placed in the genus {genus2} before being moved to {genus}.",
            "Its closest relative is {other_binomial}, which lives in {region2}.",
            "Two subspecies are recognised.",
        ),
    },
    "appearance": {
        "species": (
            "The upper parts are {color} and the underside is {color2}.",
            "Males are larger than females and more brightly coloured.",
            "It has a {color} body with {color2} spots along the sides.",
            "Young animals are paler than adults.",
        ),
    },
    "behaviour": {
        "species": (
            "The {noun} feeds mainly on {diet}.",
            "It is most active at {time_of_day}.",
            "Outside the breeding season, it lives in small groups of up to {group} animals.",
            "The {noun} spends the winter in {region2}.",
        ),
    },
    "reproduction": {
        "species": (
            "Breeding takes place in {season}.",
            "The female lays {clutch} eggs, which hatch after about {days} days.",
            "The young become independent after {weeks} weeks.",
        ),
    },
    "conservation": {
        "species": (
            "The {noun} is listed as {status} because of habitat loss.",
            "Its main threats are {threat} and {threat2}.",
            "A protected area was created in {region} in {year} to conserve the species.",
        ),
        "river": (
            "Waste from {industry} has reduced water quality in the lower river.",
            "Since {year}, large parts of the valley have been protected as a nature reserve.",
            "Efforts to restore the river began in {year}.",
        ),
    },
    "legacy": {
        "scientist": (
            "A crater on the Moon is named after {short}.",
            "{Poss} papers are kept in the library of {university}.",
            "{short} is regarded as one of the founders of modern {field} in {country}.",
        ),
        "company": (
            "The original factory building in {hq} is now a museum.",
            "{Name} remains one of the largest employers in {region}.",
            "Many of its early products are now sought after by collectors.",
        ),
    },
}

# -- word lists -----------------------------------------------------------------------------------

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

# -- name pools and articles ----------------------------------------------------------------------


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


_YEAR_RANGES = {"town": (1150, 1850), "company": (1840, 2005), "species": (1758, 1995)}
_TOWN_INDUSTRIES = ("farming", "tourism", "forestry", "fishing", "brewing", "textiles", "machine building")
_RIVER_INDUSTRIES = ("paper mills", "mines", "farms", "chemical plants", "sawmills")
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


@corpus_sources.register("synthetic")
class SyntheticSource(CorpusSource):
    """Seeded encyclopedia-like articles whose sentences carry their true writing action."""

    version = "1"

    class Params(SourceParams):
        n_articles: int = Field(3000, ge=1, le=10_000_000)
        min_sentences: int = Field(4, ge=1, description="shortest article, in sentences")
        max_sentences: int = Field(14, ge=1, le=200, description="longest article, in sentences")
        n_types: int = Field(
            len(TYPE_NAMES), ge=8, le=len(TYPE_NAMES), description="sentence types used: ids 0..n_types-1"
        )
        seed_offset: int = Field(0, description="added to the corpus seed: other articles, same plan")
        plan_seed: int = Field(0, description="the plan: transition weights and the shared name pools")

        @model_validator(mode="after")
        def _range(self) -> SyntheticSource.Params:
            if self.min_sentences > self.max_sentences:
                raise ValueError(
                    f"min_sentences ({self.min_sentences}) > max_sentences ({self.max_sentences})"
                )
            return self

    params: Params

    def n_actions(self) -> int:
        return self.params.n_types

    def plan(self) -> Plan:
        return build_plan(self.params.n_types, self.params.plan_seed)

    def load(self, seed: int) -> dict[str, list[Document]]:
        p = self.params
        plan = self.plan()
        pools = NamePools.build(p.plan_seed)
        samplers = {k: _LengthSampler(plan.kinds[k], p.min_sentences, p.max_sentences, k) for k in KINDS}
        docs = []
        for i in range(p.n_articles):
            rng = random.Random(f"planeval-synthetic:{seed}:{p.seed_offset}:{i}")
            kind = KINDS[rng.randrange(len(KINDS))]
            actions = samplers[kind].sample(rng)
            art = Article(kind, rng, pools)
            sentences = tuple(art.write_type(t) for t in actions)
            docs.append(
                Document(
                    id=f"syn-{i:06d}",
                    text=" ".join(sentences),
                    sentences=sentences,
                    actions=tuple(actions),
                    meta={"kind": kind, "entity": art.slot("name")},
                )
            )
        return {"all": docs}


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
