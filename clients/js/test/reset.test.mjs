/**
 * `sync.reset`: when a client's cursor is older than the bounded log, it is told (`reset`),
 * reloads the roster and the locks it knows, and continues from the reset's id.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { Huddle } from "../huddle.js";
import { EventSource, ORG, publish, rest, startNode, startProxy, token, waitFor, LIMIT } from "../testing/node.mjs";

let node;
const clients = [];
const proxies = [];

before(async () => { node = await startNode({ HUDDLE_EVENT_LOG_LENGTH: "10", HUDDLE_SSE_RETRY: "0.2" }); });
after(() => node.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, a cursor older than the log gives a reset, a reload, and a continuation`, LIMIT, async () => {
    const wsId = `reset-${transport}`;
    const ben = token({ sub: "ben", ws: wsId });
    const cara = token({ sub: "cara", ws: wsId });
    const path = `/v1/orgs/${ORG}/workspaces/${wsId}/sync/presence`;
    assert.equal((await rest(node.url, ben, "POST", `${path}/join?session_id=tab-b`)).status, 200);

    const proxy = await startProxy(node.port);
    proxies.push(proxy);
    const huddle = new Huddle({
      url: proxy.url, token: token({ sub: "ana", ws: wsId }), transport, EventSource, window: null,
      backoff: { initialMs: 50, maxMs: 200 }, pollWaitSeconds: 2, eventTypes: ["x.n"],
    });
    clients.push(huddle);
    const clientResets = [];
    huddle.on("reset", (event, where) => clientResets.push({ event, where }));
    const workspace = huddle.workspace(ORG, wsId);
    const events = [];
    const resets = [];
    workspace.on("event", (event) => events.push(event));
    workspace.on("reset", (event) => resets.push(event));
    await huddle.connect();
    await workspace.subscribe();
    await workspace.watchLocks([{ type: "deal", id: "1" }]);
    await waitFor(() => workspace.roster().some((user) => user.userId === "ben"), { what: "ben in the roster" });
    assert.equal(workspace.lockState("deal", "1"), null);

    proxy.cut();
    await waitFor(() => huddle.state === "reconnecting", { what: "the cut" });
    assert.equal((await rest(node.url, ben, "POST", `${path}/leave?session_id=tab-b`)).status, 200);
    assert.equal((await rest(node.url, cara, "POST", `${path}/join?session_id=tab-c`)).status, 200);
    const lock = await rest(node.url, cara, "POST", "/v1/collaboration/locks/deal/1?ttl=60");
    assert.equal(lock.status, 200);
    for (let n = 0; n < 12; n++) await publish(node.url, cara, "x.n", { n }, wsId);
    proxy.restore();

    await waitFor(() => resets.length === 1, { what: "the reset", timeout: 10_000 });
    assert.equal(resets[0].data.reason, "cursor_expired");
    assert.equal(clientResets.length, 1);
    assert.equal(clientResets[0].where, workspace);
    await waitFor(() => workspace.roster().map((user) => user.userId).join() === "cara", {
      what: "the reloaded roster: cara, not ben",
    });
    await waitFor(() => workspace.lockState("deal", "1")?.userId === "cara", { what: "the reloaded lock" });
    assert.equal(workspace.lockState("deal", "1").fencingToken, lock.body.fencingToken);

    assert.equal(workspace.cursor, resets[0].id);
    const next = await publish(node.url, cara, "x.n", { n: "after" }, wsId);
    await waitFor(() => events.at(-1)?.id === next.id, { what: "the event after the reset" });
    assert.equal(next.seq, Number(resets[0].id.split(":")[1]) + 1);
    assert.ok(!events.some((event) => event.type === "sync.reset"), "a reset is not an event");
    assert.ok(!events.some((event) => event.type === "x.n" && event.data.n !== "after"), "no partial replay");
  });
}
