"""One WebSocket conversation: a reader that answers each request once (publishes and lock
ops pipelined: it reads on while they wait for the backend), frames written inline (a writer
drains the bounded outbox only under backpressure), and watches on the credential: its expiry
(4010), and the revocation of the API key or user token it is (4500, `hub.credentials`).

Replies and events share the outbox, so a client sees a `subscribe` reply before that
workspace's first event. A client that lags more than `outbox_limit` frames is closed with
4008 and resumes from its last event id; it never slows anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, assert_never

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from ..auth import Principal
from ..errors import BackendUnavailable, Forbidden, HuddleError, RateLimited
from ..hub.credentials import Verdict
from ..hub.eager import start_eagerly
from ..hub.limits import TokenBucket
from ..hub.outbox import Frame, Outbox
from ..ids import WorkspaceKey
from ..protocol.close_codes import REVOKED_REASON, CloseCode
from ..protocol.ws import (
    AuthRefresh,
    BadFrame,
    Codec,
    Command,
    LockAcquire,
    LockRefresh,
    LockRelease,
    Ping,
    PresenceJoin,
    PresenceLeave,
    PresenceView,
    Publish,
    Subscribe,
    Unsubscribe,
    encode_error,
    encode_hello,
    encode_reply,
    parse_command,
)
from .collaboration_models import AcquiredOut, LockOut, ReleaseOut
from .deps import Runtime, authenticate, workspace_key
from .sync_models import EventOut, SessionOut
from .ws_pipeline import RequestPipeline

log = logging.getLogger("huddle.ws")


#: Requests answered without waiting for the previous ones (`ws_pipeline`). Each
#: reaches the backend in the order it was read, so their effects keep the client's order.
#: The others change the connection's own state and run alone, once those are answered.
PIPELINED: Final = (Ping, Publish, LockAcquire, LockRefresh, LockRelease)


class AlreadySubscribed(HuddleError):
    status = 409
    code = "ALREADY_SUBSCRIBED"


class TooManySubscriptions(HuddleError):
    status = 429
    code = "TOO_MANY_SUBSCRIPTIONS"


class Connection:
    def __init__(
        self, websocket: WebSocket, rt: Runtime, principal: Principal, codec: Codec
    ) -> None:
        self.websocket = websocket
        self.rt = rt
        self.principal = principal
        self.codec = codec
        self.id = f"ws-{secrets.token_hex(6)}"
        self.outbox = Outbox(
            rt.settings.outbox_limit, sink=self._send_now, on_overflow=self._slow_consumer
        )
        self._stalled: asyncio.Task[None] | None = None
        self._send_failure: Exception | None = None
        self._reading = self._running = True
        self._reader: asyncio.Task[Any] | None = None
        self._writer: asyncio.Task[None] | None = None  # started on first need
        self._writer_failure: BaseException | None = None
        self._closer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._credential: AbstractAsyncContextManager[None] | None = None
        self.requests = RequestPipeline(rt.settings.ws_pipeline_depth)
        self.publish_budget = TokenBucket(rt.settings.publish_rate)
        self.subscriptions: dict[WorkspaceKey, AbstractAsyncContextManager[object]] = {}
        self.session = rt.services.node.sessions.open(
            self.id, "ws", principal.user_id, lambda: self.close_soon(CloseCode.GOING_AWAY)
        )
        self.close_code: CloseCode | None = None
        self.close_reason: str | None = None

    # --- frames ------------------------------------------------------------------------------

    def _frame(self, encoded: bytes) -> Frame:
        return encoded.decode() if self.codec == "json" else encoded

    @staticmethod
    def _message(frame: Frame) -> dict[str, Any]:
        if isinstance(frame, str):
            return {"type": "websocket.send", "text": frame}
        return {"type": "websocket.send", "bytes": frame}

    def _send_now(self, frame: Frame) -> bool:
        """The outbox's sink: hand `frame` to the server in the caller's frame (no task, no
        wake-up). A send that has to wait (the socket is paused) goes on in a task, and until
        it is done the sink declines, so later frames queue for the writer, in order."""
        if self._stalled is not None and not self._stalled.done():
            self._start_writer()
            return False
        try:
            self._stalled = start_eagerly(self.websocket.send(self._message(frame)))
        except Exception as exc:  # the socket is gone: the writer ends the conversation
            self._send_failure = exc
            self.outbox.close()
            self._start_writer()
        return True

    def _start_writer(self) -> None:
        """Start the writer the first time a frame has to queue or the conversation closes:
        a connection that never met backpressure has no writer task (about 1 KiB)."""
        if self._writer is not None or self._reader is None or not self._running:
            return
        writer = self._writer = asyncio.get_running_loop().create_task(self._write())
        writer.add_done_callback(self._writer_done)

    async def _settle(self) -> None:
        """Wait for an inline send that had to wait; raise what an inline send raised."""
        if self._send_failure is not None:
            raise self._send_failure
        stalled, self._stalled = self._stalled, None
        if stalled is not None:
            await stalled

    def reply(self, request_id: int, result: Mapping[str, Any]) -> None:
        self.outbox.offer(self._frame(encode_reply(request_id, result, self.codec)))

    def error(self, request_id: int | None, exc: HuddleError) -> None:
        if isinstance(exc, BackendUnavailable):
            self.rt.services.node.metrics.backend_error("ws")
        frame = encode_error(request_id, exc.code, exc.message, self.codec, exc.details)
        self.outbox.offer(self._frame(frame))

    def close_soon(self, code: CloseCode, reason: str | None = None) -> None:
        """Close with `code` once what queued is written; `reason` replaces the code's own."""
        self.close_code, self.close_reason = code, reason
        self.outbox.close()
        self._start_writer()

    # --- the conversation --------------------------------------------------------------------

    async def run(self) -> None:
        """Read in this task. Frames are written inline; a writer task drains what queued
        under backpressure, started only then (or to close). The expiry watch is a timer, the
        slow-consumer guard and the writer's watch are callbacks, not tasks or a TaskGroup:
        an idle connection is small."""
        reader = self._reader = asyncio.current_task()
        assert reader is not None
        self.reply_hello()
        self._watch_expiry()
        try:
            await self._watch_first_credential()
            left = await self._read()
            self._reading = False
            if left:
                if self._writer is not None:
                    self._writer.cancel()  # the client left: nobody to write to
            else:
                self._start_writer()
                assert self._writer is not None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.rt.settings.redis_timeout):
                        await asyncio.wait((self._writer,))  # flush, then the close frame
        except asyncio.CancelledError:
            if self._writer_failure is None:
                raise
            reader.uncancel()  # cancelled by `_writer_done`: its failure says why
        except WebSocketDisconnect:
            pass
        finally:
            self._reading = self._running = False
            if self._writer is not None:
                self._writer.cancel()
            if self._closer is not None:
                self._closer.cancel()
            if self._expiry is not None:
                self._expiry.cancel()
            if self.outbox.overflowed:
                self.rt.services.node.metrics.slow_consumer("ws")
            self._abandon_stalled_send()
            self.requests.abandon()
            await self._cleanup()
        failure = self._writer_failure
        if failure is not None and not isinstance(failure, WebSocketDisconnect):
            raise failure

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        """A writer that failed (the socket broke, or a bug) ends the conversation: the reader
        is stopped where it waits, as a TaskGroup would stop it."""
        if writer.cancelled() or (failure := writer.exception()) is None:
            return
        self._writer_failure = failure
        if self._reading and self._reader is not None:
            self._reader.cancel()

    def _abandon_stalled_send(self) -> None:
        stalled, self._stalled = self._stalled, None
        if stalled is None:
            return
        if stalled.done():
            if not stalled.cancelled():
                stalled.exception()  # retrieved: the conversation is over either way
        else:
            stalled.cancel()

    def reply_hello(self) -> None:
        hello = encode_hello(self.id, self.principal.user_id, self.principal.expires_at, self.codec)
        self.outbox.offer(self._frame(hello))

    async def _read(self) -> bool:
        """Answer requests until the client leaves (True) or the server closes (False)."""
        max_bytes = self.rt.settings.max_body_bytes
        while self.close_code is None:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return True
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes") or b""
            try:
                command = parse_command(frame, self.codec, max_bytes=max_bytes)
            except BadFrame as exc:
                self.error(exc.request_id, exc)
                if exc.fatal:
                    self.close_soon(CloseCode.BAD_FRAME)
                continue
            if isinstance(command, PIPELINED):
                await self.requests.start(self._answer(command))
            else:
                # it changes the connection's own state (subscriptions, sessions, the
                # credential): it runs alone, once the pipelined ones are answered
                await self.requests.settle()
                await self._answer(command)
        await self.requests.settle()
        return False

    async def _answer(self, command: Command) -> None:
        try:
            await self._dispatch(command)
        except HuddleError as exc:
            self.error(command.id, exc)

    async def _write(self) -> None:
        """Drain what queued while the inline path was blocked; then close, once closed."""
        while True:
            frames = await self.outbox.take()
            await self._settle()
            for frame in frames:
                await self.websocket.send(self._message(frame))
            if not frames and self.outbox.closed:
                code = CloseCode.SLOW_CONSUMER if self.outbox.overflowed else self.close_code
                code = code or CloseCode.GOING_AWAY
                reason = self.close_reason if code is self.close_code else None
                await self.websocket.close(code, reason or code.reason)
                return

    def _slow_consumer(self) -> None:
        """The outbox overflowed. The writer may be blocked in a send that never completes:
        stop it and close with 4008 (queued behind what the socket holds)."""
        if self._writer is not None:
            self._writer.cancel()
        if self._running:
            self._closer = asyncio.get_running_loop().create_task(
                self._close(CloseCode.SLOW_CONSUMER)
            )
        self.close_code, self.close_reason = CloseCode.SLOW_CONSUMER, None

    async def _close(self, code: CloseCode) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, code.reason)

    def _watch_expiry(self) -> None:
        """Close with 4010 once the credential expired; look again at most a minute later,
        since `auth.refresh` may have moved the deadline meanwhile."""
        expires_at = self.principal.expires_at
        if expires_at is None or self.close_code is not None:
            return
        left = expires_at + self.rt.settings.jwt_leeway - time.time()
        if left <= 0:
            self.close_soon(CloseCode.AUTH_EXPIRED)
            return
        self._expiry = asyncio.get_running_loop().call_later(min(left, 60.0), self._watch_expiry)

    async def _watch_first_credential(self) -> None:
        try:
            await self._watch_credential(self.principal)
        except BackendUnavailable:
            self.rt.services.node.metrics.backend_error("ws")
            self.close_soon(CloseCode.BACKEND_UNAVAILABLE)

    async def _watch_credential(self, principal: Principal) -> None:
        """Follow the revocation of the key `principal` authenticated with (nothing for a
        JWT) instead of the previous one's. Raises BackendUnavailable, still following the
        previous one."""
        following = self.rt.services.node.credentials.following(principal, self._credential_ended)
        await following.__aenter__()
        previous, self._credential = self._credential, following
        if previous is not None:
            await previous.__aexit__(None, None, None)

    def _credential_ended(self, verdict: Verdict) -> None:
        """The key was revoked or replaced (4500: not with it again), or the node can no
        longer tell (4001: reconnect, which authenticates again)."""
        if verdict == "revoked":
            self.close_soon(CloseCode.INVALID_TOKEN, REVOKED_REASON)
        else:
            self.close_soon(CloseCode.BACKEND_UNAVAILABLE)

    async def _cleanup(self) -> None:
        """Leave every workspace this connection followed; the hub settles the presence
        sessions and locks it held (`hub/sessions.py` has the rules)."""
        for following in self.subscriptions.values():
            await following.__aexit__(None, None, None)
        self.subscriptions.clear()
        credential, self._credential = self._credential, None
        if credential is not None:
            await credential.__aexit__(None, None, None)
        await self.rt.services.node.sessions.end(self.session)

    # --- ops ---------------------------------------------------------------------------------

    def _workspace(
        self,
        command: Subscribe
        | Unsubscribe
        | PresenceJoin
        | PresenceLeave
        | PresenceView
        | LockAcquire
        | LockRefresh
        | LockRelease
        | Publish,
    ) -> WorkspaceKey:
        return workspace_key(self.principal, command.org_id, command.workspace_id)

    async def _dispatch(self, command: Command) -> None:
        svc = self.rt.services
        match command:
            case Ping():
                self.reply(command.id, {"pong": True})
            case Subscribe():
                await self._subscribe(command)
            case Unsubscribe():
                ws = self._workspace(command)
                following = self.subscriptions.pop(ws, None)
                if following is not None:
                    await following.__aexit__(None, None, None)
                self.reply(command.id, {"workspace": ws.tag, "unsubscribed": following is not None})
            case PresenceJoin() | PresenceView():
                ws = self._workspace(command)
                client_session = command.session or self.id
                if isinstance(command, PresenceJoin):
                    joined = await svc.presence.join(ws, self.principal, client_session, "ws")
                else:
                    joined = await svc.presence.view(
                        ws, self.principal, command.viewing, client_session, "ws"
                    )
                own = client_session == self.id
                self.session.present(ws, client_session, joined.session, own=own)
                self.reply(command.id, SessionOut.of(joined.session, joined.new).model_dump())
            case PresenceLeave():
                ws = self._workspace(command)
                client_session = command.session or self.id
                self.session.absent(ws, client_session)
                left = await svc.presence.leave(ws, self.principal, client_session)
                self.reply(command.id, {"session_id": client_session, "left": left})
            case LockAcquire():
                ws = self._workspace(command)
                granted = await svc.locks.acquire(
                    ws, self.principal, command.entity, command.ttl, self.id
                )
                self.session.took(ws, command.entity)
                out = AcquiredOut(
                    **LockOut.of(granted.lock).model_dump(), reentrant=not granted.fresh
                )
                self.reply(command.id, out.model_dump())
            case LockRefresh():
                ws = self._workspace(command)
                granted = await svc.locks.refresh(
                    ws, self.principal, command.entity, command.ttl, self.id
                )
                self.session.took(ws, command.entity)
                self.reply(command.id, LockOut.of(granted.lock).model_dump())
            case LockRelease():
                ws = self._workspace(command)
                outcome = await svc.locks.release(ws, self.principal, command.entity)
                self.session.released(ws, command.entity)
                self.reply(command.id, ReleaseOut.of(command.entity, outcome).model_dump())
            case Publish():
                if not self.publish_budget.take():
                    rate = self.rt.settings.publish_rate
                    raise RateLimited(
                        f"at most {rate:g} publishes per second per connection; slow down",
                        details={"limit": rate},
                    )
                event = await svc.events.publish_custom(
                    self._workspace(command),
                    self.principal.actor(),
                    command.type,
                    dict(command.data),
                    command.idempotency_key,
                    persist=command.persist,
                    audience=command.audience,
                )
                self.reply(command.id, {"event": EventOut.of(event).model_dump()})
            case AuthRefresh():
                fresh = await authenticate(self.rt, command.token)
                if (fresh.user_id, fresh.org_id) != (self.principal.user_id, self.principal.org_id):
                    raise Forbidden("auth.refresh must keep the same user and organisation")
                if (fresh.key_id, fresh.key_fingerprint) != (
                    self.principal.key_id,
                    self.principal.key_fingerprint,
                ):
                    await self._watch_credential(fresh)
                self.principal = fresh
                self.reply(command.id, {"expires_at": fresh.expires_at})
            case _:
                assert_never(command)

    async def _subscribe(self, command: Subscribe) -> None:
        ws = self._workspace(command)
        if ws in self.subscriptions:
            raise AlreadySubscribed(
                "already subscribed to this workspace; unsubscribe first",
                details={"workspace": ws.tag},
            )
        if len(self.subscriptions) >= self.rt.settings.ws_max_subscriptions:
            raise TooManySubscriptions(
                f"at most {self.rt.settings.ws_max_subscriptions} subscriptions per connection",
                details={"limit": self.rt.settings.ws_max_subscriptions},
            )
        # The context manager itself is kept, entered and exited by hand: an AsyncExitStack
        # around it would cost 840 bytes per subscription (memory_probe).
        follow = self.rt.services.streams.follow(
            ws,
            self.outbox,
            self.codec,
            command.since,
            self.principal,
            on_ready=lambda position: self.reply(
                command.id, {"workspace": ws.tag, "position": position}
            ),
        )
        await follow.__aenter__()
        self.subscriptions[ws] = follow
