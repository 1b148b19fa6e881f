"""The values the memory API takes and returns. Immutable to callers."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from headroom.errors import ValidationError
from headroom.scoping import ScopeLevel

__all__ = [
    "Memory",
    "MemoryCategory",
    "MemoryFilter",
    "MemoryStats",
    "NewMemory",
    "ScopeLevel",
    "SearchHit",
]


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
    nothing stored.
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

    @property
    def scope(self) -> ScopeLevel:
        """The deepest level whose id this memory carries."""
        from headroom.scoping import scope_level_of

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
class MemoryStats:
    """Counts over the memories a filter selects (superseded versions counted apart)."""

    total: int
    current: int
    superseded: int
    categories: dict[str, int]
    scopes: dict[str, int]


def _check_id(name: str, value: object, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValidationError(f"{name} is required")
        return
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
    if "\x00" in value:
        raise ValidationError(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{name} is not valid Unicode text: {exc.reason}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryFilter:
    """Selects memories for :meth:`HierarchicalMemory.query`, ``clear`` and ``stats``.

    Unlike a search context, a filter matches ids literally: an id left as None matches any
    value, so ``MemoryFilter(user_id="alice")`` selects all of Alice's memories across her
    sessions. ``scope_levels`` narrows to memories of those levels.

    ``valid_at`` asks what was current at that instant (an as-of query); it overrides
    ``include_superseded``.
    """

    user_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    turn_id: str | None = None
    scope_levels: AbstractSet[ScopeLevel] | None = None
    """Any set (names accepted too); normalised to a frozenset of ScopeLevel."""
    categories: AbstractSet[MemoryCategory] | None = None
    """Any set (names accepted too); normalised to a frozenset of MemoryCategory."""
    include_superseded: bool = False
    valid_at: datetime | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    min_importance: float | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        for name in ("user_id", "session_id", "agent_id", "turn_id"):
            _check_id(name, getattr(self, name))
        if self.scope_levels is not None:
            object.__setattr__(self, "scope_levels", _levels(self.scope_levels))
        if self.categories is not None:
            object.__setattr__(
                self, "categories", frozenset(MemoryCategory.parse(c) for c in self.categories)
            )
        for name in ("valid_at", "created_after", "created_before"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise ValidationError(f"{name} must be a datetime, got {value!r}")
                if value.tzinfo is None:
                    raise ValidationError(f"{name} must be timezone-aware (use UTC)")
        if self.min_importance is not None:
            check_importance(self.min_importance, name="min_importance")
        if self.limit is not None and not _is_count(self.limit):
            raise ValidationError(f"limit must be a non-negative int or None, got {self.limit!r}")
        if not _is_count(self.offset):
            raise ValidationError(f"offset must be a non-negative int, got {self.offset!r}")


def _is_count(value: object) -> bool:
    """A non-negative int that SQLite can bind (64-bit)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _levels(values: Iterable[ScopeLevel | str]) -> frozenset[ScopeLevel]:
    out = set()
    for value in values:
        try:
            out.add(ScopeLevel(value))
        except ValueError:
            choices = ", ".join(level.value for level in ScopeLevel)
            raise ValidationError(
                f"unknown scope level {value!r}; expected one of: {choices}"
            ) from None
    return frozenset(out)


def check_importance(value: object, *, name: str = "importance") -> float:
    """``value`` as a float in [0, 1]; a specific error otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number in [0, 1], got {value!r}")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValidationError(f"{name} must be in [0, 1], got {value!r}")
    return number


check_id = _check_id
