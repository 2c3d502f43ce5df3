"""deploy/'s files with their placeholder blocks filled in, as the tests run them.

A shipped file marks what an operator edits (addresses, ports, log paths) with a block:

    # BEGIN upstreams
    server 127.0.0.1:8000 max_fails=1 fail_timeout=2s;
    # END upstreams

The lines between the markers are defaults that work as they stand; `fill` replaces them (every
block of that name: HAProxy lists its servers in two backends) and keeps the markers' own
indentation, so the tests run the shipped file with nothing else changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

DEPLOY: Final = Path(__file__).resolve().parents[2] / "deploy"


def fill(text: str, blocks: Mapping[str, str]) -> str:
    """`text` with each named block's body replaced by its lines; an unknown name fails."""
    for name, body in blocks.items():
        pattern = re.compile(
            rf"^(?P<indent>[ \t]*)# BEGIN {re.escape(name)}\n.*?^[ \t]*# END {re.escape(name)}\n",
            re.M | re.S,
        )

        def replace(match: re.Match[str], name: str = name, body: str = body) -> str:
            indent = match["indent"]
            lines = "".join(f"{indent}{line}\n" for line in body.splitlines())
            return f"{indent}# BEGIN {name}\n{lines}{indent}# END {name}\n"

        text, count = pattern.subn(replace, text)
        if count == 0:
            raise ValueError(f"no `# BEGIN {name}` block to fill")
    return text


def filled(relative: str, blocks: Mapping[str, str]) -> str:
    """The shipped `deploy/<relative>` with `blocks` filled in."""
    return fill((DEPLOY / relative).read_text(), blocks)
