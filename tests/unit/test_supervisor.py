"""Supervised background work: a task that fails for a reason nobody planned for is logged,
counted and restarted, and a workspace channel that does so keeps delivering, with no gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from huddle import Settings
from huddle.backends import open_backend
from huddle.backends.base import Backend, EventLog, Subscription
from huddle.hub.channel import Member
from huddle.hub.metrics import Metrics
from huddle.hub.node import Node
from huddle.hub.outbox import Outbox
from huddle.hub.supervisor import Supervisor
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Actor, Event, EventDraft

from .test_metrics import sample

WS = WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))
ANA = Actor("user", "ana")


class Boom(Exception):
    """A failure no code path expects."""


async def test_a_failing_task_is_restarted_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics, backoff=0.01)
    runs = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise Boom(f"run {runs}")
        done.set()

    supervisor.start("sweeper", "test sweeper", flaky)
    async with asyncio.timeout(5):
        await done.wait()
    assert runs == 3
    assert sample(metrics, "huddle_task_failures_total", task="sweeper") == 2
    assert "test sweeper failed" in caplog.text and "Boom: run 1" in caplog.text
    await supervisor.aclose()
    assert len(supervisor) == 0


async def test_closing_cancels_and_awaits_every_task() -> None:
    supervisor = Supervisor(Metrics())
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = supervisor.start("channel", "channel acme/ws1", forever)
    async with asyncio.timeout(5):
        await started.wait()
    await supervisor.aclose()
    assert task.done() and cancelled.is_set() and len(supervisor) == 0


class FlakySubscription:
    """A real subscription that raises `Boom` once, after its first event."""

    def __init__(self, inner: Subscription, log: FlakyLog) -> None:
        self._inner = inner
        self._log = log

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._inner.__aiter__()

    async def get(self) -> Event:
        if self._log.delivered == 1 and not self._log.failed:
            self._log.failed = True
            raise Boom("the bus went strange")
        event = await self._inner.get()
        self._log.delivered += 1
        return event


class FlakyLog:
    """The memory backend's real event log, whose first subscription fails after one event."""

    def __init__(self, inner: EventLog) -> None:
        self._inner = inner
        self.delivered = 0
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def subscribe(self, ws: WorkspaceKey) -> AbstractAsyncContextManager[Subscription]:
        @asynccontextmanager
        async def flaky() -> AsyncIterator[Subscription]:
            async with self._inner.subscribe(ws) as subscription:
                yield FlakySubscription(subscription, self)

        return flaky()


class WithFlakyLog:
    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.log = FlakyLog(inner.log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_channel_that_fails_unexpectedly_keeps_delivering_with_no_gap(
    tmp_path: Path,
) -> None:
    config = Settings(
        jwt_secret="unit-secret-0123456789abcdef-0123456789", dev_secret_file=tmp_path / "s"
    )
    async with open_backend(config) as backend:
        flaky = WithFlakyLog(backend)
        async with Node(flaky, config).running() as node:  # type: ignore[arg-type]  # a wrapper
            outbox = Outbox(limit=100)
            member = Member(outbox, "json", pending_limit=100)
            await node.channels.join(WS, member)
            member.go_live([])
            published = [
                await backend.log.publish(WS, EventDraft("deal.won", {"n": n}, ANA))
                for n in range(5)
            ]
            frames: list[str] = []
            async with asyncio.timeout(10):
                while len(frames) < 5:
                    frames += [f for f in await outbox.take() if isinstance(f, str)]
            assert flaky.log.failed
            assert all(f'"seq":{e.seq},' in f for e, f in zip(published, frames, strict=True))
            assert sample(node.metrics, "huddle_task_failures_total", task="channel") == 1
            node.channels.leave(WS, member)
