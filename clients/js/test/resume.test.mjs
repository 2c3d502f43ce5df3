/**
 * Resume by cursor: on every transport, a client whose connection was cut sees every
 * persisted event once, in order, when it is back; `subscribe({since})` replays from a cursor.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import { EventSource, ORG, publish, record, startNode, startProxy, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];
const proxies = [];

before(async () => { node = await startNode({ HUDDLE_SSE_RETRY: "0.2" }); });
after(() => node.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function client(url, wsId, options = {}) {
  const huddle = new Huddle({
    url, token: token({ sub: "ana", ws: wsId }), EventSource, window: null,
    backoff: { initialMs: 50, maxMs: 200 }, openTimeoutMs: 3000, pollWaitSeconds: 2,
    eventTypes: ["x.n"], ...options,
  });
  clients.push(huddle);
  return huddle;
}

/** Seqs must go up by one: nothing missed, nothing twice (the log's seq is dense). */
function assertGapless(events) {
  const seqs = events.map((event) => event.seq);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `seqs ${seqs.join(",")}`);
  assert.equal(new Set(events.map((event) => event.id)).size, events.length);
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, events published while the line is cut arrive once, in order, after it is back`, LIMIT, async () => {
    const wsId = `resume-${transport}`;
    const publisher = token({ sub: "ben", ws: wsId });
    const proxy = await startProxy(node.port);
    proxies.push(proxy);
    const huddle = client(proxy.url, wsId, { transport });
    const seen = record(huddle);
    const workspace = huddle.workspace(ORG, wsId);
    const events = [];
    workspace.on("x.n", (event) => events.push(event));
    await huddle.connect();
    await workspace.subscribe();
    for (let n = 0; n < 3; n++) await publish(node.url, publisher, "x.n", { n }, wsId);
    await waitFor(() => events.length === 3, { what: "the first three events" });

    proxy.cut();
    await waitFor(() => huddle.state === "reconnecting", { what: "the client to notice the cut" });
    for (let n = 3; n < 8; n++) await publish(node.url, publisher, "x.n", { n }, wsId);
    proxy.restore();
    await waitFor(() => events.length >= 8 && huddle.state === "open", { what: "the missed events", timeout: 10_000 });
    const marker = await publish(node.url, publisher, "x.n", { n: 8 }, wsId); // nothing more may come before it
    await waitFor(() => events.at(-1)?.id === marker.id, { what: "the marker" });

    assert.deepEqual(events.map((event) => event.data.n), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assertGapless(events);
    assert.equal(workspace.cursor, marker.id);
    assert.equal(huddle.transport, transport);
    assert.ok(seen.states.some((change) => change.state === "reconnecting"));
  });
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, subscribe({since}) replays the events after that cursor first`, LIMIT, async () => {
    const wsId = `since-${transport}`;
    const publisher = token({ sub: "ben", ws: wsId });
    const sent = [];
    for (let n = 0; n < 5; n++) sent.push(await publish(node.url, publisher, "x.n", { n }, wsId));
    const huddle = client(node.url, wsId, { transport });
    const workspace = huddle.workspace(ORG, wsId);
    const events = [];
    workspace.on("x.n", (event) => events.push(event));
    await huddle.connect();
    await workspace.subscribe({ since: sent[1].id });
    await waitFor(() => events.length === 3, { what: "the replay" });
    assert.deepEqual(events.map((event) => event.id), sent.slice(2).map((event) => event.id));
    const live = await publish(node.url, publisher, "x.n", { n: 5 }, wsId);
    await waitFor(() => events.length === 4, { what: "the live event" });
    assert.equal(events[3].id, live.id);
  });
}

