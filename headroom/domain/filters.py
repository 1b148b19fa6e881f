"""What a query or a search selects: :class:`MemoryFilter` and :class:`SearchFilter`. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from headroom.domain.models import Memory, MemoryCategory
from headroom.domain.validation import check_id, check_importance
from headroom.errors import ValidationError
from headroom.scoping import Scope, ScopeLevel

__all__ = ["MemoryFilter", "MetadataValue", "SearchFilter", "check_scope", "visible"]

MetadataValue = str | int | float | bool | None
"""A value a metadata filter matches exactly."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryFilter:
    """Selects memories for :meth:`HierarchicalMemory.query`, ``clear`` and ``stats``.

    Unlike a search context, a filter matches ids literally: an id left as None matches any
    value, so ``MemoryFilter(user_id="alice")`` selects all of Alice's memories across her
    sessions. ``scope_levels`` narrows to memories of those levels.

    ``valid_at`` asks what was current at that instant (an as-of query); it overrides
    ``include_superseded``. ``metadata`` selects memories whose metadata holds each of these
    top-level keys with exactly this value (a string, a number, a boolean or None; numbers
    compare as numbers, so ``1`` matches ``1.0``).

    ``within`` narrows to the memories that context reaches (see :func:`headroom.scoping.reaches`:
    those it sees and those stored within it); a scoped view sets it on every query.
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
    metadata: Mapping[str, MetadataValue] | None = None
    """Top-level key -> the exact value it must hold; copied, and checked, on construction."""
    limit: int | None = None
    offset: int = 0
    within: Scope | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "session_id", "agent_id", "turn_id"):
            check_id(name, getattr(self, name))
        if self.within is not None:
            check_scope(self.within, name="within")
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
        if self.metadata is not None:
            object.__setattr__(self, "metadata", _metadata_match(self.metadata))
        if self.limit is not None and not _is_count(self.limit):
            raise ValidationError(f"limit must be a non-negative int or None, got {self.limit!r}")
        if not _is_count(self.offset):
            raise ValidationError(f"offset must be a non-negative int, got {self.offset!r}")


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which memories a search may return: what ``scope`` sees, optionally narrowed.

    Every backend answers a search with exactly these memories (see
    :func:`headroom.scoping.sees`); the engine re-checks each hit with :func:`visible`.
    """

    scope: Scope
    categories: frozenset[MemoryCategory] | None = None
    include_superseded: bool = False


def check_scope(scope: object, *, name: str = "scope") -> Scope:
    """``scope`` as a valid :class:`Scope`: a user id and optional deeper ids, none blank."""
    if not isinstance(scope, Scope):
        raise ValidationError(f"{name} must be a Scope, got {type(scope).__name__}")
    check_id("user_id", scope.user_id, required=True)
    for field_name in ("session_id", "agent_id", "turn_id"):
        check_id(field_name, getattr(scope, field_name))
    return scope


def visible(memory: Memory, where: SearchFilter) -> bool:
    """Whether ``memory`` is one ``where`` may return."""
    return (
        where.scope.sees(memory.user_id, memory.session_id, memory.agent_id, memory.turn_id)
        and (where.include_superseded or memory.is_current)
        and (where.categories is None or memory.category in where.categories)
    )


def _metadata_match(given: object) -> dict[str, MetadataValue]:
    if not isinstance(given, Mapping):
        raise ValidationError(f"metadata must be a dict of key -> value, got {given!r}")
    out: dict[str, MetadataValue] = {}
    for key, value in given.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"metadata keys must be non-empty strings, got {key!r}")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ValidationError(
                f"metadata[{key!r}] must be a string, a number, a boolean or None to match, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"metadata[{key!r}] must be a finite number, got {value!r}")
        out[key] = value
    return out


def _is_count(value: object) -> bool:
    """A non-negative int that a database can bind (64-bit)."""
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
