"""Taking the memory block out of SDK responses, whole or streamed, keeping the SDK's types.

Responses are read by field name and changed by copying (pydantic ``model_copy``, which the
OpenAI and Groq SDK types are; a dict for clients that return dicts), so the caller gets the
same type the SDK returns, with only the message text changed. Choice 0 is the answer whose
memories are stored; every choice is cleaned.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from headroom.wrapper.block import StrippedAnswer, strip_memory_blocks
from headroom.wrapper.stream import MemoryBlockFilter

__all__ = ["AsyncMemoryStream", "ChunkStripper", "MemoryStream", "strip_completion"]

_T = TypeVar("_T")
_C = TypeVar("_C")


def field(obj: object, name: str) -> Any:
    """``obj.name`` or ``obj[name]``; None when absent."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def replaced(obj: _T, **changes: Any) -> _T:
    """A copy of ``obj`` with fields changed; ``obj`` itself is left as it was."""
    model_copy = getattr(obj, "model_copy", None)
    if callable(model_copy):
        result: _T = model_copy(update=changes)
        return result
    if isinstance(obj, Mapping):
        as_dict: _T = {**obj, **changes}  # type: ignore[assignment]
        return as_dict
    new = copy.copy(obj)
    for name, value in changes.items():
        setattr(new, name, value)
    return new


def _index(choice: object) -> int:
    index = field(choice, "index")
    return index if isinstance(index, int) else 0


def strip_completion(response: _T) -> tuple[_T, StrippedAnswer | None]:
    """The response with the blocks removed from every choice, and choice 0's blocks.

    Content that is not text (None for a tool call) is left alone.
    """
    choices = field(response, "choices")
    if not isinstance(choices, Sequence):
        return response, None
    answer: StrippedAnswer | None = None
    cleaned: list[Any] = []
    for choice in choices:
        message = field(choice, "message")
        content = field(message, "content")
        if not isinstance(content, str):
            cleaned.append(choice)
            continue
        stripped = strip_memory_blocks(content)
        if _index(choice) == 0:
            answer = stripped
        if stripped.found:
            choice = replaced(choice, message=replaced(message, content=stripped.text))
        cleaned.append(choice)
    if all(c is o for c, o in zip(cleaned, choices, strict=True)):
        return response, answer
    return replaced(response, choices=cleaned), answer


class ChunkStripper:
    """Cleans stream chunks one by one: one block filter per choice index."""

    def __init__(self) -> None:
        self._filters: dict[int, MemoryBlockFilter] = {}
        self._finished: set[int] = set()
        self._templates: dict[int, Any] = {}
        self._last_chunk: Any = None
        self._answer: StrippedAnswer | None = None
        self._answered = False

    def process(self, chunk: _C) -> _C:
        """The chunk with its text filtered (a finish releases what its choice held back)."""
        self._last_chunk = chunk
        choices = field(chunk, "choices")
        if not isinstance(choices, Sequence) or not choices:
            return chunk
        cleaned = [self._choice(choice) for choice in choices]
        if all(c is o for c, o in zip(cleaned, choices, strict=True)):
            return chunk
        return replaced(chunk, choices=cleaned)

    def _choice(self, choice: Any) -> Any:
        index = _index(choice)
        if index in self._finished:
            return choice
        self._templates[index] = choice
        delta = field(choice, "delta")
        content = field(delta, "content")
        block_filter = self._filters.setdefault(index, MemoryBlockFilter())
        shown = block_filter.feed(content) if isinstance(content, str) else None
        if field(choice, "finish_reason") is not None:
            shown = (shown or "") + block_filter.finish()
            self._finish(index, block_filter)
            if shown == "" and content is None:
                shown = None
        if shown == content:
            return choice
        return replaced(choice, delta=replaced(delta, content=shown))

    def _finish(self, index: int, block_filter: MemoryBlockFilter) -> None:
        self._finished.add(index)
        if index == 0:
            self._answer = block_filter.result

    @property
    def choice0_finished(self) -> bool:
        return 0 in self._finished

    def flush(self) -> Any:
        """At the end of the stream: finish every choice that never sent a finish reason, and
        return a chunk with the text they still held (None when there is none)."""
        released: list[Any] = []
        for index, block_filter in self._filters.items():
            if index in self._finished:
                continue
            text = block_filter.finish()
            self._finish(index, block_filter)
            if text:
                template = self._templates[index]
                delta = replaced(field(template, "delta"), content=text)
                released.append(replaced(template, delta=delta, finish_reason=None))
        if not released or self._last_chunk is None:
            return None
        return replaced(self._last_chunk, choices=released)

    def take_answer(self) -> StrippedAnswer | None:
        """Choice 0's finished answer, once (None before it finished, and after)."""
        if self._answered or 0 not in self._finished:
            return None
        self._answered = True
        return self._answer


class MemoryStream(Generic[_C]):
    """The SDK's stream with memory blocks held back; stores the memories when it ends.

    Iterate it, use it as a context manager, or ``close()`` it, as the SDK's own stream.
    Other attributes (``response``, ...) are the wrapped stream's.
    """

    def __init__(self, stream: Any, on_answer: Callable[[StrippedAnswer], None]) -> None:
        self._stream = stream
        self._next: Callable[[], _C] = getattr(stream, "__next__", None) or iter(stream).__next__
        self._on_answer = on_answer
        self._stripper = ChunkStripper()
        self._exhausted = False

    def __iter__(self) -> Iterator[_C]:
        return self

    def __next__(self) -> _C:
        if self._exhausted:
            raise StopIteration
        try:
            chunk = self._next()
        except StopIteration:
            self._exhausted = True
            tail: _C | None = self._stripper.flush()
            self._deliver()
            if tail is None:
                raise
            return tail
        chunk = self._stripper.process(chunk)
        self._deliver()  # at choice 0's finish: stored before the caller sees the last chunk
        return chunk

    def _deliver(self) -> None:
        answer = self._stripper.take_answer()
        if answer is not None:
            self._on_answer(answer)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> MemoryStream[_C]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_stream":  # copy, pickle: not the stream's
            raise AttributeError(name)
        return getattr(self._stream, name)


class AsyncMemoryStream(Generic[_C]):
    """The async twin of :class:`MemoryStream`: ``async for``, ``async with``, ``await close()``."""

    def __init__(
        self, stream: Any, on_answer: Callable[[StrippedAnswer], Awaitable[object]]
    ) -> None:
        self._stream = stream
        anext_ = getattr(stream, "__anext__", None) or aiter(stream).__anext__
        self._anext: Callable[[], Awaitable[_C]] = anext_
        self._on_answer = on_answer
        self._stripper = ChunkStripper()
        self._exhausted = False

    def __aiter__(self) -> AsyncIterator[_C]:
        return self

    async def __anext__(self) -> _C:
        if self._exhausted:
            raise StopAsyncIteration
        try:
            chunk = await self._anext()
        except StopAsyncIteration:
            self._exhausted = True
            tail: _C | None = self._stripper.flush()
            await self._deliver()
            if tail is None:
                raise
            return tail
        chunk = self._stripper.process(chunk)
        await self._deliver()
        return chunk

    async def _deliver(self) -> None:
        answer = self._stripper.take_answer()
        if answer is not None:
            await self._on_answer(answer)

    async def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if callable(close):
            result = close()
            if isinstance(result, Awaitable):
                await result

    async def __aenter__(self) -> AsyncMemoryStream[_C]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_stream":  # copy, pickle: not the stream's
            raise AttributeError(name)
        return getattr(self._stream, name)
