/**
 * Publish: persisted events get an id and reach every subscriber; ephemeral ones
 * (`persist: false`) have `id: null`, reach live subscribers, and never move a cursor.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import { EventSource, ORG, startNode, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];

before(async () => { node = await startNode(); });
after(() => node.stop());
afterEach(async () => { await Promise.all(clients.splice(0).map((client) => client.close())); });

async function subscribed(user, transport) {
  const huddle = new Huddle({
    url: node.url, token: token({ sub: user }), transport, EventSource, window: null, pollWaitSeconds: 2,
  });
  clients.push(huddle);
  const workspace = huddle.workspace(ORG, "ws1");
  const events = [];
  workspace.on("x.note", (event) => events.push(event));
  workspace.on("x.cursor", (event) => events.push(event));
  await huddle.connect();
  await workspace.subscribe();
  return { huddle, workspace, events };
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, a member publishes a persisted event that every subscriber gets`, LIMIT, async () => {
    const publisher = await subscribed("ana", transport);
    const listeners = [await subscribed("ben", "websocket"), await subscribed("cara", "sse"), await subscribed("dan", "poll")];
    const event = await publisher.workspace.publish("x.note", { text: `via ${transport}` });
    assert.match(event.id, /^[0-9a-zA-Z_-]+:[1-9][0-9]*$/);
    assert.equal(event.type, "x.note");
    assert.deepEqual(event.data, { text: `via ${transport}` });
    assert.equal(event.actor.id, "ana");
    for (const { events } of [publisher, ...listeners]) {
      await waitFor(() => events.length === 1, { what: "the event" });
      assert.equal(events[0].id, event.id);
    }
    assert.equal(publisher.workspace.cursor, event.id);
  });

  test(`over ${transport}, an event with an audience reaches only that audience`, LIMIT, async () => {
    const publisher = await subscribed("ana", transport);
    const ben = await subscribed("ben", "websocket");
    const outsiders = [await subscribed("cara", "sse"), await subscribed("dan", "poll")];
    const secret = await publisher.workspace.publish("x.note", { n: 1 }, { audience: { users: ["ben"] } });
    const open = await publisher.workspace.publish("x.note", { n: 2 });
    await waitFor(() => ben.events.length === 2, { what: "both events for ben" });
    assert.deepEqual(ben.events.map((e) => e.id), [secret.id, open.id]);
    for (const { events, workspace } of outsiders) {
      await waitFor(() => events.length === 1, { what: "the open event" });
      assert.deepEqual(events.map((e) => e.id), [open.id]);
      assert.equal(workspace.cursor, open.id);
    }
  });

  test(`over ${transport}, a repeated idempotency key answers the first event`, LIMIT, async () => {
    const { workspace } = await subscribed("ana", transport);
    const key = `key-${transport}-${Date.now()}`;
    const first = await workspace.publish("x.note", { n: 1 }, { idempotencyKey: key });
    const again = await workspace.publish("x.note", { n: 2 }, { idempotencyKey: key });
    assert.equal(again.id, first.id);
    assert.deepEqual(again.data, { n: 1 });
  });

  test(`over ${transport}, an ephemeral event has no id, reaches live subscribers, and moves no cursor`, LIMIT, async () => {
    const publisher = await subscribed("ana", transport);
    const ws = await subscribed("ben", "websocket");
    const sse = await subscribed("cara", "sse");
    const cursors = [ws.workspace.cursor, sse.workspace.cursor];
    const event = await publisher.workspace.publish("x.cursor", { x: 10, y: 20 }, { persist: false });
    assert.equal(event.id, null);
    assert.equal(event.seq, 0);
    for (const live of [ws, sse]) {
      await waitFor(() => live.events.length === 1, { what: "the ephemeral event" });
      assert.equal(live.events[0].id, null);
      assert.deepEqual(live.events[0].data, { x: 10, y: 20 });
    }
    assert.deepEqual([ws.workspace.cursor, sse.workspace.cursor], cursors);
    // a persisted event after it still follows the cursor it left alone
    const next = await publisher.workspace.publish("x.note", {});
    await waitFor(() => ws.events.length === 2 && sse.events.length === 2, { what: "the next event" });
    assert.deepEqual([ws.workspace.cursor, sse.workspace.cursor], [next.id, next.id]);
  });
}

test("Huddle's own type prefixes are refused with a typed error", LIMIT, async () => {
  const { workspace } = await subscribed("ana", "websocket");
  await assert.rejects(workspace.publish("lock.fake", {}), (error) => error.code === "VALIDATION_ERROR");
});
