"""``with_memory``: one line gives any OpenAI-compatible client a persistent memory.

::

    from openai import OpenAI
    from headroom import with_memory

    client = with_memory(OpenAI(), user_id="alice")
    client.chat.completions.create(model="gpt-4o", messages=[...])

See ``docs/wrapper.md`` for what is injected, the ``<memory>`` block, scopes and streaming.
"""

from headroom.wrapper.block import BlockItem
from headroom.wrapper.client import (
    DEFAULT_MAX_CONTEXT_TOKENS,
    DEFAULT_MIN_SIMILARITY,
    AsyncMemoryAPI,
    AsyncMemoryClient,
    MemoryAPI,
    MemoryClient,
    with_memory,
)
from headroom.wrapper.instructions import admit_facts, reads_as_instruction
from headroom.wrapper.policy import DEFAULT_SCOPE_POLICY, ScopePolicy

__all__ = [
    "DEFAULT_MAX_CONTEXT_TOKENS",
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_SCOPE_POLICY",
    "AsyncMemoryAPI",
    "AsyncMemoryClient",
    "BlockItem",
    "MemoryAPI",
    "MemoryClient",
    "ScopePolicy",
    "admit_facts",
    "reads_as_instruction",
    "with_memory",
]
