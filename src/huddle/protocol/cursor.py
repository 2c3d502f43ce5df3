"""Cursors: the opaque `<epoch>:<seq>` position a client holds, the same on every transport."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ..errors import BadRequest

_CURSOR: Final = re.compile(r"^([0-9a-zA-Z_-]{1,32}):(0|[1-9][0-9]{0,17})$")


@dataclass(frozen=True, slots=True)
class Cursor:
    epoch: str
    seq: int

    def __str__(self) -> str:
        return f"{self.epoch}:{self.seq}"


#: The position of a workspace that has no event yet: before the first event of whatever
#: epoch comes first. Resuming from it replays from the start unless history was trimmed.
ORIGIN: Final = Cursor("origin", 0)


class BadCursor(BadRequest):
    code = "INVALID_CURSOR"


def parse_cursor(raw: str) -> Cursor:
    """Parse `<epoch>:<seq>`; raises BadCursor for anything else."""
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise BadCursor(
            f"{raw[:80]!r} is not an event id: expected `<epoch>:<seq>` as received",
            details={"cursor": raw[:80]},
        )
    return Cursor(match.group(1), int(match.group(2)))
