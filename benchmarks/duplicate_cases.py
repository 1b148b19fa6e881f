"""Pairs of memories as a model writes them: restatements, and different facts that look alike.
Pure data.

A block item that restates a stored memory should not be stored again; one that says
something new about the same thing (another city, another employer, a changed value, a
different relative) must be. ``RESTATED`` pairs are the same fact in other words, ``DISTINCT``
pairs differ in what they say. :mod:`benchmarks.duplicates` measures the wrapper's test on
them; ``CONVERSATIONS`` are the topics of the measured test that twenty conversations leave
no duplicate.
"""

from __future__ import annotations

__all__ = ["CONVERSATIONS", "DISTINCT", "NEW_FACTS", "RESTATED"]

RESTATED: tuple[tuple[str, str], ...] = (
    ("User lives in Lisbon", "User lives in Lisbon, Portugal"),
    ("User lives in Lisbon", "The user lives in Lisbon"),
    ("User lives in Lisbon", "User is living in Lisbon"),
    ("User works at Google", "User works for Google"),
    ("User works at Google", "User is employed at Google"),
    ("User works at Google as a site reliability engineer", "User is an SRE at Google"),
    ("User prefers Python for backend work", "User prefers Python for backend development"),
    ("User prefers Python for backend work", "User likes to use Python for backend work"),
    ("User's dog is a beagle named Biscuit", "User has a beagle named Biscuit"),
    ("User's dog is a beagle named Biscuit", "User's beagle is called Biscuit"),
    ("User is allergic to peanuts", "User has a peanut allergy"),
    ("User is allergic to peanuts", "User is allergic to peanuts and must avoid them"),
    ("User drinks oat milk flat whites", "User's usual coffee is an oat milk flat white"),
    ("User is vegetarian", "User is a vegetarian"),
    ("User is vegetarian", "User follows a vegetarian diet"),
    (
        "User's sister Ana is a pediatrician in Porto",
        "User's sister Ana works as a pediatrician in Porto",
    ),
    ("User's husband Tom is an architect", "User's husband, Tom, is an architect"),
    ("User's husband Tom is an architect", "Tom, the user's husband, works as an architect"),
    ("User teaches chemistry at a high school", "User is a high school chemistry teacher"),
    ("User drives a blue Honda Civic", "User's car is a blue Honda Civic"),
    ("User prefers short bullet-point answers", "User prefers answers as short bullet points"),
    ("User prefers short bullet-point answers", "User likes short, bulleted answers"),
    ("User prefers meetings before 11am", "User prefers to have meetings before 11 am"),
    ("User speaks German, English and Hindi", "User speaks English, German and Hindi"),
    (
        "User is training for a half marathon in October",
        "User is training for an October half marathon",
    ),
    ("User is lactose intolerant", "User has lactose intolerance"),
    (
        "User studies mechanical engineering at TU Delft",
        "User is a mechanical engineering student at TU Delft",
    ),
    ("User plays Civilization VI", "User plays the game Civilization VI"),
    (
        "User likes electronic music, especially techno",
        "User enjoys electronic music, techno in particular",
    ),
    ("User takes tea with milk and two sugars", "User has tea with milk and two sugars"),
    ("User sings in the church choir on Sundays", "User sings in a church choir every Sunday"),
    ("User grows tomatoes in an allotment", "User grows tomatoes on an allotment"),
    ("User retired from the post office in 2019", "User retired from the Post Office in 2019"),
    ("User's grandson Oliver is twelve", "User's grandson Oliver is 12 years old"),
    ("User enjoys Agatha Christie novels", "User enjoys reading Agatha Christie's novels"),
    (
        "User decided to migrate billing from MySQL to PostgreSQL",
        "User decided to move the billing service from MySQL to PostgreSQL",
    ),
    ("User chose Grafana Tempo as the tracing backend", "User picked Grafana Tempo for tracing"),
    ("User learns best from worked examples", "User learns best through worked examples"),
    (
        "User runs the school chess club on Wednesdays",
        "User runs the chess club at school every Wednesday",
    ),
    ("User's cat Pepper is a grey Maine Coon", "User has a grey Maine Coon cat named Pepper"),
)
"""The same fact, restated."""

