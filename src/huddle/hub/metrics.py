"""The node's Prometheus instruments, in a registry of the node's own.

Never the global default registry: two apps in one process (tests, an embedding) count apart,
and nothing needs resetting. Gauges of things the node already counts (connections, presence
sessions, channels) are read when scraped instead of updated on every change; counters on the
fan-out path are bumped once per event and channel, never once per member.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

from .limits import Transport

BackendErrorSource = Literal["http", "ws", "sse", "channel", "sweeper", "presence_keeper"]
TaskKind = Literal["channel", "sweeper", "presence_keeper"]

_TRANSPORTS: Final[tuple[Transport, ...]] = ("ws", "sse")
_ENCODINGS: Final = ("json", "msgpack", "sse")
_SOURCES: Final[tuple[BackendErrorSource, ...]] = (
    "http",
    "ws",
    "sse",
    "channel",
    "sweeper",
    "presence_keeper",
)
_TASK_KINDS: Final[tuple[TaskKind, ...]] = ("channel", "sweeper", "presence_keeper")


class Metrics:
    """Every instrument of one node; `render()` is the text a scrape gets."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_* (CPU, memory, open fds): read on scrape
        self.connections = Gauge(
            "huddle_connections",
            "Open client connections of this node (WebSockets, SSE streams).",
            ["transport"],
            registry=registry,
        )
        self.presence_sessions = Gauge(
            "huddle_presence_sessions",
            "Presence sessions of live connections this node keeps alive.",
            registry=registry,
        )
        self.channels_open = Gauge(
            "huddle_channels_open",
            "Workspaces this node follows on the backend (one subscription each).",
            registry=registry,
        )
        self.tasks = Gauge(
            "huddle_tasks",
            "asyncio tasks of this node's event loop (connections, streams, background work): "
            "back to its idle level when the clients are gone, or something leaks.",
            registry=registry,
        )
        self.tasks.set_function(_running_tasks)
        self.channel_subscriptions = Gauge(
            "huddle_channel_subscriptions",
            "Connections following a workspace on this node (WebSocket subscriptions, SSE).",
            registry=registry,
        )
        self.events_published = Counter(
            "huddle_events_published",
            "Custom events published through this node (presence and lock events are "
            "written by the backend's atomic steps and not counted here).",
            registry=registry,
        )
        self.events_delivered = Counter(
            "huddle_events_delivered",
            "Event frames offered to local connections by fan-out (refused ones included).",
            ["encoding"],
            registry=registry,
        )
        self.events_dropped = Counter(
            "huddle_events_dropped",
            "Event frames refused by a full or closed connection outbox.",
            registry=registry,
        )
        self.slow_consumer_disconnects = Counter(
            "huddle_slow_consumer_disconnects",
            "Connections ended because their outbox overflowed (WebSocket 4008, SSE end).",
            ["transport"],
            registry=registry,
        )
        self.backend_errors = Counter(
            "huddle_backend_errors",
            "BackendUnavailable seen, by where: answered to a client, or retried in the node.",
            ["source"],
            registry=registry,
        )
        self.task_failures = Counter(
            "huddle_task_failures",
            "Background tasks of this node that failed unexpectedly and were restarted.",
            ["task"],
            registry=registry,
        )
        self.presence_restored_total = Counter(
            "huddle_presence_restored",
            "Presence sessions of live connections announced again after the backend lost "
            "them (a partition longer than the presence TTL).",
            registry=registry,
        )
        self.subscriptions_lost = Counter(
            "huddle_subscriptions_lost",
            "Live subscriptions to a workspace this node lost (its pub/sub connection dropped, "
            "e.g. by Redis's client-output-buffer-limit, or it fell behind); each was caught "
            "up from the log.",
            registry=registry,
        )
        self.events_backfilled = Counter(
            "huddle_events_backfilled",
            "Events a channel read from the log to fill a gap in its live subscription.",
            registry=registry,
        )
        self.request_duration = Histogram(
            "huddle_http_request_duration_seconds",
            "Seconds from request to response start, by route template (streams: to open).",
            ["method", "route"],
            registry=registry,
        )
        # Children made up front: every series exists (at 0) from the first scrape, and the
        # hot path looks a child up in a dict instead of through `labels()`.
        self._delivered = {e: self.events_delivered.labels(e) for e in _ENCODINGS}
        self._slow = {t: self.slow_consumer_disconnects.labels(t) for t in _TRANSPORTS}
        self._backend_errors = {s: self.backend_errors.labels(s) for s in _SOURCES}
        self._task_failures = {k: self.task_failures.labels(k) for k in _TASK_KINDS}

    def watch(
        self,
        *,
        connections: Callable[[Transport], int],
        presence_sessions: Callable[[], int],
        channels: Callable[[], int],
        subscriptions: Callable[[], int],
    ) -> None:
        """Read the gauges from the node's own counts at each scrape."""
        for transport in _TRANSPORTS:
            self.connections.labels(transport).set_function(_bind(connections, transport))
        self.presence_sessions.set_function(presence_sessions)
        self.channels_open.set_function(channels)
        self.channel_subscriptions.set_function(subscriptions)

    def fanned_out(self, members: Iterable[tuple[str, int]], refused: int) -> None:
        """One event offered to `members` (encoding, count) of a channel; `refused` offers
        were turned down."""
        for encoding, count in members:
            if count:
                child = self._delivered.get(encoding)
                if child is None:
                    child = self._delivered[encoding] = self.events_delivered.labels(encoding)
                child.inc(count)
        if refused:
            self.events_dropped.inc(refused)

    def published(self) -> None:
        self.events_published.inc()

    def slow_consumer(self, transport: Transport) -> None:
        self._slow[transport].inc()

    def backend_error(self, source: BackendErrorSource) -> None:
        self._backend_errors[source].inc()

    def presence_restored(self) -> None:
        self.presence_restored_total.inc()

    def subscription_lost(self) -> None:
        self.subscriptions_lost.inc()

    def backfilled(self, count: int) -> None:
        if count:
            self.events_backfilled.inc(count)

    def task_failed(self, kind: TaskKind) -> None:
        self._task_failures[kind].inc()

    def observe_request(self, method: str, route: str, seconds: float) -> None:
        self.request_duration.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every instrument."""
        return generate_latest(self.registry)


def _running_tasks() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # scraped outside the loop (a test rendering by hand)
        return 0


def _bind(count: Callable[[Transport], int], transport: Transport) -> Callable[[], int]:
    return lambda: count(transport)
