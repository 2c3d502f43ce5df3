"""The node's metrics (hub/metrics.py): a registry per node, fan-out counted per event."""

from __future__ import annotations

from pathlib import Path

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from huddle import Settings, create_app
from huddle.backends import open_backend
from huddle.hub.channel import Member
from huddle.hub.metrics import Metrics
from huddle.hub.node import Node
from huddle.hub.outbox import Outbox
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Actor, EventDraft

WS = WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))
ANA = Actor("user", "ana")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The value of one sample in the rendered text (0 when absent)."""
    for family in text_string_to_metric_families(metrics.render().decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def settings(tmp_path: Path) -> Settings:
    return Settings(
        jwt_secret="unit-secret-0123456789abcdef-0123456789", dev_secret_file=tmp_path / "secret"
    )


async def test_two_apps_count_in_independent_registries(tmp_path: Path) -> None:
    """A publish on one app shows in its metrics only; neither uses the global registry."""
    first, second = create_app(settings(tmp_path)), create_app(settings(tmp_path))
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        one = first.state.runtime.services
        two = second.state.runtime.services
        assert one.node.metrics.registry is not two.node.metrics.registry
        await one.events.publish_custom(WS, ANA, "deal.won", {})
        assert sample(one.node.metrics, "huddle_events_published_total") == 1
        assert sample(two.node.metrics, "huddle_events_published_total") == 0
    assert prometheus_client.REGISTRY.get_sample_value("huddle_events_published_total") is None


def test_every_labelled_series_exists_from_the_first_scrape() -> None:
    """Dashboards see zeros, not gaps, before anything happened."""
    metrics = Metrics()
    text = metrics.render().decode()
    for line in (
        'huddle_events_delivered_total{encoding="msgpack"} 0.0',
        'huddle_slow_consumer_disconnects_total{transport="sse"} 0.0',
        'huddle_backend_errors_total{source="channel"} 0.0',
    ):
        assert line in text


async def test_fan_out_counts_offers_by_encoding_and_refusals(tmp_path: Path) -> None:
    """Each event counts one offer per member, by encoding; a full outbox's refusal is a drop."""
    config = settings(tmp_path)
    async with open_backend(config) as backend, Node(backend, config).running() as node:
        full = Member(Outbox(limit=1), "json", pending_limit=10)  # nobody drains it
        roomy = Member(Outbox(limit=10), "sse", pending_limit=10)
        for member in (full, roomy):
            await node.channels.join(WS, member)
            member.go_live([])
        assert sample(node.metrics, "huddle_channel_subscriptions") == 2
        assert sample(node.metrics, "huddle_channels_open") == 1
        first = await backend.log.publish(WS, EventDraft("deal.won", {}, ANA))
        await backend.log.publish(WS, EventDraft("deal.lost", {}, ANA))
        channel = node.channels.get(WS)
        assert channel is not None and await channel.advanced(first.seq, within=5)
        metrics = node.metrics
        assert sample(metrics, "huddle_events_delivered_total", encoding="json") == 2
        assert sample(metrics, "huddle_events_delivered_total", encoding="sse") == 2
        assert sample(metrics, "huddle_events_dropped_total") == 1
        for member in (full, roomy):
            node.channels.leave(WS, member)
        assert sample(metrics, "huddle_channel_subscriptions") == 0
