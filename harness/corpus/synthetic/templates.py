"""Sentence types, each kind's section order and the templates that write them: pure data, so that
adding a type or a template is a data edit."""

from __future__ import annotations

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
