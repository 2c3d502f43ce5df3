/**
 * Choosing a transport: WebSocket, then SSE, then polling when one fails to open; a forced
 * transport never falls back; a fallback tries the better transport again later.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import {
  EventSource, LIMIT, ORG, freePort, publish, record, startNode, startProxy, token, waitFor,
} from "../testing/node.mjs";

let node;
const clients = [];
const ana = token({ sub: "ana" });

before(async () => { node = await startNode(); });
after(() => node.stop());
afterEach(async () => { await Promise.all(clients.splice(0).map((client) => client.close())); });

function client(options = {}) {
  const huddle = new Huddle({
    url: node.url, token: ana, EventSource, window: null,
    backoff: { initialMs: 50, maxMs: 200 }, openTimeoutMs: 3000, ...options,
  });
  clients.push(huddle);
  return huddle;
}

/** Subscribe, publish `type` over REST, and resolve with the event as the client saw it. */
async function roundTrip(huddle, type) {
  const workspace = huddle.workspace(ORG, "ws1");
  const seen = [];
  workspace.on(type, (event) => seen.push(event));
  await workspace.subscribe();
  const sent = await publish(node.url, ana, type, { via: huddle.transport });
  await waitFor(() => seen.length === 1, { what: `${type} over ${huddle.transport}` });
  assert.equal(seen[0].id, sent.id);
  return seen[0];
}

test("a WebSocket that cannot connect falls back to SSE by itself", LIMIT, async () => {
  const huddle = client({ wsUrl: `ws://127.0.0.1:${await freePort()}/v1/ws` });
  const seen = record(huddle);
  await huddle.connect();
  assert.equal(huddle.transport, "sse");
  assert.deepEqual(seen.transports, [{ transport: "sse", previous: null, reason: "fallback" }]);
  assert.deepEqual(seen.states.map((change) => change.state), ["connecting", "open"]);
  await roundTrip(huddle, "x.fallback.sse");
});

for (const order of ["subscribe, then connect", "connect, then subscribe"]) {
  test(`when the WebSocket and the event stream both fail to open, it polls (${order})`, LIMIT, async () => {
    const huddle = client({
      wsUrl: `ws://127.0.0.1:${await freePort()}/v1/ws`,
      sseUrl: order.startsWith("subscribe") ? `${node.url}/nowhere` : `http://127.0.0.1:${await freePort()}`,
    }); // a 404 (a native EventSource closes for good) or a refused connection
    const workspace = huddle.workspace(ORG, "ws1");
    if (order.startsWith("subscribe")) {
      const subscribed = workspace.subscribe();
      await huddle.connect();
      await subscribed;
    } else {
      await huddle.connect(); // open on SSE with no stream yet: nothing is proven
      await workspace.subscribe();
    }
    assert.equal(huddle.transport, "poll");
    await roundTrip(huddle, `x.fallback.poll.${order.length}`);
  });
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`transport "${transport}" is used when forced`, LIMIT, async () => {
    const huddle = client({ transport });
    const seen = record(huddle);
    await huddle.connect();
    assert.equal(huddle.transport, transport);
    await roundTrip(huddle, `x.forced.${transport}`);
    assert.deepEqual(seen.transports, [{ transport, previous: null, reason: "connect" }]);
  });
}

test("a forced WebSocket that cannot connect keeps retrying it, never falling back", LIMIT, async () => {
  const huddle = client({ transport: "websocket", wsUrl: `ws://127.0.0.1:${await freePort()}/v1/ws` });
  const seen = record(huddle);
  huddle.connect().catch(() => {});
  await waitFor(() => seen.states.filter((c) => c.state === "reconnecting").length >= 3, { what: "three retries" });
  assert.equal(huddle.transport, "websocket");
  assert.ok(!seen.states.some((change) => change.state === "open"));
  assert.deepEqual(seen.transports, []);
});

test("after falling back it tries the WebSocket again, and switches up when it works", LIMIT, async () => {
  const proxy = await startProxy(node.port);
  try {
    proxy.cut(); // the WebSocket cannot get through at first
    const huddle = client({ wsUrl: `ws://127.0.0.1:${proxy.port}/v1/ws`, upgradeAfterMs: 300 });
    const seen = record(huddle);
    const workspace = huddle.workspace(ORG, "ws1");
    const events = [];
    workspace.on("x.upgrade", (event) => events.push(event));
    await huddle.connect();
    await workspace.subscribe();
    assert.equal(huddle.transport, "sse");
    const before = [];
    for (let n = 0; n < 3; n++) before.push(await publish(node.url, ana, "x.upgrade", { n }));
    await waitFor(() => events.length === 3, { what: "events over SSE" });
    proxy.restore();
    await waitFor(() => seen.transports.some((change) => change.transport === "websocket"), {
      what: "the upgrade", timeout: 10_000,
    });
    assert.deepEqual(seen.transports.at(-1), { transport: "websocket", previous: "sse", reason: "upgrade" });
    await waitFor(() => huddle.state === "open" && workspace.subscribed, { what: "subscribed over the WebSocket" });
    const later = [];
    for (let n = 3; n < 6; n++) later.push(await publish(node.url, ana, "x.upgrade", { n }));
    await waitFor(() => events.length === 6, { what: "events over the WebSocket" });
    assert.deepEqual(events.map((event) => event.id), [...before, ...later].map((event) => event.id));
  } finally {
    await proxy.close();
  }
});
