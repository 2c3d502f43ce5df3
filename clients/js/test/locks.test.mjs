/**
 * Locks: a held lock is refreshed every third of its ttl, refused to others with LOCK_HELD,
 * released on demand; `onLost` fires once when the lease goes without `release()`; lock
 * states follow events and the presence summary; writes carry the fencing token.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle, HuddleError } from "../huddle.js";
import { EventSource, ORG, rest, startNode, startProxy, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];
const proxies = [];
const admin = token({ sub: "root", admin: true });

before(async () => {
  node = await startNode({
    HUDDLE_LOCK_TTL_MIN: "1", HUDDLE_SWEEP_INTERVAL: "0.2", HUDDLE_LOCK_RELEASE_GRACE: "0.5", HUDDLE_SSE_RETRY: "0.2",
  });
});
after(() => node.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function client(user, options = {}) {
  const huddle = new Huddle({
    url: node.url, token: token({ sub: user, name: user.toUpperCase() }), EventSource, window: null,
    backoff: { initialMs: 50, maxMs: 200 }, pollWaitSeconds: 2, ...options,
  });
  clients.push(huddle);
  return huddle;
}

/** A subscribed observer recording the lock events. */
async function observer() {
  const huddle = client("olga", { transport: "websocket" });
  const workspace = huddle.workspace(ORG, "ws1");
  const locks = [];
  workspace.on("event", (event) => { if (event.type.startsWith("lock.")) locks.push(event); });
  await huddle.connect();
  await workspace.subscribe();
  return { huddle, workspace, locks };
}

function forceRelease(type, id) {
  return rest(node.url, admin, "DELETE", `/v1/collaboration/locks/${type}/${id}/force?confirm=true`);
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, a held lock is refreshed, refused to others, and released`, LIMIT, async () => {
    const id = `held-${transport}`;
    const { workspace: seen, locks } = await observer();
    const ana = client("ana", { transport });
    await ana.connect();
    const lost = [];
    const lock = await ana.workspace(ORG, "ws1").lock("deal", id, { ttl: 1.5, onLost: (why) => lost.push(why) });
    assert.equal(lock.held, true);
    assert.ok(lock.fencingToken > 0);
    assert.ok(lock.expiresAt > Date.now());
    await waitFor(() => seen.lockState("deal", id)?.userId === "ana", { what: "the observer to see the lock" });
    assert.equal(seen.lockState("deal", id).fencingToken, lock.fencingToken);

    const ben = client("ben", { transport });
    await assert.rejects(ben.workspace(ORG, "ws1").lock("deal", id), (error) => {
      assert.ok(error instanceof HuddleError);
      assert.deepEqual([error.status, error.code, error.details.holder.userId], [409, "LOCK_HELD", "ana"]);
      return true;
    });

    // three refreshes span more than the 1.5 s lease: it was kept alive
    const refreshed = () => locks.filter((e) => e.type === "lock.refreshed" && e.data.entity_id === id);
    await waitFor(() => refreshed().length >= 3, { what: "three refreshes", timeout: 5000 });
    assert.ok(!locks.some((e) => e.type === "lock.expired" && e.data.entity_id === id));
    assert.ok(refreshed().every((e) => e.data.fencing_token === lock.fencingToken));
    assert.equal(lock.held, true);

    await lock.release();
    assert.equal(lock.held, false);
    await waitFor(() => seen.lockState("deal", id) === null, { what: "the release" });
    await lock.release(); // idempotent
    assert.deepEqual(lost, []);
  });
}

test("an admin's force release makes onLost fire once, with force_released", LIMIT, async () => {
  const ana = client("ana", { transport: "websocket" });
  await ana.connect();
  const workspace = ana.workspace(ORG, "ws1");
  await workspace.subscribe(); // the lock events tell it
  const lost = [];
  const lock = await workspace.lock("deal", "forced", { ttl: 30, onLost: (why) => lost.push(why) });
  assert.equal((await forceRelease("deal", "forced")).status, 200);
  await waitFor(() => lost.length === 1, { what: "onLost" });
  assert.deepEqual(lost, ["force_released"]);
  assert.equal(lock.held, false);
  await assert.rejects(lock.refresh(), (error) => error.code === "LOCK_LOST");
});

for (const transport of ["websocket", "sse"]) {
  test(`over ${transport}, a refused refresh (the lease is gone, no event seen) loses the lock`, LIMIT, async () => {
    const id = `refused-${transport}`;
    const ana = client("ana", { transport });
    await ana.connect(); // not subscribed: it hears of no lock event
    const lost = [];
    const lock = await ana.workspace(ORG, "ws1").lock("deal", id, { ttl: 1.5, onLost: (why) => lost.push(why) });
    assert.equal((await forceRelease("deal", id)).status, 200);
    await waitFor(() => lost.length === 1, { what: "onLost after the next refresh", timeout: 3000 });
    assert.deepEqual(lost, ["refresh_refused"]);
    assert.equal(lock.held, false);
  });
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, a lease whose expiry passes while cut off is lost as expired`, LIMIT, async () => {
    const proxy = await startProxy(node.port);
    proxies.push(proxy);
    const ana = client("ana", { transport, url: proxy.url });
    await ana.connect();
    const lost = [];
    const lock = await ana.workspace(ORG, "ws1").lock("deal", `cut-${transport}`, { ttl: 1, onLost: (why) => lost.push(why) });
    proxy.cut();
    await waitFor(() => lost.length === 1, { what: "onLost", timeout: 3000 });
    assert.deepEqual(lost, ["expired"]);
    assert.equal(lock.held, false);
  });
}

