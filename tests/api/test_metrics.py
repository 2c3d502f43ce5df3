"""`GET /metrics`: Prometheus text with the node's counts, latency by route template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.testclient import TestClient

from huddle import create_app
from huddle.auth import issue_token
from tests.support.redis_server import RedisServer

from .conftest import SECRET, Api, app_settings, running_api

PUBLISH_ROUTE = "/v1/orgs/{org_id}/workspaces/{workspace_id}/events"
EVENTS_ROUTE = "/v1/orgs/{org_id}/workspaces/{workspace_id}/sync/events"
WS1 = "/v1/orgs/acme/workspaces/ws1"


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    return found[0] if found else None


async def scrape(api: Api) -> str:
    answer = await api.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    return answer.text


async def test_metrics_count_publishes_and_time_requests_by_route_template(
    memory_api: Api,
) -> None:
    """After a few requests and a publish, the scrape shows them: latency by method and route
    template (never a raw path, never /metrics itself), unknown paths as `unmatched`."""
    api = memory_api
    await scrape(api)
    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get(f"{WS1}/sync/events", headers=api.auth())).status_code == 200
    posted = await api.client.post(
        f"{WS1}/events", json={"type": "deal.won", "data": {}}, headers=api.auth(admin=True)
    )
    assert posted.status_code == 201
    assert (await api.client.get("/no/such/route")).status_code == 404
    text = await scrape(api)

    assert value(text, "huddle_events_published_total") == 1
    duration = "huddle_http_request_duration_seconds"
    for method, route in (
        ("POST", PUBLISH_ROUTE),
        ("GET", EVENTS_ROUTE),
        ("GET", "/healthz"),
        ("GET", "unmatched"),
    ):
        labels = {"method": method, "route": route}
        assert value(text, f"{duration}_count", **labels) == 1, route
        assert value(text, f"{duration}_bucket", **labels, le="+Inf") == 1
        seconds = value(text, f"{duration}_sum", **labels)
        assert seconds is not None and 0 < seconds < 10
    routes = {s.labels["route"] for s in samples(text) if "route" in s.labels}
    assert "/metrics" not in routes and not any("acme" in r for r in routes)

    assert value(text, "huddle_connections", transport="ws") == 0
    assert value(text, "huddle_connections", transport="sse") == 0
    assert value(text, "huddle_channels_open") == 0
    assert value(text, "huddle_backend_errors_total", source="http") == 0
    assert value(text, "process_cpu_seconds_total") is not None


async def test_a_backend_outage_seen_by_a_request_is_counted(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    """A 503 from an unreachable Redis counts one backend error at the API."""
    settings = app_settings(tmp_path, private_redis.url(), redis_timeout=0.5)
    async with running_api(settings) as api:
        private_redis.stop()
        assert (await api.client.get("/readyz")).status_code == 503
        text = await scrape(api)
    assert value(text, "huddle_backend_errors_total", source="http") == 1


def bearer(user: str) -> dict[str, str]:
    token = issue_token(SECRET, user_id=user, org_id="acme", workspace_id="ws1")
    return {"Authorization": f"Bearer {token}"}


def read_until(chunks: Iterator[bytes], marker: bytes) -> None:
    received = b""
    while marker not in received:
        received += next(chunks)


def test_live_connections_show_in_the_gauges_and_delivery_counters(tmp_path: Path) -> None:
    """A WebSocket that subscribes, joins and publishes, and an SSE stream: the gauges count
    them while open and drop back to zero after; each event fanned out counts per encoding."""
    in_workspace = {"org_id": "acme", "workspace_id": "ws1"}
    with TestClient(create_app(app_settings(tmp_path))) as client:
        with client.websocket_connect(
            "/v1/ws", subprotocols=["huddle.v1.json"], headers=bearer("ana")
        ) as ws:
            assert ws.receive_json()["op"] == "hello"
            requests: list[dict[str, Any]] = [
                {"id": 1, "op": "subscribe", **in_workspace},
                {"id": 2, "op": "presence.join", **in_workspace},
                {"id": 3, "op": "publish", "type": "note.added", "data": {}, **in_workspace},
            ]
            for request in requests:
                ws.send_json(request)
            replies, events = set(), []
            while len(replies) < 3 or "note.added" not in events:
                message = ws.receive_json()
                if message.get("op") == "event":
                    events.append(message["event"]["type"])
                else:
                    assert message["ok"], message
                    replies.add(message["id"])
            with client.stream("GET", f"{WS1}/sync/stream", headers=bearer("ben")) as stream:
                read_until(stream.iter_bytes(), b"event: user.online")
                text = client.get("/metrics").text
            assert value(text, "huddle_connections", transport="ws") == 1
            assert value(text, "huddle_connections", transport="sse") == 1
            assert value(text, "huddle_presence_sessions") == 2
            assert value(text, "huddle_channels_open") == 1
            assert value(text, "huddle_channel_subscriptions") == 2
            assert value(text, "huddle_events_published_total") == 1
            # ana's presence.joined, user.online and note.added, then ben's presence.joined
            # and user.online to both
            assert value(text, "huddle_events_delivered_total", encoding="json") == 5
            assert value(text, "huddle_events_delivered_total", encoding="sse") == 2
            assert value(text, "huddle_events_dropped_total") == 0
        text = client.get("/metrics").text
    for gauge, labels in (
        ("huddle_connections", {"transport": "ws"}),
        ("huddle_connections", {"transport": "sse"}),
        ("huddle_presence_sessions", {}),
        ("huddle_channels_open", {}),
        ("huddle_channel_subscriptions", {}),
    ):
        assert value(text, gauge, **labels) == 0, gauge
