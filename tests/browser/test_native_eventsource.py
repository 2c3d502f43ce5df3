"""A browser's own `EventSource`, no client library, opened as the README says: a stream ticket
in the URL. It keeps receiving every event, once and in order, across the reconnects it makes
by itself long after the ticket's first minute: a node restart, a failover behind nginx, the
stream's own end of life."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from playwright.async_api import Page

from tests.support.nginx import Nginx
from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

from .conftest import Pages, publish, wait_for

pytestmark = pytest.mark.xdist_group("browser")

BASE: Final = "/v1/orgs/acme/workspaces/ws1"
#: A ticket opens a stream within 1 s; reconnects come every 200 ms (the `retry:` hint).
BROWSER_NODE: Final = {"stream_ticket_ttl": 1, "jwt_leeway": 0, "sse_retry": 0.2}

OPEN_STREAM: Final = """
([ticket, base]) => {
  window.got = []; window.errors = 0; window.opens = 0;
  const url = `${base}/sync/stream?access_token=${encodeURIComponent(ticket)}&session_id=tab-1`;
  const source = new EventSource(url);
  source.addEventListener("test.n", (e) => window.got.push(JSON.parse(e.data).id));
  source.onopen = () => { window.opens += 1; };
  source.onerror = () => { window.errors += 1; };
  window.source = source;
}
"""


async def mint_ticket(node: HuddleNode) -> str:
    async with node.client(bearer("ana", name="Ana")) as http:
        answer = await http.post(f"{BASE}/sync/ticket")
    assert answer.status_code == 200, answer.text
    ticket: str = answer.json()["ticket"]
    return ticket


async def received(page: Page, count: int, within: float = 30) -> list[str]:
    await wait_for(page, "(n) => window.got.length >= n", count, within)
    got: list[str] = await page.evaluate("window.got")
    return got


async def ticket_stops_opening_streams(base_url: str, ticket: str) -> None:
    """Wait until the ticket no longer opens a new stream: what follows is a reconnect."""

    async def refused() -> bool:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=5) as http,
            http.stream("GET", f"{BASE}/sync/stream", params={"access_token": ticket}) as answer,
        ):
            return answer.status_code == 401

    await wait_until(refused, within=10, what="the ticket's first window to pass")


async def open_stream(page: Page, ticket: str, base: str = BASE) -> None:
    await page.evaluate(OPEN_STREAM, [ticket, base])
    await wait_for(page, "() => window.opens >= 1")


def assert_exact(got: list[str], published: list[str]) -> None:
    assert len(got) == len(set(got)), f"an event arrived twice: {got}"
    assert got == published, f"expected {published}, got {got}"


async def test_a_node_restart_after_the_tickets_first_minute(
    nodes: NodeFactory, redis_server: RedisServer, pages: Pages
) -> None:
    """The stream's node crashes and comes back (Redis keeps the log); meanwhile events are
    published through another node. The browser reconnects with its old ticket and
    Last-Event-ID and gets exactly what it missed."""
    a, b = (
        await nodes.start(redis_server.url(), name="a", **BROWSER_NODE),
        await nodes.start(redis_server.url(), name="b", **BROWSER_NODE),
    )
    page = await pages.open(f"{a.url}/")
    ticket = await mint_ticket(a)
    await open_stream(page, ticket)
    published = await publish(b, 5, 0)
    assert_exact(await received(page, 5), published)
    await ticket_stops_opening_streams(a.url, ticket)
    a.kill()
    published += await publish(b, 5, 5)
    a.launch(same_port=True)
    await a.wait_ready()
    published += await publish(b, 5, 10)
    assert_exact(await received(page, 15), published)
    assert await page.evaluate("window.source.readyState") != 2, "the stream closed for good"
    assert ticket not in a.log() + b.log(), "a ticket reached a node's log"


async def test_a_failover_between_two_nodes_behind_nginx(
    nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path, pages: Pages
) -> None:
    """nginx sends everything to node A while it lives, to B when it does not: the stream
    moves to B with the same ticket and misses nothing."""
    a = await nodes.start(redis_server.url(), name="a", **BROWSER_NODE)
    b = await nodes.start(redis_server.url(), name="b", **BROWSER_NODE)
    proxy = Nginx(tmp_path / "nginx", [a.port, b.port])
    try:

        async def proxy_answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{proxy.url}/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(proxy_answers, within=10, what="nginx to answer")
        page = await pages.open(f"{proxy.url}/")
        ticket = await mint_ticket(a)
        await open_stream(page, ticket)
        published = await publish(a, 5, 0)
        assert_exact(await received(page, 5), published)
        await ticket_stops_opening_streams(proxy.url, ticket)
        a.kill()
        published += await publish(b, 5, 5)
        assert_exact(await received(page, 10), published)
        assert ticket not in proxy.access_log() + b.log(), "a ticket reached a log"
    except BaseException:
        print(proxy.log())
        raise
    finally:
        proxy.stop()


async def test_the_streams_own_end_of_life(nodes: NodeFactory, pages: Pages) -> None:
    """Streams live 2 s here (`HUDDLE_SSE_MAX_LIFETIME`, which caps `timeout`): the browser
    reconnects by itself each time, with the old ticket, and misses nothing."""
    a = await nodes.start("memory://", name="a", sse_max_lifetime=2, **BROWSER_NODE)
    page = await pages.open(f"{a.url}/")
    ticket = await mint_ticket(a)
    await open_stream(page, ticket)
    published = await publish(a, 3, 0)
    assert_exact(await received(page, 3), published)
    await wait_for(page, "() => window.opens >= 3", within=20)
    published += await publish(a, 3, 3)
    assert_exact(await received(page, 6), published)
    await wait_for(page, "() => window.opens >= 4", within=20)
    published += await publish(a, 3, 6)
    assert_exact(await received(page, 9), published)


async def test_a_stream_whose_token_expired_ends_and_says_why(
    nodes: NodeFactory, pages: Pages
) -> None:
    """The ticket's token expires: the stream ends with `sync.reconnect` `credential_expired`
    and the browser's reconnect is refused, so the EventSource closes (a page's client then
    mints a new ticket)."""
    a = await nodes.start("memory://", name="a", **BROWSER_NODE)
    async with a.client(bearer("ana", ttl=5)) as http:
        ticket = (await http.post(f"{BASE}/sync/ticket")).json()["ticket"]
    page = await pages.open(f"{a.url}/")
    await page.evaluate(
        """([ticket, base]) => {
          window.reasons = [];
          const s = new EventSource(`${base}/sync/stream?access_token=${ticket}`);
          s.addEventListener("sync.reconnect", (e) => {
            window.reasons.push(JSON.parse(e.data).reason);
          });
          window.source = s;
        }""",
        [ticket, BASE],
    )
    reasons: Any = await wait_for(page, "() => window.source.readyState === 2 && window.reasons")
    assert reasons == ["credential_expired"]
