"""Reading a tool call's arguments: names checked, types checked, values left to the engine.

Every failure is a :class:`ValidationError` whose message a model can act on; the engine
validates the values themselves (a category's name, an importance's range, an id's form) with
its own messages, so a tool says exactly what the engine would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from headroom.errors import ValidationError

__all__ = ["Arguments"]


class Arguments:
    """One call's arguments, checked against the names its tool accepts."""

    def __init__(self, tool: str, values: Mapping[str, Any] | None, accepted: Sequence[str]):
        self._tool = tool
        self._values = dict(values or {})
        unknown = sorted(set(self._values) - set(accepted))
        if "user_id" in unknown:
            raise ValidationError(
                "the user is fixed when the server starts; no tool takes a user_id"
            )
        if unknown:
            raise ValidationError(
                f"{tool} does not take {', '.join(map(repr, unknown))}; "
                f"its arguments are: {', '.join(accepted)}"
            )

    @property
    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{name} must be a string, got {_kind(value)}")
        return value

    def required_text(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None  # _get raised otherwise
        return value

    def number(self, name: str) -> float | None:
        value = self._get(name, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{name} must be a number, got {_kind(value)}")
        return float(value)

    def count(self, name: str, default: int) -> int:
        value = self._get(name, False)
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type; 5.0 is a fine 5
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{name} must be a whole number, got {_kind(value)}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ValidationError(f"{name} must be true or false, got {_kind(value)}")
        return value

    def texts(self, name: str) -> list[str] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if isinstance(value, str):
            return [value]  # one category, not its letters
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError(f"{name} must be a list of strings, got {_kind(value)}")
        return value

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, dict):
            raise ValidationError(f"{name} must be a JSON object, got {_kind(value)}")
        return value

    def time(self, name: str) -> datetime | None:
        """An ISO 8601 date or time; without an offset it is UTC."""
        value = self.text(name)
        if value is None:
            return None
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"{name} is not an ISO 8601 time: {value!r} (e.g. 2025-01-31 or "
                "2025-01-31T09:15:00Z)"
            ) from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)

    def _get(self, name: str, required: bool) -> Any:
        value = self._values.get(name)
        if value is None and required:
            raise ValidationError(f"{self._tool} needs {name!r}")
        return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", int: "a number", float: "a number"}
    names.update({list: "a list", dict: "an object"})
    return names.get(type(value), type(value).__name__)
