"""Which memories from a model's answer read as instructions to the assistant. Pure: no I/O.

A stored memory is injected into later prompts. A memory written as an order to the model
("Ignore previous instructions ...", "You must always ...", "System: ...") would be obeyed
there, turning one poisoned answer (an injected document, a manipulated model) into a
standing instruction. The wrapper asks for facts about the user; a memory addressed to the
assistant is not one, so by default it is not stored (logged instead).

:func:`reads_as_instruction` is a deliberately narrow heuristic: it looks for the shapes of an
order to the assistant, not for topics, so facts that merely mention rules, systems, admins,
prompts or assistants are kept. Measured on ordinary memories (``tests/data`` and the LoCoMo
observations; ``python -m benchmarks.instruction_filter``), it keeps well over 99% of them.
Replace it with ``with_memory(..., admit=...)``.
"""

from __future__ import annotations

import re

from headroom.wrapper.block import BlockItem

__all__ = ["INSTRUCTION_PATTERNS", "admit_facts", "reads_as_instruction"]

_FLAGS = re.IGNORECASE

#: Where a clause begins: the start, or after a sentence's or a clause's punctuation.
_START = r"(?:^|[.!?;]\s+|\b(?:please|now|and|then|so)\s+)"
_NOUNS = (
    r"(?:instructions?|prompts?|guidelines|guardrails|directives|rules|restrictions|"
    r"(?:content |safety |usage )?polic(?:y|ies)|safety (?:checks|filters?|rules)|filters)"
)
_WHOSE = (
    r"(?:previous|prior|above|earlier|preceding|former|original|initial|existing|system|"
    r"your|any|these|those|safety|content|the system's)"
)
_ASSISTANT = r"(?:assistant|ai assistant|ai|a\.i\.|chatgpt|claude|gemini|copilot)"
_MODAL = (
    r"(?:must|should|shall|will|has to|have to|needs? to|is (?:required|instructed|allowed|"
    r"permitted|authori[sz]ed) to|are (?:required|instructed|allowed|permitted) to|"
    r"is to|are to|may now|can now|must not|should not|cannot|can't|won't|no longer)"
)
_ORDERS = (
    r"(?:respond|reply|answer|say|tell|mention|reveal|disclose|output|print|repeat|obey|"
    r"comply|follow|trust|agree|refuse|warn|apologi[sz]e|recommend|include|address|call|"
    r"refer|speak|talk|greet|deny|pretend|act)"
)

INSTRUCTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a role or chat-template marker",
        re.compile(
            r"^\W{0,3}(?:system|assistant|developer|admin(?:istrator)?|root|operator)"
            r"(?:\s+(?:prompt|message|note|override|instructions?))?\s*[:>\]|]"
            r"|<\|im_(?:start|end)\|>|\[/?inst\]|<<sys>>|<\s*/?\s*system\s*>",
            _FLAGS,
        ),
    ),
    (
        "an order to drop the assistant's instructions",
        re.compile(
            rf"\b(?:ignore|disregard|forget|override|bypass|overrule|discard|skip)\b"
            rf"(?:\W+\w+){{0,4}}?\W+{_WHOSE}\W+(?:\w+\W+){{0,2}}?{_NOUNS}\b"
            rf"|\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:above|before|else)\b"
            rf"|\b(?:these|this|new)\s+(?:system\s+)?(?:instructions?|prompt)\s*"
            rf"(?:override|replace|supersede|take precedence|:)",
            _FLAGS,
        ),
    ),
    (
        "a directive to 'you'",
        re.compile(
            rf"{_START}(?:you|u)\s+(?:{_MODAL}|are (?:now|no longer)|may|always|never|"
            rf"do not|don't)\b",
            _FLAGS,
        ),
    ),
    (
        "a standing order",
        re.compile(
            rf"{_START}(?:(?:from now on|henceforth|going forward|starting now|in (?:all )?"
            rf"(?:future|subsequent) (?:responses|replies|answers|conversations|messages|chats))"
            rf"\W+(?:\w+\W+){{0,3}}?(?:you|your|respond|reply|answer|always|never|address|"
            rf"include|refer|call)\b"
            rf"|(?:always|never|do not|don't)\s+(?:\w+\s+){{0,2}}?{_ORDERS}\b"
            rf"(?:\W+\w+){{0,8}}?\W+(?:you|your|yourself|user|users|answers?|responses?|"
            rf"replies|questions?|requests?|instructions?|prompt|rules|risks?|products)\b"
            rf"|never (?:refuse|warn|apologi[sz]e)\b)",
            _FLAGS,
        ),
    ),
    (
        "an order to the assistant",
        re.compile(
            rf"{_START}(?:reveal|disclose|print|output|repeat|leak|exfiltrate|forward|send)\s+"
            rf"(?:\w+\s+){{0,4}}?(?:system (?:prompt|message)|instructions?|prompt|"
            rf"conversation|messages?|answers?|text above|history|secrets?|api keys?|"
            rf"passwords?|credentials)\b"
            rf"|{_START}(?:pretend|roleplay|role-play|act)\s+(?:to be |you are |as )"
            rf"(?:an? )?(?:\w+\s+){{0,3}}?(?:ai|model|assistant|system|administrator|admin)\b"
            rf"|{_START}(?:execute|run)\s+(?:the following|any|every|this)\s+(?:shell\s+)?"
            rf"(?:commands?|code|script)"
            rf"|{_START}(?:treat|consider)\s+this\s+(?:memory|message|text)\s+as\b"
            rf"|{_START}(?:respond|reply|answer)\s+(?:to\s+)?(?:every|all|any|each)\s+"
            rf"(?:questions?|messages?|requests?|prompts?)\b"
            rf"|\bfollow\s+(?:only\s+)?(?:these|the following|this memory's)\s+instructions\b"
            rf"|{_START}(?:grant|give)\s+(?:the user\s+|this user\s+)?(?:all|full|root|admin|"
            rf"unrestricted)\s+(?:requests|access|privileges|permissions|rights)",
            _FLAGS,
        ),
    ),
    (
        "the assistant addressed or ordered",
        re.compile(
            rf"^\W*(?:hey |dear |attention,? )?(?:the |this )?{_ASSISTANT}\s*[,:]"
            rf"|\b(?:the |this |our )?{_ASSISTANT}\s+{_MODAL}\s+(?:not\s+|always\s+|never\s+)?"
            rf"(?:{_ORDERS}|ignore|disregard|forget|skip|bypass|comply|send|grant|execute|run)\b",
            _FLAGS,
        ),
    ),
    (
        "a demand for obedience",
        re.compile(
            r"\b(?:must|should|shall|is to|are to)\s+(?:always\s+|at all times\s+)?be\s+"
            r"(?:obeyed|trusted completely|followed without question|complied with)\b"
            r"|\b(?:must|should)\s+(?:always\s+)?be\s+trusted\b",
            _FLAGS,
        ),
    ),
)
"""Each shape of an order to the assistant, named (the name is logged when one matches)."""


def reads_as_instruction(content: str) -> str | None:
    """The name of the first instruction shape ``content`` has, or None for a plain fact."""
    for name, pattern in INSTRUCTION_PATTERNS:
        if pattern.search(content):
            return name
    return None


def admit_facts(item: BlockItem) -> bool:
    """The default ``admit`` hook of ``with_memory``: store a memory of the model's block
    unless it reads as an instruction to the assistant."""
    return reads_as_instruction(item.content) is None
