"""The wrapper's instruction filter, measured: how many ordinary memories it keeps, how many
instruction-like ones it refuses.

Ordinary memories: the case set written for the tests (``tests/data/ordinary_memories.txt``)
and, when the development data is present (``../shared/data/locomo_dev.json``), the LoCoMo
observations and event summaries: short third-person facts extracted from two long
conversations, the closest thing to what a model writes in a ``<memory>`` block.
Instruction-like memories: ``tests/data/instruction_memories.txt``.

    python -m benchmarks.instruction_filter      # the counts, and every memory misjudged
"""

from __future__ import annotations

import json
from pathlib import Path

from headroom.wrapper import reads_as_instruction

__all__ = ["case_set", "locomo_facts", "main"]

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data"
#: ``shared/data`` beside the checkout (or beside the folder holding it, for a worktree).
LOCOMO = next(
    (
        folder / "shared" / "data" / "locomo_dev.json"
        for folder in ROOT.parents
        if (folder / "shared" / "data" / "locomo_dev.json").exists()
    ),
    ROOT.parent / "shared" / "data" / "locomo_dev.json",
)


def case_set(name: str) -> list[str]:
    """The memories of a case file: one a line, ``#`` lines are comments."""
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def locomo_facts(path: Path = LOCOMO) -> list[str]:
    """Every observation and event summary of the LoCoMo conversations (empty if absent)."""
    if not path.exists():
        return []
    facts: list[str] = []
    for conversation in json.loads(path.read_text(encoding="utf-8")):
        for session in conversation["observation"].values():
            for observations in session.values():
                facts.extend(fact for fact, *_ in observations)
        for session in conversation["event_summary"].values():
            for speaker, events in session.items():
                if speaker != "date":
                    facts.extend(events)
    return facts


def _report(name: str, memories: list[str], *, ordinary: bool) -> None:
    """Count what the filter gets right: ordinary memories kept, instructions refused."""
    verdicts = [(memory, reads_as_instruction(memory)) for memory in memories]
    wrong = [(m, why) for m, why in verdicts if (why is not None) == ordinary]
    right = len(memories) - len(wrong)
    share = right / len(memories) if memories else 1.0
    verb = "kept" if ordinary else "refused"
    print(f"{name:44} {verb} {right:4} of {len(memories):4}  ({share:.1%})")
    for memory, why in wrong:
        print(f"    refused ({why}): {memory}" if ordinary else f"    kept: {memory}")


def main() -> None:
    ordinary = case_set("ordinary_memories.txt")
    locomo = locomo_facts()
    _report("ordinary memories (tests/data)", ordinary, ordinary=True)
    if locomo:
        _report("LoCoMo observations and events", locomo, ordinary=True)
        _report("all ordinary memories", ordinary + locomo, ordinary=True)
    else:
        print(f"(LoCoMo not found at {LOCOMO}: skipped)")
    _report(
        "instruction-like memories (tests/data)",
        case_set("instruction_memories.txt"),
        ordinary=False,
    )


if __name__ == "__main__":
    main()
