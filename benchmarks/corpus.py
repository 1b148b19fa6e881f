"""Synthetic memories and queries: templated sentences over word lists. Pure and deterministic.

The point is realistic work for FTS5 and the embedder, not meaning: sentences of 10-25 words
mixing frequent words (which match many rows, as real chat does) with rarer names, places and
objects drawn with a Zipf-like skew, so posting lists have the long-tailed lengths of real text.
Memory ``i`` of a corpus depends only on ``(seed, i)``: a corpus of 10k is the first 10k
memories of the corpus of 100k.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

__all__ = ["memory_text", "memory_texts", "query_text", "query_texts"]

_NAMES = """
Alice Bob Carmen Dmitri Elena Farid Grace Hiro Ingrid Jamal Keiko Luis Maya Noah Olga Priya
Quentin Rosa Samir Tara Umar Vera Wen Ximena Yusuf Zoe Anton Beatriz Chen Dara Emeka Fatima
Gustav Hana Ivan Jonas Kamala Leo Mirela Nikos Oren Paula Rafael Sofia Tomas Ulla Viktor Wanda
""".split()
_PLACES = """
Lisbon Berlin Kyoto Toronto Nairobi Oslo Lima Seoul Porto Dublin Austin Denver Krakow Hanoi
Cairo Bergen Quito Tallinn Zurich Osaka Madrid Boston Prague Sydney Vienna Milan Athens Riga
Brighton Marseille Valencia Montreal Reykjavik Edinburgh Ljubljana Santiago Istanbul Mumbai
""".split()
_FOODS = """
ramen sushi tacos paella pho curry lasagna falafel dumplings risotto ceviche pierogi burritos
bibimbap croissants pancakes hummus kimchi gnocchi shakshuka empanadas souvlaki goulash biryani
pad-thai tiramisu baklava gelato brownies granola oatmeal salmon tofu tempeh lentils chili
""".split()
_HOBBIES = """
climbing pottery chess running cycling baking gardening painting photography knitting
surfing yoga swimming hiking sailing birdwatching woodworking calligraphy fencing rowing
skiing snowboarding juggling origami astronomy archery kayaking salsa tango podcasting
""".split()
_THINGS = """
laptop bicycle guitar camera notebook backpack kettle telescope umbrella keyboard headphones
sofa desk lamp blender printer tent jacket boots watch phone tablet drone piano violin
passport suitcase scarf sneakers espresso-machine bookshelf aquarium microphone projector
""".split()
_TOPICS = """
budget deadline migration refactor release invoice contract roadmap onboarding interview
conference workshop vacation wedding birthday anniversary mortgage lease renovation diet
training marathon exam thesis grant audit launch hackathon retrospective sprint newsletter
""".split()
_ADJECTIVES = """
quiet spicy cheap expensive early late favourite usual new old reliable slow fast bright cozy
crowded remote local organic vegan gluten-free weekly monthly annual careful noisy friendly
""".split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = """January February March April May June July August September October November
December""".split()

_MEMORY_TEMPLATES = (
    "{name} prefers {adj} {food} for dinner and usually orders it from a place in {place}.",
    "{name} started {hobby} in {month} and now practises every {day} with friends.",
    "The {topic} for the {adj} project was moved to {day}, {name} will send the details.",
    "{name} bought a {adj} {thing} in {place} last {month} and is happy with it so far.",
    "{name} is allergic to {food}, so never suggest it when planning a meal together.",
    "Remember that {name} lives in {place} and works remotely on the {topic} most weeks.",
    "On {day} {name} mentioned that the {thing} broke again and needs a {adj} replacement.",
    "{name} wants to travel to {place} in {month} to try the {food} and go {hobby}.",
    "The user said their favourite hobby is {hobby} and they dislike {adj} {topic} meetings.",
    "{name} asked me to remind them about the {topic} every {day} morning before nine.",
    "We agreed that the {adj} {thing} should stay in the office in {place} until {month}.",
    "{name} and {name2} met in {place} during a {hobby} trip and now share a {thing}.",
    "For the {topic}, {name} needs a {adj} budget estimate by the end of {month}.",
    "The user cooks {food} on {day} evenings and prefers it {adj} with extra garlic.",
)
_QUERY_TEMPLATES = (
    "What does {name} like to eat for dinner?",
    "When did {name} start {hobby}?",
    "Which day was the {topic} moved to?",
    "What did {name} buy in {place}?",
    "Is {name} allergic to anything like {food}?",
    "Where does {name} live and work?",
    "What broke again and needs replacing, the {thing}?",
    "Where does {name} want to travel in {month}?",
    "What hobby does the user enjoy besides {hobby}?",
    "What should I remind {name} about on {day}?",
    "Where should the {thing} stay until {month}?",
    "How did {name} meet {name2}?",
    "What budget does the {topic} need?",
    "What do I cook on {day} evenings, {food}?",
)


def _zipf(rng: random.Random, words: Sequence[str]) -> str:
    # Rank r drawn with weight ~1/r: a few words are common, most are rare.
    n = len(words)
    u = rng.random()
    index = int(n ** (u**1.15)) - 1
    return words[min(max(index, 0), n - 1)]


def _fill(template: str, rng: random.Random) -> str:
    name = _zipf(rng, _NAMES)
    name2 = _zipf(rng, [n for n in _NAMES if n != name])
    return template.format(
        name=name,
        name2=name2,
        place=_zipf(rng, _PLACES),
        food=_zipf(rng, _FOODS),
        hobby=_zipf(rng, _HOBBIES),
        thing=_zipf(rng, _THINGS),
        topic=_zipf(rng, _TOPICS),
        adj=rng.choice(_ADJECTIVES),
        day=rng.choice(_WEEKDAYS),
        month=rng.choice(_MONTHS),
    )


def memory_text(index: int, *, seed: int = 0) -> str:
    """Memory ``index`` of corpus ``seed``: one or two templated sentences."""
    rng = random.Random(f"memory/{seed}/{index}")
    first = _fill(rng.choice(_MEMORY_TEMPLATES), rng)
    if rng.random() < 0.4:
        return f"{first} {_fill(rng.choice(_MEMORY_TEMPLATES), rng)}"
    return first


def memory_texts(start: int, stop: int, *, seed: int = 0) -> Iterator[str]:
    for index in range(start, stop):
        yield memory_text(index, seed=seed)


def query_text(index: int, *, seed: int = 0) -> str:
    """Query ``index``: a question in the corpus's vocabulary (never a corpus sentence)."""
    rng = random.Random(f"query/{seed}/{index}")
    return _fill(rng.choice(_QUERY_TEMPLATES), rng)


def query_texts(count: int, *, seed: int = 0) -> list[str]:
    """``count`` distinct queries (so no repetition hits the embedding cache by accident)."""
    out: dict[str, None] = {}
    index = 0
    while len(out) < count:
        out.setdefault(query_text(index, seed=seed), None)
        index += 1
    return list(out)
