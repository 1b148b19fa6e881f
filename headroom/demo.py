"""``python -m headroom.demo [--db PATH] [--no-chat]``: the same as ``headroom demo``.

The demonstration itself is a command of the CLI (``headroom/cli/_demo.py``); this module is
only the entry point ``make demo`` runs, so that one place turns errors into messages and
exit codes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from headroom.cli import main as cli

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return cli(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
