"""An incremental filter that removes ``<memory>`` blocks from streamed text. Pure: no I/O.

Feed it the text of each chunk as it arrives; it returns what may be shown now and holds back
only what a continuation could still turn into part of a block: the block itself, a trailing
``<mem``-like fragment, a fence opener, or whitespace that a following block would remove.
``finish()`` releases the rest. For every way of cutting a text into chunks, the concatenated
output equals ``strip_memory_blocks(text).text``: the same rules, applied as the text grows.
"""

from __future__ import annotations

import enum
import re

from headroom.wrapper.block import (
    CLOSE_RE,
    CLOSE_TAG,
    FENCE_CLOSE_RE,
    FENCE_TAIL_RE,
    OPEN_RE,
    StrippedAnswer,
)

__all__ = ["MemoryBlockFilter"]

# Every proper prefix of "<memory>"; a text ending in one may be starting a block.
_OPEN_PREFIX = "<(?:m(?:e(?:m(?:o(?:r(?:y)?)?)?)?)?)?"
#: The longest tail that could still grow into "whitespace, a fence opener, <memory>".
#: ``search`` finds its leftmost start, which is where the held-back text must begin.
_HOLD_RE = re.compile(
    rf"\s*(?:`{{1,2}}|```[^\s`]*\s*(?:{_OPEN_PREFIX})?|{_OPEN_PREFIX})?\Z", re.IGNORECASE
)
#: After a fenced block's ``</memory>``: text that could still become its closing fence.
_MAYBE_FENCE_CLOSE_RE = re.compile(r"\s*`{0,2}\Z")


class _State(enum.Enum):
    OUTSIDE = "outside"  # answer text
    INSIDE = "inside"  # within a block, waiting for </memory>
    AFTER_FENCED = "after_fenced"  # a fenced block closed; is the closing fence next?


class MemoryBlockFilter:
    """Strips memory blocks from a stream of text chunks; see the module docstring."""

    def __init__(self) -> None:
        self._state = _State.OUTSIDE
        self._pending = ""  # OUTSIDE / AFTER_FENCED: received, not yet shown or dropped
        self._body: list[str] = []  # INSIDE: the current block's text so far
        self._body_tail = ""  # INSIDE: the last few characters, to find a split </memory>
        self._fence = ""  # the fence opener held back until its block closes
        self._fenced = False  # the current block has a fence opener before it
        self._bodies: list[str] = []
        self._seen_block = False
        self._shown_any = False  # anything non-empty shown (the whole answer)
        self._shown_segment = False  # ... since the last block
        self._finished: StrippedAnswer | None = None
        self._out: list[str] = []  # shown by the current feed() or finish()
        self._shown: list[str] = []  # shown so far
        self._raw: list[str] = []  # fed so far

    @property
    def result(self) -> StrippedAnswer:
        """The whole answer and its block bodies; available after :meth:`finish`."""
        if self._finished is None:
            raise RuntimeError("the stream is not finished")
        return self._finished

    def feed(self, chunk: str) -> str:
        """Take the next chunk of text; return the text that may be shown now."""
        if self._finished is not None:
            raise RuntimeError("the stream is finished")
        self._out = []
        self._raw.append(chunk)
        if self._state is _State.INSIDE:
            self._body.append(chunk)
            self._body_tail += chunk
        else:
            self._pending += chunk
        self._run()
        return "".join(self._out)

    def finish(self) -> str:
        """The stream ended: return the text still held back that belongs to the answer."""
        if self._finished is not None:
            return ""
        self._out = []
        unterminated = False
        if self._state is _State.INSIDE:
            # Never closed: the block and its fence opener are dropped, nothing is stored.
            self._bodies.append("".join(self._body))
            unterminated = True
        else:
            if self._state is _State.AFTER_FENCED:
                self._emit(self._fence)  # no closing fence came: the opener was answer text
                self._begin_outside()
            if self._seen_block and not self._shown_segment and not self._pending.strip():
                self._pending = ""
            self._emit(self._pending)
            self._pending = ""
        self._finished = StrippedAnswer(
            "".join(self._shown), tuple(self._bodies), unterminated=unterminated
        )
        return "".join(self._out)

    @property
    def raw_text(self) -> str:
        """Everything fed so far, blocks included."""
        return "".join(self._raw)

    # -- the state machine ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if self._state is _State.OUTSIDE:
                if not self._outside():
                    return
            elif self._state is _State.INSIDE:
                if not self._inside():
                    return
            elif not self._after_fenced():
                return

    def _outside(self) -> bool:
        if self._seen_block and not self._shown_any:
            self._pending = self._pending.lstrip()
        opening = OPEN_RE.search(self._pending)
        if opening is None:
            hold = _HOLD_RE.search(self._pending)
            start = hold.start() if hold else len(self._pending)
            self._emit(self._pending[:start])
            self._pending = self._pending[start:]
            return False
        segment = self._pending[: opening.start()]
        rest = self._pending[opening.end() :]
        self._pending = ""
        fence = FENCE_TAIL_RE.search(segment)
        if fence:
            before = segment[: fence.start()]
            kept = before.rstrip()
            self._emit(kept)
            # Shown only if no closing fence follows the block: then it was answer text.
            self._fence = before[len(kept) :] + segment[fence.start() :].rstrip()
        else:
            self._emit(segment.rstrip())
            self._fence = ""
        self._fenced = fence is not None
        self._state = _State.INSIDE
        self._body = [rest]
        self._body_tail = rest
        return True

    def _inside(self) -> bool:
        closing = CLOSE_RE.search(self._body_tail)
        if closing is None:
            # Keep enough characters to find a closing tag split across chunks.
            self._body_tail = self._body_tail[-(len(CLOSE_TAG) - 1) :]
            return False
        body = "".join(self._body)
        # The tag ends within the tail, which is the end of the body.
        end_in_body = len(body) - len(self._body_tail) + closing.end()
        self._bodies.append(body[: end_in_body - len(CLOSE_TAG)])
        self._pending = body[end_in_body:]
        self._body = []
        self._body_tail = ""
        self._seen_block = True
        self._shown_segment = False
        self._state = _State.AFTER_FENCED if self._fenced else _State.OUTSIDE
        return True

    def _after_fenced(self) -> bool:
        fence_close = FENCE_CLOSE_RE.match(self._pending)
        if fence_close:
            self._pending = self._pending[fence_close.end() :]
        elif _MAYBE_FENCE_CLOSE_RE.fullmatch(self._pending):
            return False
        else:
            self._emit(self._fence)
        self._begin_outside()
        return True

    def _begin_outside(self) -> None:
        self._fence = ""
        self._fenced = False
        self._shown_segment = False  # a kept fence belongs to the text before the block
        self._state = _State.OUTSIDE

    def _emit(self, text: str) -> None:
        if text:
            self._out.append(text)
            self._shown.append(text)
            self._shown_any = True
            self._shown_segment = True
