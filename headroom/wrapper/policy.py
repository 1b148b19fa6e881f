"""What the model may write: how wide each category may be stored, and how many per answer.

The model's ``<memory>`` block is untrusted input: it may ask for any scope. A
:class:`ScopePolicy` says, per category, the widest level a memory of it may be stored at, in
the order user > session > agent (a user-level memory is seen in every context of the user;
session and agent ones stay in their session or with their agent). A block's ``scope`` claim
wider than the policy is *lowered* to the widest level allowed, never obeyed; a claim the
client has no id for falls back to the category's default, lowered the same way. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from headroom.domain import MemoryCategory
from headroom.errors import ConfigError
from headroom.scoping import ScopeLevel
from headroom.wrapper.prompt import available_scopes, default_scope

__all__ = ["DEFAULT_SCOPE_POLICY", "ScopePolicy"]

#: Widest first. A turn has no id in the wrapper.
_ORDER = (ScopeLevel.USER, ScopeLevel.SESSION, ScopeLevel.AGENT)

_DEFAULT_WIDEST = {
    MemoryCategory.PREFERENCE: ScopeLevel.USER,
    MemoryCategory.FACT: ScopeLevel.USER,
    MemoryCategory.ENTITY: ScopeLevel.USER,
    MemoryCategory.CONTEXT: ScopeLevel.SESSION,
    MemoryCategory.DECISION: ScopeLevel.SESSION,
    MemoryCategory.INSIGHT: ScopeLevel.SESSION,
}


def _levels(given: Mapping[Any, Any]) -> dict[MemoryCategory, ScopeLevel]:
    """Categories and levels, parsed (names accepted); ConfigError for anything else."""
    out: dict[MemoryCategory, ScopeLevel] = {}
    for category, level in given.items():
        try:
            parsed = ScopeLevel(level)
            out[MemoryCategory.parse(category)] = parsed
        except ValueError as exc:
            raise ConfigError(f"scope policy: {exc}") from None
        if parsed not in _ORDER:
            raise ConfigError(f"scope policy: {category} must be user, session or agent")
    return out


@dataclass(frozen=True, slots=True)
class ScopePolicy:
    """The widest level the model may store each category at (see the module docstring).

    By default preferences, facts and entities may reach the user level, and context,
    decisions and insights stay in the session or with the agent. Narrow it per category::

        ScopePolicy.default().narrowed(fact="session")   # facts stay in the session too

    A client with neither a session nor an agent id has only the user level: it stores
    everything there (its whole context is the user).
    """

    widest: Mapping[MemoryCategory, ScopeLevel] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_WIDEST))
    )

    def __post_init__(self) -> None:
        widest = {**_DEFAULT_WIDEST, **_levels(self.widest)}
        object.__setattr__(self, "widest", MappingProxyType(widest))

    @classmethod
    def default(cls) -> ScopePolicy:
        return DEFAULT_SCOPE_POLICY

    def narrowed(self, **levels: ScopeLevel | str) -> ScopePolicy:
        """This policy with some categories held narrower (``fact="session"``). A level
        wider than the current one is refused (ConfigError): narrowing never widens."""
        changes = _levels(levels)
        for category, level in changes.items():
            if _ORDER.index(level) < _ORDER.index(self.widest[category]):
                raise ConfigError(
                    f"scope policy: {category.value} is held at {self.widest[category].value}; "
                    f"narrowing cannot widen it to {level.value}"
                )
        return ScopePolicy({**self.widest, **changes})

    def level_for(
        self,
        requested: ScopeLevel | None,
        category: MemoryCategory,
        session_id: str | None,
        agent_id: str | None,
    ) -> ScopeLevel:
        """Where a memory of ``category`` the model asked to store at ``requested`` goes."""
        levels = available_scopes(session_id, agent_id)
        wanted = requested if requested in levels else default_scope(category, session_id, agent_id)
        floor = _ORDER.index(self.widest[category])
        for level in _ORDER[max(_ORDER.index(wanted), floor) :]:
            if level in levels:
                return level
        return levels[-1]  # nothing that narrow here: this client's narrowest level


DEFAULT_SCOPE_POLICY = ScopePolicy()
