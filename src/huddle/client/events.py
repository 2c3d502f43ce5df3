"""`ClientEvent`: one event as a client receives it, parsed from `Event.to_wire()`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..ids import OrgId, WorkspaceId, WorkspaceKey
from ..models import Actor
from ..protocol.cursor import BadCursor, Cursor, parse_cursor
from .errors import ServerProtocolError

#: The synthetic event telling a reader that history it asked for is gone: reload state over
#: REST, then continue from its id (`data.head`).
RESET = "sync.reset"


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One event of a workspace's log, the same on every transport.

    `id` is the opaque cursor `<epoch>:<seq>` to resume after; `seq` is dense per workspace
    epoch, so a hole would mean a missed event (the client never delivers one). An ephemeral
    broadcast (`persist=False`: typing, cursor moves) has no id and seq 0: it is never
    replayed, so one sent while the client was reconnecting is not seen.
    """

    id: str | None
    seq: int
    type: str
    org_id: OrgId
    workspace_id: WorkspaceId
    actor: Actor | None
    data: dict[str, Any] = field(hash=False)
    ts: datetime

    @property
    def workspace(self) -> WorkspaceKey:
        return WorkspaceKey(self.org_id, self.workspace_id)

    @property
    def cursor(self) -> Cursor | None:
        """The parsed id; None for an ephemeral event, or a reset of an emptied log."""
        return cursor_or_none(self.id)

    @property
    def ephemeral(self) -> bool:
        return self.id is None

    @property
    def is_reset(self) -> bool:
        return self.type == RESET

    @classmethod
    def from_wire(cls, raw: object) -> ClientEvent:
        """Parse an `Event.to_wire()` dict; ServerProtocolError when it has another shape."""
        if not isinstance(raw, Mapping):
            raise ServerProtocolError(f"an event must be a map, got {type(raw).__name__}")
        try:
            actor = raw["actor"]
            data = raw["data"]
            event_id = raw["id"]
            event = cls(
                id=None if event_id is None else _text(event_id),
                seq=_integer(raw["seq"]),
                type=_text(raw["type"]),
                org_id=OrgId(_text(raw["org_id"])),
                workspace_id=WorkspaceId(_text(raw["workspace_id"])),
                actor=None if actor is None else Actor.from_dict(dict(actor)),
                data=dict(data) if data is not None else {},
                ts=datetime.fromisoformat(_text(raw["ts"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ServerProtocolError(f"malformed event {dict(raw)!r:.300}: {exc!r}") from None
        return event


def cursor_or_none(raw: str | None) -> Cursor | None:
    if raw is None:
        return None
    try:
        return parse_cursor(raw)
    except BadCursor:
        return None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value
