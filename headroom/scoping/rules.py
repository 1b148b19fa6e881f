"""The visibility rule.

A memory carries up to four ids: user (always), session, agent and turn. Its *scope level* is the
deepest level whose id it carries, in the order user > session > agent > turn.

A search context (a :class:`Scope`) carries ids too. It **sees** a memory exactly when every id
the memory carries equals the context's id at that level. So:

* a user-level memory (only ``user_id``) is seen by every context of that user;
* a session memory is seen only in that session (whatever the agent or turn);
* an agent memory is seen by that agent only, and a memory with both a session and an agent only
  by that agent in that session;
* a turn memory only in its turn.

A context never sees another user's memories: ``user_id`` is always compared.

A context also **holds** the memories stored within it: those carrying every id the context
carries (a user's context holds all of that user's memories; a session's, what was stored in
that session, by any agent or turn). It **reaches** what it sees or holds: what a scoped view
of the memory may read, change or delete by id (:meth:`HierarchicalMemory.scoped`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Scope", "ScopeLevel", "holds", "reaches", "scope_level_of", "sees"]


class ScopeLevel(str, enum.Enum):
    """How deep a memory is scoped, from widest to narrowest."""

    USER = "user"
    SESSION = "session"
    AGENT = "agent"
    TURN = "turn"

    def __str__(self) -> str:
        return self.value


def scope_level_of(session_id: str | None, agent_id: str | None, turn_id: str | None) -> ScopeLevel:
    """The deepest level whose id is set (the user id is always set)."""
    if turn_id is not None:
        return ScopeLevel.TURN
    if agent_id is not None:
        return ScopeLevel.AGENT
    if session_id is not None:
        return ScopeLevel.SESSION
    return ScopeLevel.USER


@dataclass(frozen=True, slots=True)
class Scope:
    """A context that searches: the ids of who is asking, where and when."""

    user_id: str
    session_id: str | None = None
    agent_id: str | None = None
    turn_id: str | None = None

    @property
    def level(self) -> ScopeLevel:
        return scope_level_of(self.session_id, self.agent_id, self.turn_id)

    def sees(
        self,
        user_id: str,
        session_id: str | None,
        agent_id: str | None,
        turn_id: str | None,
    ) -> bool:
        """Whether a memory carrying these ids is visible from this context."""
        return sees(self, user_id, session_id, agent_id, turn_id)

    def reaches(
        self,
        user_id: str,
        session_id: str | None,
        agent_id: str | None,
        turn_id: str | None,
    ) -> bool:
        """Whether a memory carrying these ids is one this context sees or holds."""
        return reaches(self, user_id, session_id, agent_id, turn_id)


def sees(
    scope: Scope,
    user_id: str,
    session_id: str | None,
    agent_id: str | None,
    turn_id: str | None,
) -> bool:
    """Every id the memory carries must equal the context's id at that level."""
    return (
        user_id == scope.user_id
        and (session_id is None or session_id == scope.session_id)
        and (agent_id is None or agent_id == scope.agent_id)
        and (turn_id is None or turn_id == scope.turn_id)
    )


def holds(
    scope: Scope,
    user_id: str,
    session_id: str | None,
    agent_id: str | None,
    turn_id: str | None,
) -> bool:
    """Every id the context carries must equal the memory's: it was stored within the context."""
    return (
        user_id == scope.user_id
        and (scope.session_id is None or session_id == scope.session_id)
        and (scope.agent_id is None or agent_id == scope.agent_id)
        and (scope.turn_id is None or turn_id == scope.turn_id)
    )


def reaches(
    scope: Scope,
    user_id: str,
    session_id: str | None,
    agent_id: str | None,
    turn_id: str | None,
) -> bool:
    """The context sees the memory or holds it; never one of another user."""
    return sees(scope, user_id, session_id, agent_id, turn_id) or holds(
        scope, user_id, session_id, agent_id, turn_id
    )
