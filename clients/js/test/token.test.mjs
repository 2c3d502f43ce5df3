/**
 * Credentials: `getToken` before the JWT's `exp` (WebSocket `auth.refresh`), on close 4010,
 * on REST 401 TOKEN_EXPIRED, on SSE `credential_expired`; refused credentials (4500) are asked
 * for once more, then the client closes with an error. The node runs with no JWT leeway.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import { EventSource, ORG, publish, record, startNode, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];

before(async () => { node = await startNode({ HUDDLE_SSE_RETRY: "0.2" }); });
after(() => node.stop());
afterEach(async () => { await Promise.all(clients.splice(0).map((client) => client.close())); });

function client(options) {
  const huddle = new Huddle({ url: node.url, EventSource, window: null, backoff: { initialMs: 50, maxMs: 200 }, ...options });
  clients.push(huddle);
  return huddle;
}

/** A getToken handing out `plan` in turn (a token, or a function answering a promise). */
function tokenSource(plan) {
  const source = async () => {
    const next = plan[Math.min(source.calls, plan.length - 1)];
    source.calls += 1;
    return typeof next === "function" ? next() : next;
  };
  source.calls = 0;
  return source;
}

/** A WebSocket class that records the frames each way. */
function recordingWebSocket() {
  const frames = { sent: [], received: [] };
  class RecordingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (message) => frames.received.push(JSON.parse(message.data)));
    }

    send(data) {
      frames.sent.push(JSON.parse(data));
      super.send(data);
    }
  }
  return { RecordingWebSocket, frames };
}

test("a JWT is renewed before its exp and handed to the open WebSocket, which outlives it", LIMIT, async () => {
  const short = token({ sub: "ana", ttl: 3 });
  const getToken = tokenSource([short, token({ sub: "ana" })]);
  const { RecordingWebSocket, frames } = recordingWebSocket();
  const huddle = client({ getToken, transport: "websocket", WebSocket: RecordingWebSocket });
  const seen = record(huddle);
  const workspace = huddle.workspace(ORG, "ws1");
  const events = [];
  workspace.on("x.late", (event) => events.push(event));
  await huddle.connect();
  await workspace.subscribe();

  await waitFor(() => frames.sent.some((frame) => frame.op === "auth.refresh"), { what: "auth.refresh", timeout: 5000 });
  const refresh = frames.sent.find((frame) => frame.op === "auth.refresh");
  await waitFor(() => frames.received.some((frame) => frame.id === refresh.id), { what: "its reply" });
  assert.equal(frames.received.find((frame) => frame.id === refresh.id).ok, true);
  assert.equal(getToken.calls, 2);
  // The first token's expiry is a moment, not an event: wait until it has passed, then show
  // the connection is still the same one (a marker event comes through it).
  const exp = JSON.parse(Buffer.from(short.split(".")[1], "base64url")).exp * 1000;
  await waitFor(() => Date.now() > exp + 1500, { what: "the first token's expiry", timeout: 6000 });
  const marker = await publish(node.url, token({ sub: "ben" }), "x.late");
  await waitFor(() => events.length === 1, { what: "the marker" });
  assert.equal(events[0].id, marker.id);
  assert.equal(frames.received.filter((frame) => frame.op === "hello").length, 1);
  assert.deepEqual(seen.states.map((change) => change.state), ["connecting", "open"]);
});

test("a 4010 close (token expired) gets a new token and reconnects", LIMIT, async () => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const getToken = tokenSource([token({ sub: "ana", ttl: 2 }), () => held]);
  const huddle = client({ getToken, transport: "websocket" });
  const seen = record(huddle);
  await huddle.connect();
  // The renewal asked before exp hangs, so the node closes the socket with 4010 first.
  await waitFor(() => seen.states.some((change) => change.code === 4010), { what: "the 4010 close", timeout: 6000 });
  release(token({ sub: "ana" }));
  await waitFor(() => huddle.state === "open", { what: "the reconnect" });
  assert.equal(getToken.calls, 2, "the renewal under way is shared, not asked twice");
  assert.deepEqual(seen.errors, []);
});

test("refused credentials (4500) are asked for once more, then the client closes with AUTH_FAILED", LIMIT, async () => {
  const forged = (() => {
    const [head, body] = token({ sub: "ana" }).split(".");
    return `${head}.${body}.${createHmac("sha256", "not-the-secret-0123456789abcdef!").update(`${head}.${body}`).digest("base64url")}`;
  })();
  const getToken = tokenSource([forged]);
  const huddle = client({ getToken });
  const seen = record(huddle);
  await assert.rejects(huddle.connect(), (error) => error.code === "AUTH_FAILED");
  assert.equal(getToken.calls, 2);
  assert.equal(huddle.state, "closed");
  assert.equal(seen.errors.at(-1).code, "AUTH_FAILED");
  assert.equal(seen.errors.at(-1).details.closeCode, 4500);
});

test("a REST call answered 401 TOKEN_EXPIRED is retried once with a new token", LIMIT, async () => {
  const statuses = [];
  const recordingFetch = async (...args) => {
    const response = await fetch(...args);
    statuses.push(response.status);
    return response;
  };
  const getToken = tokenSource([token({ sub: "ana", ttl: -10 }), token({ sub: "ana" })]);
  const huddle = client({ getToken, fetch: recordingFetch });
  const answer = await huddle.workspace(ORG, "ws1").request("GET", "/v1/collaboration/locks/my-locks");
  assert.deepEqual(answer, { locks: [], count: 0 });
  assert.deepEqual(statuses, [401, 200]);
  assert.equal(getToken.calls, 2);
});

test("an SSE stream ended by credential_expired is reopened with a new ticket from the cursor", LIMIT, async () => {
  const urls = [];
  const reconnects = [];
  class RecordingEventSource extends EventSource {
    constructor(url) {
      super(url);
      urls.push(new URL(url));
      this.addEventListener("sync.reconnect", (message) => reconnects.push(JSON.parse(message.data).reason));
    }
  }
  const getToken = tokenSource([token({ sub: "ana", ttl: 2 }), token({ sub: "ana" })]);
  const huddle = client({ getToken, transport: "sse", EventSource: RecordingEventSource });
  const seen = record(huddle);
  const workspace = huddle.workspace(ORG, "ws1");
  const events = [];
  workspace.on("x.sse", (event) => events.push(event));
  await huddle.connect();
  await workspace.subscribe();
  const first = await publish(node.url, token({ sub: "ben" }), "x.sse", { n: 1 });
  await waitFor(() => events.length === 1, { what: "the first event" });

  await waitFor(() => urls.length === 2, { what: "the reopened stream", timeout: 6000 });
  assert.deepEqual(reconnects, ["credential_expired"]);
  assert.equal(urls[1].searchParams.get("last_event_id"), first.id);
  assert.notEqual(urls[1].searchParams.get("access_token"), urls[0].searchParams.get("access_token"));
  assert.equal(urls[1].searchParams.get("session_id"), huddle.sessionId);
  assert.equal(urls[1].searchParams.get("presence"), "false");
  const second = await publish(node.url, token({ sub: "ben" }), "x.sse", { n: 2 });
  await waitFor(() => events.length === 2, { what: "an event on the new stream" });
  assert.equal(events[1].id, second.id);
  assert.equal(getToken.calls, 2);
  assert.ok(!seen.states.some((change) => change.state === "reconnecting"), "a reopen is not a reconnect");
});
