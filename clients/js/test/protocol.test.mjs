/**
 * Guards a correct node never exercises, against a scripted WebSocket: duplicate or old
 * events are dropped (dedupe by seq within an epoch), and replies are matched by id even
 * when they come back out of order.
 */
import assert from "node:assert/strict";
import { test } from "node:test";

import { Huddle } from "../huddle.js";
import { waitFor, LIMIT } from "../testing/node.mjs";

/** A WebSocket class whose server side is `answer(socket, request)`. */
function scriptedWebSocket(answer) {
  const sockets = [];
  class ScriptedWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      sockets.push(this);
      setTimeout(() => {
        this.readyState = 1;
        this.push({ op: "hello", connection_id: "ws-scripted", user_id: "ana", expires_at: null });
      });
    }

    push(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }

    send(data) {
      answer(this, JSON.parse(data));
    }

    close(code = 1000) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code, reason: "" });
    }
  }
  return { ScriptedWebSocket, sockets };
}

/** REST answers for the roster and summary reads that follow a subscribe. */
async function quietFetch() {
  return new Response(JSON.stringify({ users: [], entities: [] }), { headers: { "Content-Type": "application/json" } });
}

function event(id, type = "x.n") {
  const [epoch, seq] = id.split(":");
  return { id, seq: Number(seq), type, org_id: "acme", workspace_id: "ws1", actor: null, data: { epoch }, ts: "" };
}

test("an event at or before the cursor of its epoch is dropped; a new epoch's events are not", LIMIT, async () => {
  const { ScriptedWebSocket } = scriptedWebSocket((socket, request) => {
    if (request.op !== "subscribe") return;
    socket.push({ id: request.id, ok: true, result: { workspace: "acme/ws1", position: "e:5" } });
    for (const id of ["e:6", "e:6", "e:4", "e:5", "e:7", "f:1", "f:1"]) socket.push({ op: "event", event: event(id) });
  });
  const huddle = new Huddle({ url: "http://huddle.test", token: "k".repeat(64), transport: "websocket", WebSocket: ScriptedWebSocket, fetch: quietFetch, window: null });
  const workspace = huddle.workspace("acme", "ws1");
  const seen = [];
  workspace.on("event", (e) => seen.push(e.id));
  await huddle.connect();
  await workspace.subscribe();
  await waitFor(() => seen.length >= 3, { what: "the events" });
  assert.deepEqual(seen, ["e:6", "e:7", "f:1"]);
  assert.equal(workspace.cursor, "f:1");
  await huddle.close();
});

test("replies are matched by request id, also out of order", LIMIT, async () => {
  const held = [];
  const { ScriptedWebSocket } = scriptedWebSocket((socket, request) => {
    if (request.op === "subscribe") {
      socket.push({ id: request.id, ok: true, result: { workspace: "acme/ws1", position: "e:1" } });
    } else if (request.op === "publish") {
      held.push(request);
      if (held.length === 2) { // answer the second first, the first with an error
        socket.push({ id: held[1].id, ok: true, result: { event: { ...event("e:2"), data: held[1].data } } });
        socket.push({ id: held[0].id, ok: false, error: { code: "RATE_LIMITED", message: "slow down", details: { limit: 50 } } });
      }
    }
  });
  const huddle = new Huddle({ url: "http://huddle.test", token: "k".repeat(64), transport: "websocket", WebSocket: ScriptedWebSocket, fetch: quietFetch, window: null });
  await huddle.connect();
  const workspace = huddle.workspace("acme", "ws1");
  const first = workspace.publish("x.n", { n: 1 });
  const second = workspace.publish("x.n", { n: 2 });
  await assert.rejects(first, (error) => error.code === "RATE_LIMITED" && error.status === 429 && error.details.limit === 50);
  assert.deepEqual((await second).data, { n: 2 });
  await huddle.close();
});

test("the token travels as an offered subprotocol after huddle.v1.json", LIMIT, async () => {
  const { ScriptedWebSocket, sockets } = scriptedWebSocket(() => {});
  const key = "a".repeat(64);
  const huddle = new Huddle({ url: "https://huddle.test/", token: key, transport: "websocket", WebSocket: ScriptedWebSocket, fetch: quietFetch, window: null });
  await huddle.connect();
  assert.equal(sockets[0].url, "wss://huddle.test/v1/ws");
  assert.deepEqual(sockets[0].protocols, ["huddle.v1.json", `huddle.token.${key}`]);
  await huddle.close();
});
