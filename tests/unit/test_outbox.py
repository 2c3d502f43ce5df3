"""The outbox writes inline while the way is clear, queues behind a declined or in-flight
frame, and keeps the order of offers either way."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator

import pytest

from huddle.hub.channel import FrameCache, Member
from huddle.hub.eager import start_eagerly
from huddle.hub.outbox import Frame, Outbox
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Event


@types.coroutine
def bare_yield() -> Generator[None, None, None]:
    """What `asyncio.sleep(0)` yields: nothing, one turn of the event loop."""
    yield


class Socket:
    """A sink that writes while open and declines while paused."""

    def __init__(self) -> None:
        self.written: list[Frame] = []
        self.paused = False

    def __call__(self, frame: Frame) -> bool:
        if self.paused:
            return False
        self.written.append(frame)
        return True


async def test_frames_go_to_the_sink_at_once_while_nothing_is_queued() -> None:
    socket = Socket()
    outbox = Outbox(limit=4, sink=socket)
    assert outbox.offer("a") and outbox.offer("b")
    assert socket.written == ["a", "b"]
    assert len(outbox) == 0


async def test_a_declined_frame_queues_and_later_frames_queue_behind_it() -> None:
    socket = Socket()
    outbox = Outbox(limit=4, sink=socket)
    socket.paused = True
    outbox.offer("a")
    socket.paused = False
    outbox.offer("b")  # the sink is open again, but "a" waits: "b" must not overtake it
    assert socket.written == []
    assert await outbox.take() == ["a", "b"]


async def test_frames_offered_while_the_writer_holds_a_batch_queue_behind_it() -> None:
    socket = Socket()
    outbox = Outbox(limit=4, sink=socket)
    socket.paused = True
    outbox.offer("a")
    socket.paused = False
    batch = await outbox.take()  # the writer is sending "a" now
    outbox.offer("b")
    assert (batch, socket.written) == (["a"], [])
    assert await outbox.take() == ["b"]  # taking again ends the batch in flight
    assert await outbox.take(within=0) == []
    outbox.offer("c")
    assert socket.written == ["c"]


async def test_a_full_queue_overflows_once_and_refuses_without_touching_the_sink() -> None:
    socket = Socket()
    overflows: list[bool] = []
    outbox = Outbox(limit=2, sink=socket, on_overflow=lambda: overflows.append(True))
    socket.paused = True
    assert outbox.offer("a") and outbox.offer("b")
    assert not outbox.offer("c")
    assert outbox.overflowed and overflows == [True]
    socket.paused = False
    assert not outbox.offer("d")
    outbox.overflow()
    assert socket.written == [] and overflows == [True]
    assert await outbox.take() == []


async def test_a_closed_outbox_refuses_and_wakes_the_writer() -> None:
    outbox = Outbox(limit=2, sink=Socket())
    taking = asyncio.create_task(outbox.take())
    await bare_yield()
    outbox.close()
    assert await asyncio.wait_for(taking, 1) == []
    assert outbox.closed and not outbox.offer("a")


async def test_start_eagerly_runs_a_coroutine_that_never_waits_in_the_callers_frame() -> None:
    ran: list[str] = []

    async def send() -> None:
        ran.append("sent")

    assert start_eagerly(send()) is None
    assert ran == ["sent"]


async def test_start_eagerly_finishes_a_coroutine_that_waits_in_a_task() -> None:
    writable = asyncio.Event()
    ran: list[str] = []

    async def send() -> None:
        ran.append("started")
        await writable.wait()
        await bare_yield()
        ran.append("sent")

    task = start_eagerly(send())
    assert task is not None and ran == ["started"]
    writable.set()
    await asyncio.wait_for(task, 1)
    assert ran == ["started", "sent"]


async def test_start_eagerly_raises_early_failures_and_hands_later_ones_to_the_task() -> None:
    async def broken() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        start_eagerly(broken())

    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def breaks_later() -> None:
        await gate

    task = start_eagerly(breaks_later())
    assert task is not None
    gate.set_exception(ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(task, 1)


async def test_cancelling_the_finishing_task_closes_the_coroutine() -> None:
    closed: list[bool] = []

    async def send() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            closed.append(True)

    task = start_eagerly(send())
    assert task is not None
    await bare_yield()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]


async def test_a_resumes_backlog_does_not_count_against_the_live_lag_limit() -> None:
    """A member going live queues its backlog (admitted: owed from before) and then the live
    events it held; only live events count against the limit, until the writer takes the
    backlog. A backlog filling the outbox to the brim must not turn the first live events
    into an overflow (a slow-consumer cut, and the same backlog at every reconnect)."""
    socket = Socket()
    socket.paused = True
    outbox = Outbox(limit=2, sink=socket)
    member = Member(outbox, "json", pending_limit=2)
    log = [event(seq) for seq in range(1, 11)]
    assert member.deliver(FrameCache(log[5])) and member.deliver(FrameCache(log[6]))
    member.go_live(log[:5])
    assert len(outbox) == 7 and not outbox.overflowed
    assert not outbox.offer("one live frame too many")
    assert outbox.overflowed


async def test_the_backlog_allowance_ends_when_the_writer_takes_it() -> None:
    socket = Socket()
    socket.paused = True
    outbox = Outbox(limit=2, sink=socket)
    for frame in ("b1", "b2", "b3"):
        assert outbox.admit(frame)
    assert outbox.offer("l1") and outbox.offer("l2")
    assert await outbox.take() == ["b1", "b2", "b3", "l1", "l2"]
    assert outbox.offer("l3") and outbox.offer("l4")
    assert not outbox.offer("l5") and outbox.overflowed


def event(seq: int) -> Event:
    return Event(WorkspaceKey(OrgId("acme"), WorkspaceId("ws1")), "e1", seq, "x.y", None, {}, 0)
