"""Publishing custom events and replaying a workspace's log from a cursor.

Replay never hides a gap: a cursor from another epoch (the backend lost its history) or older
than the retained log answers a `sync.reset` event first, telling the client to reload state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import InvalidInput, PayloadTooLarge
from ..hub.audience import Reader
from ..hub.node import Node
from ..ids import WorkspaceKey
from ..models import (
    BEYOND_HEAD,
    RESERVED_EVENT_PREFIXES,
    Actor,
    Audience,
    Event,
    EventDraft,
    reset_event,
)
from ..protocol.cursor import ORIGIN, Cursor, parse_cursor


@dataclass(frozen=True, slots=True)
class Replay:
    """Events after a cursor, oldest first; `next` is the cursor to resume from
    (`origin:0` while the workspace has no events).

    With `reset`, the only event is a synthetic `sync.reset` (not in the log): the client
    reloads its state over REST and resumes from `next`, the current head. A partial replay is
    never sent, since it would hide the events that are gone.
    """

    events: tuple[Event, ...]
    next: str
    reset: bool = False


class EventService:
    def __init__(self, node: Node) -> None:
        self._log = node.backend.log
        self._settings = node.settings
        self._metrics = node.metrics
        self._clock = node.clock

    async def publish_custom(
        self,
        ws: WorkspaceKey,
        actor: Actor,
        event_type: str,
        data: dict[str, Any],
        idempotency_key: str | None = None,
        persist: bool = True,
        audience: Audience | None = None,
    ) -> Event:
        """Append and publish a client-defined event. Huddle's own prefixes are refused.
        With `persist=False` it is an ephemeral broadcast: live subscribers only, no offset,
        never replayed (cursor positions, typing). With an `audience`, only the users it
        admits (and services) ever receive it, live or replayed."""
        if event_type.startswith(RESERVED_EVENT_PREFIXES):
            raise InvalidInput(
                f"event type {event_type!r} uses a prefix reserved for Huddle's own events "
                f"({', '.join(RESERVED_EVENT_PREFIXES)})",
                loc=("body", "type"),
                input=event_type,
            )
        size = len(orjson.dumps(data))
        if size > self._settings.max_event_bytes:
            raise PayloadTooLarge(
                f"event data is {size} bytes; the limit is {self._settings.max_event_bytes}",
                details={"limit": self._settings.max_event_bytes, "size": size},
            )
        if not persist:
            if idempotency_key is not None:
                raise InvalidInput(
                    "an ephemeral broadcast (persist=false) takes no idempotency key",
                    loc=("body", "idempotency_key"),
                    input=idempotency_key,
                )
            return await self._log.broadcast(
                ws, EventDraft(event_type, data, actor, audience=audience)
            )
        draft = EventDraft(event_type, data, actor, idempotency_key, audience)
        event = await self._log.publish(ws, draft)
        self._metrics.published()
        return event

    async def publish_own(
        self,
        ws: WorkspaceKey,
        actor: Actor,
        event_type: str,
        data: dict[str, Any],
        audience: Audience | None = None,
    ) -> Event:
        """Append and publish one of Huddle's own events (a module's, under a reserved
        prefix such as `user.`), which no client may publish itself."""
        event = await self._log.publish(ws, EventDraft(event_type, data, actor, audience=audience))
        self._metrics.published()
        return event

    async def position(self, ws: WorkspaceKey) -> str:
        """The cursor of the workspace's newest event (`origin:0` before the first): reading
        or streaming after it yields exactly what comes next. One read of the log's head."""
        head = await self._log.read(ws, BEYOND_HEAD, 1)
        return _head(head.epoch, head.head)

    async def replay(
        self, ws: WorkspaceKey, after: str | None, limit: int, reader: Reader | None = None
    ) -> Replay:
        """Events after `after` (a cursor; None: from the oldest retained), at most `limit`.
        With a `reader`, only the events it sees (it is a copy: the caller's stays as it was);
        `next` still passes the ones withheld, so a page may be empty yet move on."""
        limit = max(1, min(limit, self._settings.replay_limit_max))
        cursor = parse_cursor(after) if after is not None else None
        first = await self._log.read(ws, cursor.seq if cursor else 0, limit)
        if cursor is None or _continues(cursor, first.epoch, first.oldest, first.head):
            page = first.events
            if page:
                if reader is not None:
                    reader = reader.copy()
                    return Replay(tuple(e for e in page if reader.sees(e)), page[-1].id)
                return Replay(page, page[-1].id)
            return Replay((), str(cursor) if cursor else _head(first.epoch, first.head))
        reason = "epoch_changed" if cursor.epoch != first.epoch else "cursor_expired"
        reset = reset_event(
            ws, first.epoch, first.oldest, first.head, reason, str(cursor), self._clock.now_ms()
        )
        return Replay((reset,), _head(first.epoch, first.head), reset=True)


def _continues(cursor: Cursor, epoch: str, oldest: int, head: int) -> bool:
    """True when the log holds every event after `cursor`: same epoch, nothing trimmed."""
    if epoch == "":
        return cursor.seq == 0
    if cursor == ORIGIN:
        return oldest <= 1
    return cursor.epoch == epoch and oldest - 1 <= cursor.seq <= head


def _head(epoch: str, head: int) -> str:
    return f"{epoch}:{head}" if epoch else str(ORIGIN)
