"""The values the memory API takes and returns. Immutable to callers. Pure."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from headroom.errors import ValidationError
from headroom.scoping import ScopeLevel, scope_level_of

__all__ = [
    "Memory",
    "MemoryCategory",
    "MemoryStats",
    "NewMemory",
    "SearchHit",
    "indexed_text",
]


def indexed_text(content: str, source: str | None) -> str:
    """The text a memory is embedded and keyword-indexed by: its content, then its source."""
    return content if source is None else f"{content}\n{source}"


class MemoryCategory(str, enum.Enum):
    """What kind of thing a memory records."""

    PREFERENCE = "preference"
    FACT = "fact"
    CONTEXT = "context"
    ENTITY = "entity"
    DECISION = "decision"
    INSIGHT = "insight"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: MemoryCategory | str) -> MemoryCategory:
        """A category from itself or its name; a specific error otherwise."""
        if isinstance(value, MemoryCategory):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        choices = ", ".join(c.value for c in cls)
        raise ValidationError(f"unknown category {value!r}; expected one of: {choices}")


@dataclass(frozen=True, slots=True)
class Memory:
    """One stored memory: a version in a supersession chain.

    ``valid_from``/``valid_to`` bound the time it was the current version; ``valid_to`` is None
    while it is. ``metadata`` is a fresh dict on every returned object: changing it changes
    nothing stored. ``source`` is the conversation text the memory was drawn from or said in
    (the exchange a fact came from, the message a reply answers), if one was given: it is
    searched with the memory (:attr:`indexed_text`) and never part of its content.
    """

    id: str
    content: str
    category: MemoryCategory
    importance: float
    user_id: str
    session_id: str | None
    agent_id: str | None
    turn_id: str | None
    created_at: datetime
    valid_from: datetime
    valid_to: datetime | None
    supersedes: str | None
    superseded_by: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def indexed_text(self) -> str:
        """What the vector and keyword indexes hold for this memory: its content, then its
        source (content first, so an embedder that truncates long input keeps the content)."""
        return indexed_text(self.content, self.source)

    @property
    def scope(self) -> ScopeLevel:
        """The deepest level whose id this memory carries."""
        return scope_level_of(self.session_id, self.agent_id, self.turn_id)

    @property
    def is_current(self) -> bool:
        """True for the head of its chain: not superseded."""
        return self.superseded_by is None


@dataclass(frozen=True, slots=True)
class NewMemory:
    """One memory to add with :meth:`HierarchicalMemory.add_many`.

    ``add_many`` also accepts plain dicts with these keys.
    """

    content: str
    user_id: str
    category: MemoryCategory | str = MemoryCategory.FACT
    importance: float = 0.5
    session_id: str | None = None
    agent_id: str | None = None
    turn_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A search result, best first.

    ``score`` ranks the hits (the fused rank score of the vector and keyword searches; higher is
    better; comparable only within one search). ``similarity`` is the cosine similarity of the
    query and the memory, in [-1, 1]: an absolute measure of relevance, fit for a threshold.
    """

    memory: Memory
    score: float
    similarity: float

    @property
    def content(self) -> str:
        return self.memory.content

    @property
    def id(self) -> str:
        return self.memory.id


@dataclass(frozen=True, slots=True)
class MemoryStats(Mapping[str, Any]):
    """Counts over the memories a filter selects (superseded versions counted apart).

    Read it by attribute (``stats.total``) or by key (``stats["total"]``, ``dict(stats)``).
    """

    total: int
    current: int
    superseded: int
    categories: dict[str, int]
    scopes: dict[str, int]

    def __getitem__(self, name: str) -> Any:
        if name not in _STATS_FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_STATS_FIELDS)

    def __len__(self) -> int:
        return len(_STATS_FIELDS)


_STATS_FIELDS = tuple(f.name for f in fields(MemoryStats))
