"""A page of another origin (the front-end developer's app on its own port) uses a node: REST
with a bearer token, the ticket endpoint, an EventSource and a WebSocket all work when the
node lists the origin in `HUDDLE_CORS_ORIGINS`, and all are blocked when it does not."""

from __future__ import annotations

from typing import Any, Final

import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.static_site import StaticSite

from .conftest import Pages

pytestmark = pytest.mark.xdist_group("browser")

BASE: Final = "/v1/orgs/acme/workspaces/ws1"

TRY_EVERYTHING: Final = """
async ([node, token, ticket]) => {
  const base = `${node}/v1/orgs/acme/workspaces/ws1`;
  const auth = { Authorization: `Bearer ${token}` };
  const outcome = {};
  const attempt = async (name, call) => {
    try { outcome[name] = (await call()).status; } catch (e) { outcome[name] = "blocked"; }
  };
  await attempt("rest", () => fetch(`${node}/v1/collaboration/locks/my-locks`, { headers: auth }));
  await attempt("lock", () => fetch(`${node}/v1/collaboration/locks/deal/7?ttl=30`, {
    method: "POST", headers: { ...auth, "X-Workspace-Id": "ws1" } }));
  await attempt("ticket", () => fetch(`${base}/sync/ticket`, { method: "POST", headers: auth }));
  outcome.eventsource = await new Promise((resolve) => {
    const source = new EventSource(`${base}/sync/stream?access_token=${ticket}&presence=false`);
    source.addEventListener("test.n", (e) => { source.close(); resolve(JSON.parse(e.data).type); });
    source.onopen = () => fetch(`${base}/events`, { method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "test.n", data: {} }) }).catch(() => {});
    source.onerror = () => { if (source.readyState === 2) resolve("blocked"); };
  });
  outcome.websocket = await new Promise((resolve) => {
    const ws = new WebSocket(`${node.replace("http", "ws")}/v1/ws`,
      ["huddle.v1.json", `huddle.token.${token}`]);
    ws.onmessage = (m) => { resolve(JSON.parse(m.data).op); ws.close(); };
    ws.onclose = (e) => resolve(`closed ${e.code}`);
  });
  return outcome;
}
"""


async def try_everything(pages: Pages, site: StaticSite, node: HuddleNode) -> dict[str, Any]:
    token = bearer("ana", name="Ana", admin=True)["Authorization"].split()[1]
    async with node.client(bearer("ana")) as http:
        ticket = (await http.post(f"{BASE}/sync/ticket")).json()["ticket"]
    page = await pages.open(f"{site.origin}/index.html")
    outcome: dict[str, Any] = await page.evaluate(TRY_EVERYTHING, [node.url, token, ticket])
    return outcome


async def test_an_allowed_origin_uses_rest_tickets_streams_and_websockets(
    nodes: NodeFactory, pages: Pages
) -> None:
    with StaticSite({"/index.html": "<!doctype html><title>app</title>"}) as site:
        node = await nodes.start("memory://", name="a", cors_origins=site.origin)
        outcome = await try_everything(pages, site, node)
    assert outcome == {
        "rest": 200,
        "lock": 200,
        "ticket": 200,
        "eventsource": "test.n",
        "websocket": "hello",
    }


async def test_an_origin_not_on_the_list_is_blocked_everywhere(
    nodes: NodeFactory, pages: Pages
) -> None:
    with StaticSite({"/index.html": "<!doctype html><title>app</title>"}) as site:
        node = await nodes.start("memory://", name="a", cors_origins="http://app.example")
        outcome = await try_everything(pages, site, node)
    assert outcome == {
        "rest": "blocked",
        "lock": "blocked",
        "ticket": "blocked",
        "eventsource": "blocked",
        "websocket": "closed 4501",
    }
