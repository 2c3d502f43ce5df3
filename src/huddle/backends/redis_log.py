"""The Redis backend's event log: a Stream per workspace, appended and published by Lua."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from ..ids import WorkspaceKey
from ..models import Event, EventDraft, LogSlice
from .base import Subscription
from .redis_bus import Bus
from .redis_codec import decode_event, encode_actor, encode_audience, pack, reply_list
from .redis_link import Arg
from .redis_scripts import Runner


class RedisEventLog:
    def __init__(self, runner: Runner, bus: Bus, idempotency_window: float) -> None:
        self._runner = runner
        self._bus = bus
        self._window_ms = max(1, round(idempotency_window * 1000))

    async def publish(self, ws: WorkspaceKey, draft: EventDraft) -> Event:
        args: list[Arg] = [draft.type, encode_actor(draft.actor), pack(draft.data)]
        args += [self._window_ms, encode_audience(draft.audience)]
        if draft.idempotency_key is not None:
            args.append(draft.idempotency_key)
        blob = await self._runner.run(ws, "publish", *args)
        return decode_event(ws, blob)

    async def broadcast(self, ws: WorkspaceKey, draft: EventDraft) -> Event:
        args: list[Arg] = [draft.type, encode_actor(draft.actor), pack(draft.data)]
        args.append(encode_audience(draft.audience))
        return decode_event(ws, await self._runner.run(ws, "broadcast", *args))

    async def read(self, ws: WorkspaceKey, after: int, limit: int) -> LogSlice:
        reply = await self._runner.run(ws, "read", after, limit)
        reply = reply_list(reply)
        epoch, head, oldest, blobs = reply
        return LogSlice(
            epoch=epoch.decode(),
            head=head,
            oldest=oldest,
            events=tuple(decode_event(ws, blob) for blob in blobs),
        )

    def subscribe(self, ws: WorkspaceKey) -> AbstractAsyncContextManager[Subscription]:
        return self._bus.subscribe(ws)
