/**
 * Test support: a real Huddle node per test file, HS256 tokens, a TCP proxy that can cut the
 * line, and `waitFor`. Nothing here sleeps: waits end when what they wait for is true.
 */
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { EventSource } from "./eventsource.mjs";

export { EventSource };

const HUDDLE = fileURLToPath(new URL("../../../.venv/bin/huddle", import.meta.url));
export const SECRET = "test-secret-0123456789abcdef0123456789abcdef";
/** Options of every test: a client bug that hangs a promise fails the test instead. */
export const LIMIT = { timeout: 30_000 };
export const ORG = "acme";

/** A port nobody listens on right now (listen on 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start `huddle serve` on a free port with `memory://`, in a fresh temp directory, and wait
 * until `/healthz` answers 200. `env` adds HUDDLE_* settings.
 */
export async function startNode(env = {}) {
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), "huddle-js-"));
  const child = spawn(HUDDLE, ["serve", "--port", String(port), "--backend", "memory://", "--log-level", "warning"], {
    cwd: home,
    env: { ...process.env, HUDDLE_JWT_SECRET: SECRET, HUDDLE_JWT_LEEWAY: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => { output += chunk; });
  child.stderr.on("data", (chunk) => { output += chunk; });
  let exited = null;
  child.on("exit", (code) => { exited = code; });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (exited !== null) throw new Error(`huddle serve exited with ${exited}:\n${output}`);
    try {
      return (await fetch(`${url}/healthz`)).status === 200;
    } catch {
      return false;
    }
  }, { timeout: 20_000, what: "the node's /healthz" });
  return {
    url,
    port,
    output: () => output,
    async stop() {
      if (exited === null) {
        // uvicorn waits for open streams on SIGTERM: a memory:// node has nothing to keep
        const gone = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await gone;
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function base64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/**
 * An HS256 JWT of the test secret: `sub`, member (or admin), one workspace (`"*"`: all of the
 * org, without a default), valid `ttl` seconds (negative: expired already).
 */
export function token({ sub, ws = "ws1", admin = false, name = sub, ttl = 3600, org = ORG }) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub, org, workspaces: ws === "*" ? "*" : [ws], ...(ws === "*" ? {} : { workspace: ws }),
    roles: admin ? ["admin", "member"] : ["member"], name, iat: Math.min(now, now + ttl - 1), exp: now + ttl,
  };
  const head = base64url({ alg: "HS256", typ: "JWT" });
  const body = base64url(claims);
  const signature = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}

/**
 * Resolve once `predicate()` (sync or async) is truthy, checking every `interval` ms; reject
 * after `timeout` ms, naming `what`. Answers the predicate's value.
 */
export async function waitFor(predicate, { timeout = 5000, interval = 10, what = "a condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** REST as a test user (not through the client under test). */
export async function rest(url, bearer, method, path, body) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Publish a custom event over REST as `bearer`; answers the event. */
export async function publish(url, bearer, type, data = {}, ws = "ws1") {
  const answer = await rest(url, bearer, "POST", `/v1/orgs/${ORG}/workspaces/${ws}/events`, { type, data });
  if (answer.status !== 201) throw new Error(`publish answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/**
 * A TCP proxy in front of the node. `cut()` drops every open connection and refuses new ones
 * (they are accepted and closed at once, as a dead node behind a balancer looks);
 * `restore()` lets connections through again.
 */
export async function startProxy(targetPort) {
  const sockets = new Set();
  let open = true;
  let connections = 0;
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    connections += 1;
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return connections;
    },
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close() {
      open = false;
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Record what a client emits: `events` of a workspace, `states`, `transports`, `errors`. */
export function record(huddle, workspace) {
  const seen = { events: [], states: [], transports: [], errors: [], resets: [] };
  huddle.on("state", (change) => seen.states.push(change));
  huddle.on("transport", (change) => seen.transports.push(change));
  huddle.on("error", (error) => seen.errors.push(error));
  if (workspace) {
    workspace.on("event", (event) => seen.events.push(event));
    workspace.on("reset", (event) => seen.resets.push(event));
  }
  return seen;
}

/** Resolve with the client's next `state` change to `state` (or at once if it is there). */
export function nextState(huddle, state, { timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for state ${state} (now ${huddle.state})`));
    }, timeout);
    const off = huddle.on("state", (change) => {
      if (change.state !== state) return;
      clearTimeout(timer);
      off();
      resolve(change);
    });
  });
}
