/**
 * Presence: one session per client instance on every transport and across reconnects; the
 * roster and viewers folded per user from the roster read plus presence events; REST sessions
 * kept alive past the presence TTL.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import { EventSource, ORG, rest, startNode, startProxy, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];
const proxies = [];

before(async () => {
  node = await startNode({ HUDDLE_PRESENCE_TTL: "2", HUDDLE_SWEEP_INTERVAL: "0.2", HUDDLE_SSE_RETRY: "0.2" });
});
after(() => node.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function client(user, wsId, options = {}) {
  const huddle = new Huddle({
    url: node.url, token: token({ sub: user, ws: wsId, name: user.toUpperCase() }), EventSource, window: null,
    backoff: { initialMs: 50, maxMs: 200 }, pollWaitSeconds: 2, ...options,
  });
  clients.push(huddle);
  return huddle;
}

async function observer(wsId) {
  const huddle = client("olga", wsId, { transport: "websocket" });
  const workspace = huddle.workspace(ORG, wsId);
  const presence = [];
  workspace.on("event", (event) => { if (event.type.startsWith("presence.")) presence.push(event); });
  await huddle.connect();
  await workspace.subscribe();
  return { workspace, presence };
}

function folded(workspace) {
  return workspace.roster().map(({ userId, sessions, viewing }) => ({ userId, sessions, viewing }))
    .sort((a, b) => a.userId.localeCompare(b.userId));
}

test("viewers and the roster are distinct users with their session counts, on every transport", LIMIT, async () => {
  const wsId = "fold";
  const { workspace: seen } = await observer(wsId);
  const ben1 = client("ben", wsId, { transport: "sse" });
  const ben2 = client("ben", wsId, { transport: "poll" });
  const cara = client("cara", wsId, { transport: "websocket" });
  await Promise.all([ben1.connect(), ben2.connect(), cara.connect()]);
  await ben1.workspace(ORG, wsId).view("deal", "42");
  await ben2.workspace(ORG, wsId).view("deal", "42");
  await cara.workspace(ORG, wsId).view("deal", "42");
  await waitFor(() => seen.viewerCount("deal", "42") === 2 && seen.viewers("deal", "42").find((v) => v.userId === "ben")?.sessions === 2,
    { what: "two viewers, ben with two sessions" });
  assert.deepEqual(seen.viewers("deal", "42").sort((a, b) => a.userId.localeCompare(b.userId)), [
    { userId: "ben", name: "BEN", sessions: 2 },
    { userId: "cara", name: "CARA", sessions: 1 },
  ]);

  await cara.workspace(ORG, wsId).view("deal", "43");
  await waitFor(() => seen.viewerCount("deal", "43") === 1, { what: "cara on deal 43" });
  assert.deepEqual(seen.viewers("deal", "42").map((v) => v.userId), ["ben"]);
  assert.deepEqual(folded(seen), [
    { userId: "ben", sessions: 2, viewing: [{ type: "deal", id: "42" }] },
    { userId: "cara", sessions: 1, viewing: [{ type: "deal", id: "43" }] },
  ]);

  await ben1.workspace(ORG, wsId).view(null); // over SSE: REST DELETE .../presence/viewing
  await waitFor(() => seen.viewers("deal", "42")[0]?.sessions === 1, { what: "ben's SSE tab to stop viewing" });
  await ben2.workspace(ORG, wsId).leave();
  await waitFor(() => seen.viewerCount("deal", "42") === 0, { what: "nobody on deal 42" });
  assert.deepEqual(folded(seen), [
    { userId: "ben", sessions: 1, viewing: [] },
    { userId: "cara", sessions: 1, viewing: [{ type: "deal", id: "43" }] },
  ]);
  await cara.workspace(ORG, wsId).view(null); // over the WebSocket: presence.view with nulls
  await waitFor(() => seen.viewerCount("deal", "43") === 0, { what: "cara to stop viewing" });
  assert.equal(folded(seen).find((user) => user.userId === "cara").sessions, 1);
});

test("a subscriber's roster starts from the roster read, then follows events", LIMIT, async () => {
  const wsId = "late";
  const dora = token({ sub: "dora", ws: wsId });
  await rest(node.url, dora, "POST", `/v1/orgs/${ORG}/workspaces/${wsId}/sync/presence/viewing?resource_type=deal&resource_id=5&session_id=t1`);
  const { workspace: seen } = await observer(wsId);
  await waitFor(() => seen.viewerCount("deal", "5") === 1, { what: "dora from the roster read" });
  assert.deepEqual(seen.viewers("deal", "5"), [{ userId: "dora", name: "dora", sessions: 1 }]);
  await rest(node.url, dora, "POST", `/v1/orgs/${ORG}/workspaces/${wsId}/sync/presence/leave?session_id=t1`);
  await waitFor(() => seen.viewerCount("deal", "5") === 0, { what: "dora's leave" });
});

test("an instance stays one session, under one id, across reconnects and a transport change", LIMIT, async () => {
  const wsId = "one-session";
  const { workspace: seen, presence } = await observer(wsId);
  const proxy = await startProxy(node.port);
  proxies.push(proxy);
  const views = [];
  class RecordingWebSocket extends WebSocket {
    send(data) {
      if (JSON.parse(data).op === "presence.view") views.push(Date.now());
      super.send(data);
    }
  }
  proxy.cut(); // start on SSE, then move up to the WebSocket, then lose it once
  const huddle = client("eve", wsId, {
    wsUrl: `ws://127.0.0.1:${proxy.port}/v1/ws`, upgradeAfterMs: 200, WebSocket: RecordingWebSocket,
  });
  const workspace = huddle.workspace(ORG, wsId);
  await huddle.connect();
  assert.equal(huddle.transport, "sse");
  await workspace.view("deal", "7");
  await waitFor(() => seen.viewerCount("deal", "7") === 1, { what: "eve viewing over REST" });

  proxy.restore();
  await waitFor(() => huddle.transport === "websocket" && views.length === 1, { what: "the upgrade and a view on it" });
  proxy.cut();
  await waitFor(() => huddle.state === "reconnecting", { what: "the WebSocket to drop" });
  const droppedAt = Date.now();
  proxy.restore();
  await waitFor(() => views.length === 2, { what: "the view announced on the new connection" });
  // The node keeps a session the client named through a reconnect, for one TTL (2 s): wait
  // past it (and a few sweeps) to show that the announcement on the new connection kept it.
  await waitFor(() => Date.now() > droppedAt + 3000, { what: "one presence TTL after the drop", timeout: 5000 });

  const eve = presence.filter((event) => event.data.user_id === "eve");
  assert.deepEqual(eve.map((event) => event.type), ["presence.joined", "presence.viewing"]);
  assert.deepEqual(new Set(eve.map((event) => event.data.session_id)), new Set([`eve/${huddle.sessionId}`]));
  assert.deepEqual(folded(seen).find((user) => user.userId === "eve"), {
    userId: "eve", sessions: 1, viewing: [{ type: "deal", id: "7" }],
  });
});

for (const transport of ["sse", "poll"]) {
  test(`over ${transport}, the REST session is announced again before it expires`, LIMIT, async () => {
    const wsId = `alive-${transport}`;
    const { workspace: seen, presence } = await observer(wsId);
    const announcements = [];
    const recordingFetch = (url, init) => {
      if (String(url).includes("/sync/presence/viewing")) announcements.push(Date.now());
      return fetch(url, init);
    };
    const huddle = client("finn", wsId, { transport, fetch: recordingFetch });
    await huddle.connect();
    await huddle.workspace(ORG, wsId).view("deal", "9");
    // five announcements span more than the TTL (2 s) at one every third of it
    await waitFor(() => announcements.length >= 5, { what: "five announcements", timeout: 6000 });
    assert.ok(announcements.at(-1) - announcements[0] > 2000);
    assert.ok(!presence.some((event) => event.type === "presence.left"), "the session never expired");
    assert.equal(seen.viewerCount("deal", "9"), 1);
  });
}

test("presence events that arrive while the roster read is under way are replayed onto it", LIMIT, async () => {
  const wsId = "buffered";
  const dora = token({ sub: "dora", ws: wsId });
  const path = `/v1/orgs/${ORG}/workspaces/${wsId}/sync/presence`;
  await rest(node.url, dora, "POST", `${path}/viewing?resource_type=deal&resource_id=1&session_id=t1`);
  // The roster answer (dora on deal 1) is held back until newer events have been delivered.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const slowRoster = async (url, init) => {
    const response = await fetch(url, init);
    if (new URL(url).pathname === path) await held;
    return response;
  };
  const huddle = client("olga", wsId, { transport: "websocket", fetch: slowRoster });
  const workspace = huddle.workspace(ORG, wsId);
  const presence = [];
  workspace.on("event", (event) => { if (event.type.startsWith("presence.")) presence.push(event); });
  await huddle.connect();
  await workspace.subscribe();
  await rest(node.url, dora, "POST", `${path}/viewing?resource_type=deal&resource_id=2&session_id=t1`);
  await rest(node.url, token({ sub: "erin", ws: wsId }), "POST", `${path}/join?session_id=t9`);
  await waitFor(() => presence.length === 2, { what: "the two events" });
  release();
  await waitFor(() => workspace.roster().length === 2, { what: "the roster with both" });
  assert.deepEqual(folded(workspace), [
    { userId: "dora", sessions: 1, viewing: [{ type: "deal", id: "2" }] },
    { userId: "erin", sessions: 1, viewing: [] },
  ]);
});