test("a release by another tab of the same user loses the lock as released", LIMIT, async () => {
  const tab1 = client("ana", { transport: "websocket" });
  const tab2 = client("ana", { transport: "sse" });
  await Promise.all([tab1.connect(), tab2.connect()]);
  const workspace = tab1.workspace(ORG, "ws1");
  await workspace.subscribe();
  const lost = [];
  const first = await workspace.lock("deal", "shared", { ttl: 30, onLost: (why) => lost.push(why) });
  const second = await tab2.workspace(ORG, "ws1").lock("deal", "shared", { ttl: 30 });
  assert.equal(second.fencingToken, first.fencingToken, "re-entrant: the same lease");
  await second.release();
  await waitFor(() => lost.length === 1, { what: "onLost in the first tab" });
  assert.deepEqual(lost, ["released"]);
});

test("locking an entity this client holds again extends it and answers the same handle", LIMIT, async () => {
  const ana = client("ana", { transport: "websocket" });
  await ana.connect();
  const workspace = ana.workspace(ORG, "ws1");
  const first = await workspace.lock("deal", "again", { ttl: 30 });
  const second = await workspace.lock("deal", "again", { ttl: 30 });
  assert.equal(second, first);
  await first.release();
});

test("a lock taken over a WebSocket is moved to the new connection after a reconnect, so the node keeps it", LIMIT, async () => {
  const proxy = await startProxy(node.port);
  proxies.push(proxy);
  const ana = client("ana", { transport: "websocket", url: proxy.url });
  await ana.connect();
  const lost = [];
  const lock = await ana.workspace(ORG, "ws1").lock("deal", "moved", { ttl: 30, onLost: (why) => lost.push(why) });
  proxy.cut();
  await waitFor(() => ana.state === "reconnecting", { what: "the drop" });
  const droppedAt = Date.now();
  proxy.restore();
  await waitFor(() => ana.state === "open", { what: "the reconnect" });
  // The node releases a dropped connection's locks after the grace (0.5 s) unless they moved:
  // wait past it, then ask the node.
  await waitFor(() => Date.now() > droppedAt + 1500, { what: "the grace period to pass", timeout: 3000 });
  const status = await rest(node.url, admin, "GET", "/v1/collaboration/locks/deal/moved");
  assert.equal(status.body.locked, true);
  assert.equal(status.body.lock.fencingToken, lock.fencingToken);
  assert.equal(status.body.lock.sessionId.startsWith("ws-"), true);
  assert.deepEqual(lost, []);
  assert.equal(lock.held, true);
});

