/**
 * Reconnecting: jittered exponential backoff ("equal jitter") that starts over after a
 * successful open, the `reconnecting` state meanwhile, close codes 4000-4499, and the
 * browser's `offline`/`online` events.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import { EventSource, ORG, publish, record, startNode, startProxy, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];
const proxies = [];

before(async () => { node = await startNode({ HUDDLE_WS_MAX_CONNECTIONS_PER_USER: "1" }); });
after(() => node.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function client(options) {
  const huddle = new Huddle({ EventSource, window: null, ...options });
  clients.push(huddle);
  return huddle;
}

/** `reconnecting` changes with their arrival time. */
function reconnects(huddle) {
  const list = [];
  huddle.on("state", (change) => {
    if (change.state === "reconnecting") list.push({ ...change, at: Date.now() });
  });
  return list;
}

test("retries wait a jittered, doubling, capped delay, and the count starts over after an open", LIMIT, async () => {
  const proxy = await startProxy(node.port);
  proxies.push(proxy);
  const backoff = { initialMs: 40, maxMs: 320 };
  const huddle = client({ url: proxy.url, token: token({ sub: "ana" }), transport: "websocket", backoff });
  const retries = reconnects(huddle);
  await huddle.connect();

  proxy.cut();
  await waitFor(() => retries.length >= 7, { what: "seven retries", timeout: 10_000 });
  const first = retries.slice(0, 7);
  assert.deepEqual(first.map((retry) => retry.attempt), [0, 1, 2, 3, 4, 5, 6]);
  for (const retry of first) {
    const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** retry.attempt);
    assert.ok(retry.delayMs >= ceiling / 2 && retry.delayMs <= ceiling,
      `attempt ${retry.attempt}: ${retry.delayMs} ms is not within [${ceiling / 2}, ${ceiling}]`);
  }
  for (let i = 1; i < first.length; i++) { // each attempt really waited its delay
    const waited = first[i].at - first[i - 1].at;
    assert.ok(waited >= first[i - 1].delayMs - 5, `waited ${waited} ms, delay was ${first[i - 1].delayMs}`);
  }
  assert.equal(new Set(first.map((retry) => retry.delayMs)).size, first.length, "delays are jittered");

  proxy.restore();
  await waitFor(() => huddle.state === "open", { what: "the open after the restore", timeout: 5000 });
  const before = retries.length;
  proxy.cut();
  await waitFor(() => retries.length > before, { what: "the next retry" });
  assert.equal(retries[before].attempt, 0);
  assert.ok(retries[before].delayMs <= backoff.initialMs);
});

test("a close code of 4000-4499 (4029, too many connections) is retried with backoff, on the same transport", LIMIT, async () => {
  const solo = token({ sub: "solo" }); // the node allows one WebSocket per user
  const first = client({ url: node.url, token: solo, transport: "websocket" });
  await first.connect();
  const second = client({ url: node.url, token: solo, backoff: { initialMs: 50, maxMs: 100 } });
  const retries = reconnects(second);
  second.connect();
  await waitFor(() => retries.length >= 2, { what: "retries of the second client" });
  assert.equal(retries[0].code, 4029);
  assert.equal(second.transport, "websocket", "4029 is no reason to fall back");
  await first.close();
  await waitFor(() => second.state === "open", { what: "the second client's open" });
  assert.equal(second.transport, "websocket");
});

test("offline stops the connection; online reconnects at once and resumes", LIMIT, async () => {
  const window = new EventTarget();
  const huddle = client({ url: node.url, token: token({ sub: "ana" }), window, transport: "websocket" });
  const seen = record(huddle);
  const workspace = huddle.workspace(ORG, "ws1");
  const events = [];
  workspace.on("x.offline", (event) => events.push(event));
  await huddle.connect();
  await workspace.subscribe();

  window.dispatchEvent(new Event("offline"));
  assert.equal(huddle.state, "offline");
  assert.equal(workspace.subscribed, false);
  const missed = await publish(node.url, token({ sub: "ben" }), "x.offline");

  window.dispatchEvent(new Event("online"));
  const back = seen.states.at(-1);
  assert.deepEqual([back.state, back.delayMs], ["reconnecting", 0]);
  await waitFor(() => events.length === 1, { what: "the event missed while offline" });
  assert.equal(events[0].id, missed.id);
  assert.equal(huddle.state, "open");
  assert.deepEqual(seen.states.map((change) => change.state), ["connecting", "open", "offline", "reconnecting", "open"]);
});
