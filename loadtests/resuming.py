"""Clients that resume from their own cursor, as a real one does, for `soak` and `storm`.

A `Track` is what one client identity has seen over all its connections: the `seq` of every
logged event, in the order received, and its cursor (the `id` of the last one). `HuddleWs` is
one WebSocket connection (`WsClient`, JSON frames, requests matched to replies by `id`);
`open_sse` one event stream (`SseClient`). Both feed a `Track` inline, from the frame callback.
`tally(track, last)` counts what a gapless, duplicate-free run from the client's start
position to `last` would not have: lost, duplicated and out-of-order offsets.

Within an epoch `seq` is dense (docs/protocol.md, "Resume rules"), so a client that resumes
every connection from its cursor sees one run of consecutive offsets, whichever node it
reaches and whatever broke in between.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .scenarios.worker_common import ORG, WORKSPACE
from .sseclient import SseClient
from .wsclient import WsClient

SUBPROTOCOL = "huddle.v1.json"
STREAM_PATH = f"/v1/orgs/{ORG}/workspaces/{WORKSPACE}/sync/stream"
PUBLISH_PATH = f"/v1/orgs/{ORG}/workspaces/{WORKSPACE}/events"
WS_ARGS: dict[str, str] = {"org_id": ORG, "workspace_id": WORKSPACE}


def seq_of(cursor: str) -> int:
    """The offset in a cursor `<epoch>:<seq>` (`origin:0` is 0)."""
    return int(cursor.rsplit(":", 1)[1])


def epoch_of(cursor: str) -> str:
    return cursor.rsplit(":", 1)[0]


@dataclass
class Track:
    """What one client identity has seen, over every connection it opened."""

    name: str
    cursor: str  # where the client resumes from: its start position, then the last event's id
    start: int = 0  # the offset of the start position: the first expected event is start + 1
    seqs: list[int] = field(default_factory=list)
    epochs: set[str] = field(default_factory=set)
    resets: list[str] = field(default_factory=list)  # sync.reset reasons: history was lost
    visits: int = 0  # connections that reached the stream (subscribe answered, 200 SSE)
    on_logged: Callable[[Track, int], None] | None = None

    def __post_init__(self) -> None:
        self.start = seq_of(self.cursor)
        self.epochs.add(epoch_of(self.cursor))

    @property
    def last(self) -> int:
        """The highest offset seen (the start position before any event)."""
        return max(self.seqs[-1], self.start) if self.seqs else self.start

    def event(self, event_id: str | None, seq: int, kind: str, reason: str = "") -> None:
        """One delivered event: ephemeral ones (no id) are not logged and not counted; a
        `sync.reset` (its `reason`) moves the cursor and is counted as a reset."""
        if kind == "sync.reset":
            self.resets.append(reason or kind)
            if event_id:
                self.cursor = event_id
            return
        if event_id is None:
            return
        self.seqs.append(seq)
        self.cursor = event_id
        self.epochs.add(epoch_of(event_id))
        if self.on_logged is not None:
            self.on_logged(self, seq)


def tally(track: Track, last: int | None = None) -> dict[str, int]:
    """Loss counters of one client from its start position to `last` (default: the highest
    offset it saw): each expected offset missing is lost, each one seen again duplicated, each
    one below its predecessor out of order, each one past `last` unexpected."""
    end = track.last if last is None else last
    seen = set(track.seqs)
    expected = range(track.start + 1, end + 1)
    out_of_order = sum(1 for a, b in zip(track.seqs, track.seqs[1:], strict=False) if b < a)
    return {
        "lost": sum(1 for s in expected if s not in seen),
        "duplicated": len(track.seqs) - len(seen),
        "out_of_order": out_of_order,
        "unexpected": sum(1 for s in seen if s <= track.start or s > end),
        "epoch_changes": len(track.epochs) - 1,
        "resets": len(track.resets),
    }


def backoff(attempt: int, *, base: float = 0.25, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff: a uniform delay up to base x 2^attempt (capped)."""
    return random.uniform(0.0, min(cap, base * 2**attempt))


class HuddleWs:
    """One Huddle WebSocket connection feeding `track`; `request(op, **args)` awaits the reply."""

    def __init__(self, track: Track) -> None:
        self.track = track
        self.ws = WsClient(self._on_message, on_close=self._on_close)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self.opened_at = 0.0

    @property
    def closed(self) -> asyncio.Future[int | None]:
        return self.ws.closed

    async def connect(self, base_url: str, token: str) -> None:
        url = base_url.replace("http", "ws", 1) + "/v1/ws"
        await self.ws.connect(
            url, subprotocols=(SUBPROTOCOL,), headers={"Authorization": f"Bearer {token}"}
        )

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one request and return its reply (raises ConnectionError if the connection
        ends first)."""
        if not self.ws.open:
            raise ConnectionError(f"{self.track.name}: the connection is closed")
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self.ws.send_text(orjson.dumps({"id": self._next_id, "op": op, **args}).decode())
        return await future

    async def subscribe(self) -> None:
        """Subscribe from the track's cursor; the backlog after it follows the reply."""
        reply = await self.request("subscribe", **WS_ARGS, since=self.track.cursor)
        if not reply.get("ok"):
            raise ConnectionError(f"{self.track.name}: subscribe refused: {reply}")
        self.opened_at = time.monotonic()
        self.track.visits += 1

    def close(self) -> None:
        self.ws.close()

    def _on_message(self, payload: bytes, is_text: bool) -> None:
        message = orjson.loads(payload)
        if message.get("op") == "event":
            event = message["event"]
            kind = event.get("type", "")
            data = event.get("data") or {}
            reason = str(data.get("reason", "")) if kind == "sync.reset" else ""
            self.track.event(event.get("id"), int(event.get("seq") or 0), kind, reason)
            return
        future = self._pending.pop(message.get("id"), None) if "id" in message else None
        if future is not None and not future.done():
            future.set_result(message)

    def _on_close(self, code: int | None) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"closed ({code})"))


class HuddleSse:
    """One event stream feeding `track`, opened with `Last-Event-ID` = the track's cursor.
    `ended` holds the reason of a final `sync.reconnect` (None: the connection just ended)."""

    def __init__(self, track: Track) -> None:
        self.track = track
        self.reader = SseClient(self._on_event)
        self.ended: str | None = None
        self.opened_at = 0.0

    @property
    def closed(self) -> asyncio.Future[None]:
        return self.reader.closed

    async def connect(
        self, base_url: str, token: str, *, query: Mapping[str, str] | None = None
    ) -> None:
        params = "&".join(f"{k}={v}" for k, v in (query or {}).items())
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": self.track.cursor}
        await self.reader.connect(f"{base_url}{STREAM_PATH}?{params}", headers=headers)
        self.opened_at = time.monotonic()
        self.track.visits += 1

    def close(self) -> None:
        self.reader.close()

    def _on_event(self, event_id: str | None, event: str, data: str) -> None:
        if event == "sync.reconnect":
            self.ended = str(orjson.loads(data).get("reason"))
            return
        body = orjson.loads(data) if event_id else {}
        reason = str((body.get("data") or {}).get("reason", "")) if event == "sync.reset" else ""
        self.track.event(event_id, int(body.get("seq") or 0), event, reason)