test("watchLocks seeds lock states from the presence summary; events keep them current", LIMIT, async () => {
  const cara = token({ sub: "cara" });
  assert.equal((await rest(node.url, cara, "POST", "/v1/collaboration/locks/deal/seeded?ttl=30")).status, 200);
  const { workspace: seen } = await observer();
  const changes = [];
  seen.on("locks", (change) => changes.push(change));
  assert.equal(seen.lockState("deal", "seeded"), null); // taken before it subscribed: unknown
  await seen.watchLocks([{ type: "deal", id: "seeded" }, { type: "deal", id: "free" }]);
  assert.equal(seen.lockState("deal", "seeded").userId, "cara");
  assert.equal(seen.lockState("deal", "free"), null);
  assert.ok(changes.some((change) => change.entityId === "seeded" && change.lock?.userId === "cara"));
  await rest(node.url, cara, "DELETE", "/v1/collaboration/locks/deal/seeded");
  await waitFor(() => seen.lockState("deal", "seeded") === null, { what: "the release event" });
});

test("writes carry the fencing token; refusals are typed HuddleErrors", LIMIT, async () => {
  const definition = {
    apiName: "project", label: "Project",
    fields: [{ apiName: "name", type: "text", required: true }, { apiName: "stage", type: "text" }],
  };
  assert.equal((await rest(node.url, admin, "POST", "/v1/custom-objects", definition)).status, 201);
  const ben = client("ben");
  const record = await ben.workspace(ORG, "ws1").request("POST", "/v1/custom-objects/project/records", {
    body: { values: { name: "Apollo" } },
  });
  const ana = client("ana", { transport: "websocket" });
  await ana.connect();
  const workspace = ana.workspace(ORG, "ws1");
  const lock = await workspace.lock("project", record.id, { ttl: 30 });
  const path = `/v1/custom-objects/project/records/${record.id}`;

  await assert.rejects(ben.request("PATCH", path, { body: { values: { stage: "x" } } }),
    (error) => error instanceof HuddleError && error.status === 423 && error.code === "LOCKED" && error.details.holder.userId === "ana");
  const written = await workspace.request("PATCH", path, {
    body: { values: { stage: "won" } }, headers: { "If-Match": `lock:${lock.fencingToken}` },
  });
  assert.equal(written.values.stage, "won");
  await assert.rejects(workspace.request("PATCH", path, {
    body: { values: { stage: "lost" } }, headers: { "If-Match": `lock:${lock.fencingToken + 100}` },
  }), (error) => error.status === 409 && error.code === "STALE_FENCING_TOKEN");
  await assert.rejects(workspace.request("PATCH", path, { body: { values: { nope: 1 } } }),
    (error) => error.status === 422 && error.code === "VALIDATION_ERROR" && Array.isArray(error.details.detail));
  await lock.release();
});

for (const transport of ["websocket", "sse"]) {
  test(`over ${transport}, close() leaves presence and releases held locks before it resolves`, LIMIT, async () => {
    const id = `bye-${transport}`;
    const ana = client("ana", { transport });
    await ana.connect();
    const workspace = ana.workspace(ORG, "ws1");
    await workspace.view("deal", id);
    const lost = [];
    await workspace.lock("deal", id, { ttl: 30, onLost: (why) => lost.push(why) });
    const roster = async () => (await rest(node.url, admin, "GET", `/v1/orgs/${ORG}/workspaces/ws1/sync/presence`)).body;
    assert.ok((await roster()).users.some((user) => user.user_id === "ana"));

    await ana.close();
    assert.equal(ana.state, "closed");
    const status = await rest(node.url, admin, "GET", `/v1/collaboration/locks/deal/${id}`);
    assert.equal(status.body.locked, false);
    assert.ok(!(await roster()).users.some((user) => user.user_id === "ana"));
    assert.deepEqual(lost, []);
  });
}