DISTINCT: tuple[tuple[str, str], ...] = (
    ("User lives in Lisbon", "User lives in Porto"),
    ("User lives in Lisbon", "User works in Lisbon"),
    ("User lives in Lisbon", "User's sister lives in Lisbon"),
    ("User works at Google", "User works at Meta"),
    ("User works at Google", "User used to work at Google"),
    (
        "User works at Google as a site reliability engineer",
        "User works at Google as a product manager",
    ),
    ("User prefers Python for backend work", "User prefers TypeScript for frontend work"),
    ("User prefers Python for backend work", "User prefers Go for backend work"),
    ("User's dog is a beagle named Biscuit", "User's dog is a poodle named Biscuit"),
    ("User's dog is a beagle named Biscuit", "User's cat is named Biscuit"),
    ("User is allergic to peanuts", "User is allergic to cats"),
    ("User is allergic to peanuts", "User's son is allergic to peanuts"),
    ("User drinks oat milk flat whites", "User drinks black coffee"),
    ("User is vegetarian", "User is vegan"),
    ("User's sister Ana is a pediatrician in Porto", "User's sister Ana is a nurse in Porto"),
    ("User's sister Ana is a pediatrician in Porto", "User's brother Rui is a chef in London"),
    ("User's husband Tom is an architect", "User's husband Tom is an engineer"),
    ("User teaches chemistry at a high school", "User teaches physics at a high school"),
    ("User drives a blue Honda Civic", "User drives a red Honda Civic"),
    ("User drives a blue Honda Civic", "User sold the blue Honda Civic"),
    ("User prefers short bullet-point answers", "User prefers long detailed answers"),
    ("User prefers meetings before 11am", "User prefers meetings after 2pm"),
    ("User speaks German, English and Hindi", "User speaks German and English"),
    (
        "User is training for a half marathon in October",
        "User is training for a full marathon in October",
    ),
    ("User is training for a half marathon in October", "User ran a half marathon in October"),
    ("User is lactose intolerant", "User is gluten intolerant"),
    (
        "User studies mechanical engineering at TU Delft",
        "User studies electrical engineering at TU Delft",
    ),
    ("User plays Civilization VI", "User plays Civilization V"),
    (
        "User likes electronic music, especially techno",
        "User likes classical music, especially Bach",
    ),
    ("User takes tea with milk and two sugars", "User takes tea with milk and no sugar"),
    ("User sings in the church choir on Sundays", "User sings in the church choir on Wednesdays"),
    ("User grows tomatoes in an allotment", "User grows potatoes in an allotment"),
    ("User retired from the post office in 2019", "User retired from the post office in 2021"),
    ("User's grandson Oliver is twelve", "User's granddaughter Emma is twelve"),
    ("User enjoys Agatha Christie novels", "User dislikes Agatha Christie novels"),
    (
        "User decided to migrate billing from MySQL to PostgreSQL",
        "User decided to keep billing on MySQL",
    ),
    ("User chose Grafana Tempo as the tracing backend", "User chose Jaeger as the tracing backend"),
    ("User learns best from worked examples", "User learns best from lectures"),
    (
        "User runs the school chess club on Wednesdays",
        "User runs the school drama club on Wednesdays",
    ),
    ("User's cat Pepper is a grey Maine Coon", "User's cat Pepper is a black Maine Coon"),
)
"""Alike, but saying something else."""

CONVERSATIONS: tuple[tuple[str, ...], ...] = (
    (
        "User lives in Lisbon",
        "user lives in Lisbon.",
        "The user lives in Lisbon",
        "User lives in Lisbon, Portugal",
    ),
    (
        "User works at Google",
        "User works at Google.",
        "The user works at Google",
        "User works at Google, in its Lisbon office",
    ),
    (
        "User's dog is a beagle named Biscuit",
        "user's dog is a beagle named biscuit",
        "The user's dog is a beagle named Biscuit",
        "User's dog is a beagle named Biscuit, three years old",
    ),
    (
        "User is allergic to peanuts",
        "User is allergic to peanuts!",
        "The user is allergic to peanuts",
        "User is allergic to peanuts and must avoid them",
    ),
    (
        "User prefers short bullet-point answers",
        "User prefers short, bullet-point answers",
        "The user prefers short bullet-point answers",
        "User prefers short bullet-point answers without long introductions",
    ),
)
"""Five facts, each as a model restates a memory it was shown: the same sentence, another case
or punctuation, "The user ...", a detail added. Twenty conversations, one a fact and form."""

NEW_FACTS: tuple[str, ...] = (
    "User's sister lives in Lisbon",
    "User used to work at Google",
    "User's son is allergic to peanuts",
)
"""Alike to the facts above, but new: each must be stored."""
