"""Scope levels and the rule of which memories a scope sees. Pure: no I/O, no awaits."""

from headroom.scoping.rules import Scope, ScopeLevel, holds, reaches, scope_level_of, sees

__all__ = ["Scope", "ScopeLevel", "holds", "reaches", "scope_level_of", "sees"]
