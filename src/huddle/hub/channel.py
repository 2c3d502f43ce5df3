"""One workspace's live events in this node: one backend subscription, many local members.

The channel subscribes while the workspace has local members and remembers the last event it
delivered. After the subscription is lost (pub/sub reconnect, a Redis restart, an overflow),
it subscribes again and reads the gap from the log before delivering live events, so members
see every event once, in order. A gap the log no longer holds, or a new epoch, reaches every
member as one `sync.reset`.

Fan-out never awaits a member: each event is encoded at most once per encoding and the same
frame is offered to every member's bounded outbox (a full outbox ends that member alone). An
event with an audience is offered only to the members whose reader admits it; it is still
encoded at most once per encoding, and only if some member receives it.

A channel may also have one `observer`, shown every event (a `sync.reset` included) before its
members: how the node reads its internal streams (`hub.credentials`) without a member.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Final, Literal

from ..backends.base import EventLog, SubscriptionLost
from ..clock import Clock
from ..errors import BackendUnavailable
from ..ids import WorkspaceKey
from ..models import BEYOND_HEAD, MEMBERSHIP_CHANGED, Event, reset_event
from ..protocol.sse import frame_event
from ..protocol.ws import encode_event
from .audience import Reader
from .metrics import Metrics
from .outbox import Frame, Outbox

log = logging.getLogger("huddle.hub")

Encoding = Literal["json", "msgpack", "sse"]
_PAGE: Final = 500


def encode(event: Event, encoding: Encoding) -> Frame:
    if encoding == "sse":
        return frame_event(event)
    frame = encode_event(event.to_wire(), encoding)
    return frame.decode() if encoding == "json" else frame


class FrameCache:
    """One event, encoded lazily at most once per encoding. `screened`: readers must look at
    it (it has an audience, or changes a user's groups); the others go straight through."""

    __slots__ = ("_frames", "event", "screened")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.screened = event.audience is not None or event.type == MEMBERSHIP_CHANGED
        self._frames: dict[Encoding, Frame] = {}

    def get(self, encoding: Encoding) -> Frame:
        frame = self._frames.get(encoding)
        if frame is None:
            frame = self._frames[encoding] = encode(self.event, encoding)
        return frame


class Member:
    """One session's place in one channel. It joins *catching up*: live events wait in
    `pending` (bounded) while the session's backlog is read from the log, then `go_live`
    queues the backlog and the pending events in order.

    `reader` (None: a service, which sees everything) decides, event by event in log order,
    which events with an audience this member receives; it is set before `go_live`."""

    __slots__ = ("encoding", "outbox", "pending", "pending_limit", "reader")

    def __init__(
        self, outbox: Outbox, encoding: Encoding, pending_limit: int, reader: Reader | None = None
    ) -> None:
        self.outbox = outbox
        self.encoding = encoding
        self.pending: list[Event] | None = []
        self.pending_limit = pending_limit
        self.reader = reader

    def deliver(self, frames: FrameCache) -> bool | None:
        """Offer one event; False when refused (the outbox is full or closed), None when the
        member may not see it (withheld)."""
        if self.pending is None:
            if frames.screened and self.reader is not None and not self.reader.sees(frames.event):
                return None
            return self.outbox.offer(frames.get(self.encoding))
        if len(self.pending) < self.pending_limit:
            self.pending.append(frames.event)
            return True
        self.outbox.overflow()
        return False

    def go_live(self, backlog: Iterable[Event]) -> None:
        """Queue `backlog` (events up to the channel's position at join) then what arrived
        meanwhile; from now on events go straight to the outbox. No await: nothing slips in."""
        reader = self.reader
        for event in backlog:
            if reader is None or reader.sees(event):
                self.outbox.admit(encode(event, self.encoding))
        pending, self.pending = self.pending or [], None
        for event in pending:
            if reader is None or reader.sees(event):
                self.outbox.offer(encode(event, self.encoding))


class WorkspaceChannel:
    def __init__(
        self, ws: WorkspaceKey, log: EventLog, *, retry: float, metrics: Metrics, clock: Clock
    ) -> None:
        self.ws = ws
        self._log = log
        self._clock = clock
        self._retry = retry
        self._metrics = metrics
        self.members: dict[Member, None] = {}
        #: Members per encoding, kept on add/remove: fan-out counts frames without a loop.
        self._encodings: dict[Encoding, int] = {}
        self.epoch = ""
        self.last_seq = 0
        #: (ts_ms, type) of the event at `last_seq`, to recognise it in the log again.
        self._last_mark: tuple[int, str] | None = None
        self.ready = asyncio.Event()
        self._synced = False
        self._advanced = asyncio.Event()
        #: Shown each event before the members; it must neither raise nor await.
        self.observer: Callable[[Event], None] | None = None

    def add(self, member: Member) -> tuple[str, int]:
        """Register a catching-up member; answers the position (epoch, seq) it joins at."""
        if member not in self.members:
            self.members[member] = None
            self._encodings[member.encoding] = self._encodings.get(member.encoding, 0) + 1
        return self.epoch, self.last_seq

    def remove(self, member: Member) -> None:
        if member in self.members:
            del self.members[member]
            self._encodings[member.encoding] -= 1

    async def advanced(self, beyond: int, within: float) -> bool:
        """Wait until the channel delivered an event after `beyond` (False on timeout)."""
        try:
            async with asyncio.timeout(within):
                while self.last_seq <= beyond:
                    self._advanced.clear()
                    await self._advanced.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Subscribe, catch up from the log, deliver; again after every loss. Forever."""
        while True:
            try:
                async with self._log.subscribe(self.ws) as subscription:
                    await self._catch_up()
                    self.ready.set()
                    while True:
                        event = await subscription.get()
                        if self._continues(event.epoch) and event.seq > self.last_seq + 1:
                            await self._catch_up()
                        self._deliver(event)
            except SubscriptionLost as lost:
                self._metrics.subscription_lost()
                log.info("%s: subscription lost (%s); catching up from the log", self.ws, lost)
            except BackendUnavailable as exc:
                self._metrics.backend_error("channel")
                log.warning("%s: backend unavailable (%s); retrying", self.ws, exc.message)
                await asyncio.sleep(self._retry)

    def _continues(self, epoch: str) -> bool:
        """True when `epoch` is this channel's history (or the first one it sees)."""
        return epoch == self.epoch or (self.epoch == "" and self.last_seq == 0)

    async def _catch_up(self) -> None:
        """Deliver what the log holds after `last_seq`; a gap it cannot fill is a reset."""
        if not self._synced:
            head = await self._log.read(self.ws, BEYOND_HEAD, 1)
            self.epoch, self.last_seq, self._synced = head.epoch, head.head, True
            return
        if await self._rewound():
            return
        while True:
            page = await self._log.read(self.ws, self.last_seq, _PAGE)
            if not self._continues(page.epoch) or page.oldest > self.last_seq + 1:
                reason = "cursor_expired" if self._continues(page.epoch) else "epoch_changed"
                requested = f"{self.epoch}:{self.last_seq}"
                self._reset(page.epoch, page.oldest, page.head, reason, requested)
                return
            for event in page.events:
                self._deliver(event)
            self._metrics.backfilled(len(page.events))
            if len(page.events) < _PAGE:
                return

    async def _rewound(self) -> bool:
        """Detect a backend that came back from an older state under the same epoch (Redis
        restored from a snapshot that lacks acknowledged events): the log ends before
        `last_seq`, or holds another event there. New events would then reuse offsets this
        channel already delivered and be dropped as repeats: members get a reset instead."""
        if self._last_mark is None:
            return False
        probe = await self._log.read(self.ws, self.last_seq - 1, 1)
        if not self._continues(probe.epoch):
            return False  # a new epoch: _catch_up's own check resets
        there = probe.events[0] if probe.events else None
        if there is not None and there.seq == self.last_seq:
            rewound = (there.ts_ms, there.type) != self._last_mark
        else:
            rewound = probe.head < self.last_seq
        if rewound:
            requested = f"{self.epoch}:{self.last_seq}"
            self._reset(probe.epoch, probe.oldest, probe.head, "history_rewound", requested)
        return rewound

    def _deliver(self, event: Event) -> None:
        if event.ephemeral:
            self._fan_out(FrameCache(event))
            return
        if not self._continues(event.epoch):
            # A new epoch: the backend lost its history, so members must reload state. Met
            # mid-way (seq > 1), the event itself is covered by the reload too.
            requested = f"{self.epoch}:{self.last_seq}"
            head = event.seq if event.seq != 1 else 0
            self._reset(event.epoch, 1, head, "epoch_changed", requested)
            if head:
                return
        elif event.seq <= self.last_seq:
            return
        self.epoch, self.last_seq = event.epoch, event.seq
        self._last_mark = (event.ts_ms, event.type)
        self._fan_out(FrameCache(event))

    def _reset(self, epoch: str, oldest: int, head: int, reason: str, requested: str) -> None:
        reset = reset_event(self.ws, epoch, oldest, head, reason, requested, self._clock.now_ms())
        self.epoch, self.last_seq = epoch, head
        self._last_mark = None
        self._fan_out(FrameCache(reset))

    def _fan_out(self, frames: FrameCache) -> None:
        if self.observer is not None:
            self.observer(frames.event)
        refused = 0
        withheld: dict[Encoding, int] = {}
        for member in list(self.members):
            offered = member.deliver(frames)
            if offered is None:
                withheld[member.encoding] = withheld.get(member.encoding, 0) + 1
            elif not offered:
                refused += 1
        if withheld:
            counts = [(e, n - withheld.get(e, 0)) for e, n in self._encodings.items()]
            self._metrics.fanned_out(counts, refused)
        else:
            self._metrics.fanned_out(self._encodings.items(), refused)
        self._advanced.set()
