/**
 * The test-support EventSource behaves as a browser's does: the client's SSE tests are only
 * worth what it is. Scripted answers come from a local HTTP server; the last test reads a
 * real Huddle stream.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";

import { EventSource, freePort, publish, rest, startNode, token, waitFor, LIMIT } from "../testing/node.mjs";

let server;
let base;
let requests = [];
let answers = [];

before(async () => {
  server = http.createServer((request, response) => {
    requests.push({ url: request.url, lastEventId: request.headers["last-event-id"], at: Date.now() });
    const answer = answers.shift() ?? { status: 204, body: "" };
    response.writeHead(answer.status, { "Content-Type": answer.type ?? "text/event-stream" });
    response.end(answer.body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => new Promise((resolve) => server.close(resolve)));

function script(...list) {
  requests = [];
  answers = list;
}

test("a non-200 answer closes it for good, with one error and no retry", LIMIT, async () => {
  script({ status: 404, type: "application/json", body: "{}" });
  const source = new EventSource(`${base}/missing`);
  const errors = [];
  source.onerror = () => errors.push(source.readyState);
  let opened = false;
  source.onopen = () => { opened = true; };
  await waitFor(() => errors.length === 1, { what: "the error event" });
  assert.deepEqual(errors, [EventSource.CLOSED]);
  assert.equal(source.readyState, EventSource.CLOSED);
  assert.equal(opened, false);
  assert.equal(requests.length, 1);
});

test("a 200 answer that is not text/event-stream closes it for good", LIMIT, async () => {
  script({ status: 200, type: "text/html", body: "<p>proxy login</p>" });
  const source = new EventSource(`${base}/html`);
  let errored = false;
  source.onerror = () => { errored = true; };
  await waitFor(() => errored, { what: "the error event" });
  assert.equal(source.readyState, EventSource.CLOSED);
});

test("id-only blocks set lastEventId without an event; retry sets the delay; a reconnect sends Last-Event-ID", LIMIT, async () => {
  script(
    { status: 200, body: "retry: 40\n\nid: e:5\n\nid: e:6\nevent: x.y\ndata: {\"n\":1}\n\nid: e:7\n\n" },
    { status: 200, body: ": heartbeat\n\ndata: plain\n\n" },
  );
  const source = new EventSource(`${base}/stream`);
  const seen = [];
  source.addEventListener("x.y", (message) => seen.push(["x.y", message.data, message.lastEventId]));
  source.onmessage = (message) => seen.push(["message", message.data, message.lastEventId]);
  const states = [];
  source.onerror = () => states.push(source.readyState);
  await waitFor(() => seen.length === 2, { what: "two events" });
  source.close();
  assert.deepEqual(seen, [["x.y", "{\"n\":1}", "e:6"], ["message", "plain", "e:7"]]);
  // each stream's end is an error while CONNECTING, never CLOSED
  assert.ok(states.length >= 1 && states.every((state) => state === EventSource.CONNECTING), `states ${states}`);
  assert.ok(requests.length >= 2);
  assert.equal(requests[0].lastEventId, undefined);
  assert.equal(requests[1].lastEventId, "e:7"); // from the trailing id-only block
  const delay = requests[1].at - requests[0].at;
  assert.ok(delay >= 40 && delay < 3000, `reconnected after ${delay} ms, retry said 40`);
});

test("a network error makes it reconnect (CONNECTING, error) rather than close", LIMIT, async () => {
  const dead = `http://127.0.0.1:${await freePort()}/x`;
  const source = new EventSource(dead);
  const states = [];
  source.onerror = () => states.push(source.readyState);
  await waitFor(() => states.length >= 1, { what: "the error event" });
  source.close();
  assert.equal(states[0], EventSource.CONNECTING);
});

test("it reads a real Huddle stream: the start position, then events with their ids", LIMIT, async () => {
  const node = await startNode();
  try {
    const ana = token({ sub: "ana" });
    const first = await publish(node.url, ana, "x.before");
    const { body } = await rest(node.url, ana, "POST", "/v1/orgs/acme/workspaces/ws1/sync/ticket");
    const source = new EventSource(`${node.url}/v1/orgs/acme/workspaces/ws1/sync/stream?access_token=${body.ticket}&presence=false`);
    const seen = [];
    source.addEventListener("x.after", (message) => seen.push(message));
    await waitFor(() => source.lastEventId === first.id, { what: "the id-only start position" });
    const second = await publish(node.url, ana, "x.after", { n: 2 });
    await waitFor(() => seen.length === 1, { what: "the event" });
    source.close();
    assert.equal(seen[0].lastEventId, second.id);
    assert.deepEqual(JSON.parse(seen[0].data).data, { n: 2 });
  } finally {
    await node.stop();
  }
});