test("without since, a subscription starts from now: older events are not delivered", LIMIT, async () => {
  const wsId = "from-now";
  const publisher = token({ sub: "ben", ws: wsId });
  const old = await publish(node.url, publisher, "x.n", { n: "old" }, wsId);
  for (const transport of ["websocket", "sse", "poll"]) {
    const huddle = client(node.url, wsId, { transport });
    const workspace = huddle.workspace(ORG, wsId);
    const events = [];
    workspace.on("x.n", (event) => events.push(event));
    await huddle.connect();
    await workspace.subscribe();
    assert.ok(workspace.cursor, `${transport}: a cursor from the start`);
    const marker = await publish(node.url, publisher, "x.n", { n: transport }, wsId);
    await waitFor(() => events.length >= 1, { what: `${transport}: the marker` });
    assert.deepEqual(events.map((event) => event.id), [marker.id], `${transport}: only the new event`);
    assert.notEqual(events[0].id, old.id);
  }
});

test("the WebSocket carries several workspaces, each resumed from its own cursor", LIMIT, async () => {
  const ids = ["multi-a", "multi-b"];
  const proxy = await startProxy(node.port);
  proxies.push(proxy);
  const huddle = new Huddle({
    url: proxy.url, token: token({ sub: "ana", ws: "*" }), window: null, transport: "websocket",
    backoff: { initialMs: 50, maxMs: 200 },
  });
  clients.push(huddle);
  const star = token({ sub: "ben", ws: "*" }); // every workspace of the org
  const events = { "multi-a": [], "multi-b": [] };
  for (const id of ids) huddle.workspace(ORG, id).on("x.n", (event) => events[id].push(event));
  await huddle.connect();
  await Promise.all(ids.map((id) => huddle.workspace(ORG, id).subscribe()));
  await publish(node.url, star, "x.n", { n: 1 }, "multi-a");
  await publish(node.url, star, "x.n", { n: 1 }, "multi-b");
  await waitFor(() => events["multi-a"].length === 1 && events["multi-b"].length === 1, { what: "one event each" });
  proxy.cut();
  await waitFor(() => huddle.state === "reconnecting", { what: "the cut" });
  await publish(node.url, star, "x.n", { n: 2 }, "multi-a");
  for (let n = 2; n < 5; n++) await publish(node.url, star, "x.n", { n }, "multi-b");
  proxy.restore();
  await waitFor(() => events["multi-a"].length === 2 && events["multi-b"].length === 4, { what: "both resumed" });
  for (const id of ids) {
    assert.ok(events[id].every((event) => event.workspace_id === id));
    assertGapless(events[id]);
    assert.equal(huddle.workspace(ORG, id).cursor, events[id].at(-1).id);
  }
});

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, unsubscribe stops the events; subscribing again resumes from the cursor`, LIMIT, async () => {
    const wsId = `again-${transport}`;
    const publisher = token({ sub: "ben", ws: wsId });
    const huddle = client(node.url, wsId, { transport });
    const workspace = huddle.workspace(ORG, wsId);
    const events = [];
    workspace.on("x.n", (event) => events.push(event));
    await huddle.connect();
    await workspace.subscribe();
    await publish(node.url, publisher, "x.n", { n: 1 }, wsId);
    await waitFor(() => events.length === 1, { what: "the first event" });
    const watcher = client(node.url, wsId, { transport });
    const watched = [];
    watcher.workspace(ORG, wsId).on("x.n", (event) => watched.push(event));
    await watcher.connect();
    await watcher.workspace(ORG, wsId).subscribe();
    await workspace.unsubscribe();
    assert.equal(workspace.subscribed, false);
    await publish(node.url, publisher, "x.n", { n: 2 }, wsId);
    await publish(node.url, publisher, "x.n", { n: 3 }, wsId);
    await waitFor(() => watched.length === 2, { what: "a subscribed client to get both (the marker)" });
    assert.equal(events.length, 1);
    await workspace.subscribe();
    await waitFor(() => events.length === 3, { what: "the events published meanwhile" });
    assert.deepEqual(events.map((event) => event.data.n), [1, 2, 3]);
    assertGapless(events);
  });
}
