/**
 * @huddle/client: the browser client of a Huddle node, one dependency-free ES module.
 * Types and the full contract: huddle.d.ts. Protocol: docs/protocol.md.
 *
 *   import { Huddle } from "./huddle.js";
 *   const huddle = new Huddle({ url: "https://huddle.example.com", getToken: fetchMyJwt });
 *   huddle.on("state", ({ state }) => badge.textContent = state);
 *   await huddle.connect();                           // WebSocket, else SSE, else polling
 *   const ws = huddle.workspace("acme", "ws1");
 *   ws.on("event", (event) => console.log(event.id, event.type, event.data));
 *   await ws.subscribe();                             // resumes by cursor after every reconnect
 *   await ws.view("deal", "42");                      // presence, re-announced after reconnects
 *   const lock = await ws.lock("project", "1", { ttl: 30, onLost: (why) => alert(why) });
 *   await ws.request("PATCH", "/v1/custom-objects/project/records/1",
 *     { body: { values: { stage: "won" } }, headers: { "If-Match": `lock:${lock.fencingToken}` } });
 *   await lock.release();
 *
 * Layout: errors and small helpers; credentials and REST; the three transports (WebSocket,
 * SSE, poll), which only move events and requests; Workspace (cursor, presence, locks);
 * LockHandle; Huddle (state, fallback, backoff, reconnects).
 */

const SUBPROTOCOL = "huddle.v1.json";
const TRANSPORTS = ["websocket", "sse", "poll"];
const DEFAULT_LOCK_TTL = 30;
const SUMMARY_BATCH = 100;
const REPLAY_PAGE = 1000;
/** Close codes after which the credential, not the connection, is the problem. */
const AUTH_REFUSED_CODES = new Set([4500, 4504]);
const AUTH_EXPIRED_CODE = 4010;
/** Huddle's own event types: an EventSource needs a listener per type to hand them over. */
const HUDDLE_EVENT_TYPES = [
  "presence.joined", "presence.viewing", "presence.left", "user.online", "user.offline",
  "lock.acquired", "lock.refreshed", "lock.released", "lock.expired", "lock.force_released",
  "sync.reset", "sync.reconnect",
  "collaboration.created", "collaboration.deleted",
  "object.created", "object.updated", "object.deleted",
  "field.created", "field.updated", "field.deleted",
  "record.created", "record.updated", "record.deleted",
  "message",
];
/** Workspace.on names that are not event types. */
const WORKSPACE_NAMES = new Set(["event", "reset", "presence", "locks", "subscribed"]);
/** The HTTP status of a WebSocket error reply's code, as REST answers the same error. */
const STATUS_OF_CODE = {
  BAD_REQUEST: 400, INVALID_CURSOR: 400, AUTHENTICATION_FAILED: 401, TOKEN_EXPIRED: 401,
  FORBIDDEN: 403, RESOURCE_NOT_FOUND: 404, LOCK_NOT_HELD: 404, LOCK_HELD: 409,
  ALREADY_SUBSCRIBED: 409, PAYLOAD_TOO_LARGE: 413, VALIDATION_ERROR: 422, RATE_LIMITED: 429,
  TOO_MANY_SUBSCRIPTIONS: 429, SERVICE_UNAVAILABLE: 503,
};
/** Refusals of a lock refresh: the lease is gone (or another user's). */
const LOCK_REFUSALS = new Set(["LOCK_NOT_HELD", "FORBIDDEN", "LOCK_HELD"]);

// --- errors and helpers --------------------------------------------------------------------

/** An error of the server (REST envelope, WebSocket error reply) or of the client. */
export class HuddleError extends Error {
  constructor(message, { status = 0, code = "CLIENT_ERROR", details = {} } = {}) {
    super(message);
    this.name = "HuddleError";
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** True when the failure says nothing about the request itself: retry on another connection. */
function isConnectionFailure(error) {
  return !(error instanceof HuddleError) || error.status === 0 || error.status === 429
    || error.status >= 500;
}

/** The error a non-2xx REST answer stands for, from whichever envelope it carries. */
async function errorFromResponse(response) {
  const status = response.status;
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && typeof body.error === "string") {
    return new HuddleError(body.message || body.error, { status, code: body.error, details: body.details });
  }
  if (body && Array.isArray(body.detail)) {
    const first = body.detail[0]?.msg ?? "invalid request";
    return new HuddleError(first, { status, code: "VALIDATION_ERROR", details: { detail: body.detail } });
  }
  if (body && Array.isArray(body.errors) && body.errors[0]?.error) { // Base v2 (/v2/) envelope
    const first = body.errors[0].error;
    return new HuddleError(first.message, { status, code: first.code, details: { errors: body.errors } });
  }
  return new HuddleError(`HTTP ${status}`, { status, code: "HTTP_ERROR" });
}

/** The error of a WebSocket reply `{ok: false, error: {code, message, details}}`. */
function errorFromReply(error) {
  const code = error?.code ?? "SERVER_ERROR";
  const status = STATUS_OF_CODE[code] ?? 0;
  return new HuddleError(error?.message ?? code, { status, code, details: error?.details });
}

/** Reject with `error` unless `promise` settles within `ms`; `onTimeout` cleans up. */
function withTimeout(promise, ms, error, onTimeout = () => {}) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(error);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Attempt `n` waits between half and all of min(maxMs, initialMs * 2^n): "equal jitter". */
function backoffDelay(attempt, { initialMs, maxMs }) {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function randomHex(digits) {
  const bytes = new Uint8Array(Math.ceil(digits / 2));
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, digits);
}

/** The payload of a JWT, or null for an API key or anything that is not a readable JWT. */
function jwtClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** `<epoch>:<seq>` split; seq is a number. */
function parseCursor(id) {
  const colon = id.lastIndexOf(":");
  return { epoch: id.slice(0, colon), seq: Number(id.slice(colon + 1)) };
}

function entityKey(type, id) {
  return `${type}\u0000${id}`;
}

/** A lock of the REST/WebSocket answer (camelCase) as this client keeps it. */
function lockInfoFromAnswer(lock) {
  return {
    entityType: lock.entityType,
    entityId: lock.entityId,
    userId: lock.holder.userId,
    name: lock.holder.name ?? null,
    fencingToken: lock.fencingToken,
    expiresAt: Date.parse(lock.expiresAt),
  };
}

/** Named handlers; `on` answers its own remover. A throwing handler does not stop the others. */
class Emitter {
  #handlers = new Map();

  on(name, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (!this.#handlers.has(name)) this.#handlers.set(name, new Set());
    this.#handlers.get(name).add(handler);
    return () => this.#handlers.get(name)?.delete(handler);
  }

  emit(name, ...args) {
    for (const handler of [...(this.#handlers.get(name) ?? [])]) {
      try {
        handler(...args);
      } catch (error) {
        console.error(`huddle: a "${name}" handler threw`, error);
      }
    }
  }
}

/** A promise with its resolve/reject at hand. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // nobody may be waiting: a rejection here is not "unhandled"
  return { promise, resolve, reject };
}

// --- credentials and REST ------------------------------------------------------------------

/**
 * The credential to present: fixed, or asked from `getToken`, again shortly before a JWT's
 * `exp` (then `onRenewed(token)`) and whenever the server says it expired.
 */
class Credentials {
  #token;
  #getToken;
  #pending = null;
  #timer = null;
  #onRenewed;
  #onError;

  constructor({ token, getToken }, { onRenewed, onError }) {
    this.#token = token ?? null;
    this.#getToken = getToken ?? null;
    this.#onRenewed = onRenewed;
    this.#onError = onError;
    if (!this.#token && !this.#getToken) throw new TypeError("Huddle needs a token or getToken");
  }

  get renewable() {
    return this.#getToken !== null;
  }

  get token() {
    return this.#token;
  }

  /** The token last obtained, or a fresh one when there is none yet. */
  async current() {
    return this.#token ?? this.fresh();
  }

  /** Ask `getToken` now; concurrent callers share one call. The fixed token otherwise. */
  fresh() {
    if (!this.#getToken) return Promise.resolve(this.#token);
    this.#pending ??= this.#ask().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /** A token newer than `used` (the one the server refused as expired). */
  async renewAfter(used) {
    if (this.#token && this.#token !== used) return this.#token;
    return this.fresh();
  }

  /** Forget the token, so that the next `current()` asks for one. */
  forget() {
    if (this.#getToken) this.#token = null;
  }

  stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #ask() {
    let token;
    try {
      token = await this.#getToken();
    } catch (error) {
      throw new HuddleError(`getToken failed: ${error?.message ?? error}`, { code: "AUTH_FAILED" });
    }
    if (typeof token !== "string" || token === "") {
      throw new HuddleError("getToken returned no token", { code: "AUTH_FAILED" });
    }
    this.#token = token;
    this.#scheduleRenewal();
    return token;
  }

  /** At the earlier of 60 s before `exp` and 3/4 of the time left. API keys have no `exp`. */
  #scheduleRenewal() {
    clearTimeout(this.#timer);
    const exp = jwtClaims(this.#token)?.exp;
    if (typeof exp !== "number") return;
    const left = exp * 1000 - Date.now();
    if (left <= 0) return; // already expired: the server will say so, and we ask then
    const delay = left - Math.min(60_000, left / 4);
    this.#timer = setTimeout(() => this.#renewNow(), delay);
  }

  async #renewNow() {
    try {
      this.#onRenewed(await this.fresh());
    } catch (error) {
      this.#onError(error);
    }
  }
}

/** REST calls with the client's credential; a 401 TOKEN_EXPIRED is retried once with a new one. */
class Rest {
  #baseUrl;
  #fetch;
  #credentials;
  #timeoutMs;

  constructor(baseUrl, fetchImpl, credentials, timeoutMs) {
    this.#baseUrl = baseUrl;
    this.#fetch = fetchImpl;
    this.#credentials = credentials;
    this.#timeoutMs = timeoutMs;
  }

  /** The parsed JSON answer (null when empty); a HuddleError for anything but 2xx. */
  async request(method, path, { body, headers, query, signal, timeoutMs } = {}) {
    const token = await this.#credentials.current();
    const call = { method, path, body, headers, query, signal, timeoutMs: timeoutMs ?? this.#timeoutMs };
    let response = await this.#send(call, token);
    if (response.status === 401 && this.#credentials.renewable) {
      const error = await errorFromResponse(response);
      if (error.code !== "TOKEN_EXPIRED") throw error;
      response = await this.#send(call, await this.#credentials.renewAfter(token));
    }
    if (!response.ok) throw await errorFromResponse(response);
    const text = await response.text();
    if (!text) return null;
    return (response.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text;
  }

  url(path, query = {}) {
    const url = new URL(this.#baseUrl + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  async #send({ method, path, body, headers, query, signal, timeoutMs }, token) {
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal?.addEventListener("abort", abort);
    const timer = setTimeout(abort, timeoutMs);
    const sent = { Accept: "application/json", Authorization: `Bearer ${token}`, ...headers };
    if (body !== undefined) sent["Content-Type"] = "application/json";
    try {
      return await this.#fetch(this.url(path, query), {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      if (signal?.aborted) throw new HuddleError("request aborted", { code: "ABORTED" });
      if (controller.signal.aborted) {
        throw new HuddleError(`${method} ${path}: no answer within ${timeoutMs} ms`, { code: "TIMEOUT" });
      }
      throw new HuddleError(`${method} ${path}: ${error?.message ?? error}`, { code: "NETWORK_ERROR" });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    }
  }
}

// --- transports ----------------------------------------------------------------------------
//
// A transport moves events into workspaces (`workspace._deliver`) and, for the WebSocket,
// requests. It reports a failure once it is live through `client._transportLost`; before
// that its `open()`/`subscribe()` reject. `opened` says whether it ever worked, which decides
// between falling back (it failed to open) and reconnecting (it dropped).

/** A close code of Huddle's own (4000-4999): the server answered, so the WebSocket works. */
function isHuddleCode(code) {
  return code >= 4000 && code <= 4999;
}

/** What a transport reports to the client when `error` ended it. */
function lossOf(error) {
  return { reason: error.message, openFailed: error.code === "OPEN_FAILED", status: error.status };
}

function openFailed(message, details = {}) {
  return new HuddleError(message, { code: "OPEN_FAILED", details });
}

/** One WebSocket to `/v1/ws`: replies matched by request id, events pushed. */
class WebSocketTransport {
  name = "websocket";
  opened = false;
  live = false;
  failure = null;
  #client;
  #socket = null;
  #pending = new Map();
  #nextId = 1;
  #closed = false;
  #ended = false;
  #heartbeat = null;
  #hello = deferred();

  constructor(client) {
    this.#client = client;
  }

  /** Resolves with the server's `hello`; rejects (OPEN_FAILED) if the socket ends before it. */
  async open() {
    const WebSocketImpl = this.#client._impl("WebSocket");
    if (!WebSocketImpl) throw openFailed("no WebSocket implementation");
    const token = await this.#client._credentials.current();
    if (this.#closed) throw openFailed("closed before it opened");
    try {
      this.#socket = new WebSocketImpl(this.#client._wsUrl, [SUBPROTOCOL, `huddle.token.${token}`]);
    } catch (error) {
      throw openFailed(`WebSocket: ${error?.message ?? error}`);
    }
    this.#socket.onmessage = (message) => this.#receive(message.data);
    this.#socket.onclose = (event) => this.#closedBy(event.code, event.reason);
    // Browsers follow an error with a close event; Node's WebSocket may not (a refused connect).
    this.#socket.onerror = () => this.#closedBy(1006, "WebSocket error");
    return this.#hello.promise;
  }

  get usable() {
    return this.live && !this.#closed && this.#socket?.readyState === 1;
  }

  /** Send one op; resolves with its `result`. `onResult` runs before any later frame is read. */
  call(op, args = {}, { onResult } = {}) {
    if (this.#closed || this.#socket?.readyState !== 1) {
      return Promise.reject(new HuddleError("the WebSocket is not open", { code: "CONNECTION_LOST" }));
    }
    const id = this.#nextId++;
    const reply = deferred();
    const waitMs = this.#client._requestTimeoutMs;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reply.reject(new HuddleError(`${op}: no reply within ${waitMs} ms`, { code: "TIMEOUT" }));
    }, waitMs);
    this.#pending.set(id, { reply, timer, onResult });
    this.#socket.send(JSON.stringify({ id, op, ...args }));
    return reply.promise;
  }

  /** Subscribe from the workspace's cursor (none: from now, and the answer's position is it). */
  subscribe(workspace) {
    const args = { ...workspace._address, since: workspace.cursor ?? undefined };
    return this.call("subscribe", args, { onResult: (result) => workspace._startAt(result.position) });
  }

  unsubscribe(workspace) {
    return this.call("unsubscribe", workspace._address);
  }

  addEventType() {} // a WebSocket receives every type

  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#socket?.close(1000);
    this.#rejectPending(new HuddleError("the connection was closed", { code: "CONNECTION_LOST" }));
    this.#hello.reject(openFailed("closed before hello"));
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      this.#client._report(new HuddleError("a WebSocket frame is not JSON", { code: "BAD_FRAME" }));
      return;
    }
    if (frame.op === "hello") {
      this.opened = true;
      this.#client._hello(frame);
      this.#startHeartbeat();
      this.#hello.resolve(frame);
    } else if (frame.op === "event") {
      this.#client._deliver(frame.event);
    } else if (frame.id === null && frame.ok === false) {
      this.#client._report(errorFromReply(frame.error));
    } else {
      this.#settle(frame);
    }
  }

  #settle(frame) {
    const pending = this.#pending.get(frame.id);
    if (!pending) return;
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (!frame.ok) {
      pending.reply.reject(errorFromReply(frame.error));
      return;
    }
    pending.onResult?.(frame.result);
    pending.reply.resolve(frame.result);
  }

  /**
   * A `ping` every `heartbeatMs`: a connection that died without a close (a sleeping laptop,
   * a dropped Wi-Fi) is noticed when a pong does not come within `requestTimeoutMs`.
   */
  #startHeartbeat() {
    const every = this.#client._heartbeatMs;
    if (!every) return;
    this.#heartbeat = setInterval(() => {
      this.call("ping").catch((error) => {
        if (error.code === "TIMEOUT") this.#closedBy(1006, "no answer to ping");
      });
    }, every);
  }

  #closedBy(code, reason) {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#heartbeat);
    if (this.#socket.readyState < 2) this.#socket.close();
    const error = new HuddleError(`WebSocket closed (${code}${reason ? `: ${reason}` : ""})`, {
      code: "CONNECTION_LOST",
      details: { closeCode: code, reason },
    });
    this.#rejectPending(error);
    this.#hello.reject(openFailed(error.message, { closeCode: code, reason }));
    const failedToOpen = !this.opened && !isHuddleCode(code);
    if (!this.#closed) this.#client._transportLost(this, { code, reason, openFailed: failedToOpen });
    this.#closed = true;
  }

  #rejectPending(error) {
    for (const { reply, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reply.reject(error);
    }
    this.#pending.clear();
  }
}

/**
 * A transport of one reader per subscribed workspace (an EventSource, a long-poll loop): the
 * bookkeeping both share. `opened` once a reader did; requests go over REST (`usable` false).
 */
class PerWorkspaceTransport {
  opened = false;
  live = false;
  failure = null;
  _client;
  #readers = new Map();

  constructor(client) {
    this._client = client;
  }

  get usable() {
    return false;
  }

  /** The reader of `workspace` (`start()`, `stop()`, `workspace`); made by the subclass. */
  _reader(workspace) {
    throw new Error(`${this.constructor.name} makes no reader for ${workspace._path}`);
  }

  async subscribe(workspace) {
    if (this.#readers.has(workspace)) return;
    const reader = this._reader(workspace);
    this.#readers.set(workspace, reader);
    try {
      await reader.start();
    } catch (error) {
      reader.stop();
      this.#readers.delete(workspace);
      throw error;
    }
    this.opened = true;
  }

  async unsubscribe(workspace) {
    this.#readers.get(workspace)?.stop();
    this.#readers.delete(workspace);
  }

  _readers() {
    return this.#readers.values();
  }

  close() {
    for (const reader of this.#readers.values()) reader.stop();
    this.#readers.clear();
  }

  /** A reader broke after it had opened, or could not be reopened: the transport is lost. */
  _readerFailed(reader, loss) {
    if (this.#readers.get(reader.workspace) !== reader) return;
    this._client._transportLost(this, loss);
  }
}

/** One EventSource per subscribed workspace, each opened with a fresh ticket. */
class SseTransport extends PerWorkspaceTransport {
  name = "sse";

  /** Nothing to open yet: the streams are, one per workspace. */
  async open() {
    if (!this._client._impl("EventSource")) throw openFailed("no EventSource implementation");
  }

  _reader(workspace) {
    return new SseStream(this._client, this, workspace);
  }

  addEventType(type) {
    for (const stream of this._readers()) stream.listen(type);
  }

  _streamFailed(stream, error) {
    this._readerFailed(stream, lossOf(error));
  }
}

/** One workspace's EventSource; reopened by the client (fresh ticket, its own cursor). */
class SseStream {
  #client;
  #transport;
  #source = null;
  #opened = false;
  #stopped = false;
  #types = new Set();
  #ticketToken = null; // the credential the current ticket stands for

  constructor(client, transport, workspace) {
    this.#client = client;
    this.#transport = transport;
    this.workspace = workspace;
  }

  /** Resolves once the stream answered 200 (`open`); rejects (OPEN_FAILED) otherwise. */
  async start() {
    await this.workspace._ensureCursor();
    this.#ticketToken = await this.#client._credentials.current();
    const { ticket } = await this.#client._rest.request("POST", `${this.workspace._path}/sync/ticket`);
    if (this.#stopped) return;
    const EventSourceImpl = this.#client._impl("EventSource");
    const url = this.#client._sseUrl(`${this.workspace._path}/sync/stream`, {
      access_token: ticket,
      session_id: this.#client.sessionId,
      presence: false,
      last_event_id: this.workspace.cursor ?? undefined,
    });
    const source = new EventSourceImpl(url);
    this.#source = source;
    this.#opened = false;
    this.#types.clear();
    for (const type of this.#client._eventTypes()) this.listen(type);
    const opening = deferred();
    source.onopen = () => {
      this.#opened = true;
      opening.resolve();
    };
    source.onerror = () => this.#broken(source, opening);
    return opening.promise;
  }

  /** Hand over events of `type` too (an EventSource dispatches by the `event:` field). */
  listen(type) {
    if (!this.#source || this.#types.has(type)) return;
    this.#types.add(type);
    const source = this.#source;
    source.addEventListener(type, (message) => this.#received(source, message));
  }

  stop() {
    this.#stopped = true;
    this.#source?.close();
    this.#source = null;
  }

  /** Any error is handled by us: a browser's own retry would reuse an old ticket and cursor. */
  #broken(source, opening) {
    if (this.#stopped || source !== this.#source) return;
    source.close();
    this.#source = null;
    if (!this.#opened) {
      opening.reject(openFailed("the event stream failed to open"));
      return;
    }
    this.#transport._streamFailed(this, new HuddleError("the event stream broke", { code: "CONNECTION_LOST" }));
  }

  #received(source, message) {
    if (source !== this.#source) return;
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      this.#client._report(new HuddleError("an SSE event is not JSON", { code: "BAD_FRAME" }));
      return;
    }
    if (message.type === "sync.reconnect") {
      this.#reopen(data.reason);
      return;
    }
    this.workspace._deliver(data);
  }

  /** The server ends a stream (`timeout`, `slow_consumer`, `credential_expired` ...): reopen. */
  async #reopen(reason) {
    this.#source?.close();
    this.#source = null;
    try {
      if (reason === "credential_expired") await this.#client._credentials.renewAfter(this.#ticketToken);
      const timeout = openFailed(`the event stream did not reopen within ${this.#client._openTimeoutMs} ms`);
      await withTimeout(this.start(), this.#client._openTimeoutMs, timeout);
    } catch (error) {
      if (!this.#stopped) this.#transport._streamFailed(this, error);
    }
  }
}

/** REST long polling, one loop per subscribed workspace. */
class PollTransport extends PerWorkspaceTransport {
  name = "poll";

  /** Nothing to open yet: the loops are, one per workspace. */
  async open() {}

  _reader(workspace) {
    return new PollLoop(this._client, this, workspace);
  }

  addEventType() {}

  _loopFailed(loop, error) {
    this._readerFailed(loop, { ...lossOf(error), openFailed: false });
  }
}

class PollLoop {
  #client;
  #transport;
  #controller = new AbortController();
  #stopped = false;

  constructor(client, transport, workspace) {
    this.#client = client;
    this.#transport = transport;
    this.workspace = workspace;
  }

  /** Resolves after a first read (answered at once); the long polls then run by themselves. */
  async start() {
    await this.workspace._ensureCursor();
    await this.#read(0);
    this.#run();
  }

  stop() {
    this.#stopped = true;
    this.#controller.abort();
  }

  async #run() {
    while (!this.#stopped) {
      try {
        await this.#read(this.#client._pollWaitSeconds);
      } catch (error) {
        if (!this.#stopped) this.#transport._loopFailed(this, error);
        return;
      }
    }
  }

  async #read(wait) {
    const answer = await this.#client._rest.request("GET", `${this.workspace._path}/sync/events`, {
      query: { after: this.workspace.cursor ?? undefined, limit: REPLAY_PAGE, wait },
      signal: this.#controller.signal,
      timeoutMs: wait * 1000 + this.#client._requestTimeoutMs,
    });
    if (this.#stopped) return;
    for (const event of answer.events) this.workspace._deliver(event);
  }
}

// --- workspace -----------------------------------------------------------------------------

/** One workspace as this client sees it: cursor, presence (own and others'), locks. */
export class Workspace {
  #client;
  #emitter = new Emitter();
  #cursor = null;
  #wanted = false; // the app asked to subscribe
  #subscribed = false; // subscribed on the current transport
  #waiters = [];
  #stateLoaded = false;
  // presence: what the app wants, and what the server was last told (on a still-valid session)
  #presenceWanted = { joined: false, viewing: null };
  #presenceSent = { joined: false, viewing: null };
  #presenceChain = Promise.resolve();
  #keepAliveTimer = null;
  // others' presence: stored session id -> {userId, name, kind, viewing}
  #sessions = new Map();
  #rosterBuffer = null; // presence events seen while a roster read is under way
  #rosterGeneration = 0;
  // locks: entity key -> {lock: LockInfo | null, token}; our handles; entities watched
  #locks = new Map();
  #handles = new Map();
  #watched = new Map();

  constructor(client, orgId, workspaceId) {
    this.#client = client;
    this.orgId = orgId;
    this.workspaceId = workspaceId;
  }

  get cursor() {
    return this.#cursor;
  }

  get subscribed() {
    return this.#subscribed;
  }

  get _address() {
    return { org_id: this.orgId, workspace_id: this.workspaceId };
  }

  get _path() {
    return `/v1/orgs/${encodeURIComponent(this.orgId)}/workspaces/${encodeURIComponent(this.workspaceId)}`;
  }

  get _wanted() {
    return this.#wanted;
  }

  /** Receive events: after `since` when given, else after the cursor kept, else from now. */
  async subscribe({ since } = {}) {
    if (this.#wanted && this.#subscribed) return;
    if (since !== undefined) this.#cursor = since;
    const subscribed = deferred();
    this.#waiters.push(subscribed);
    if (!this.#wanted) {
      this.#wanted = true;
      this.#client._subscribe(this);
    }
    return subscribed.promise;
  }

  /** Stop receiving events; presence and locks are kept. */
  async unsubscribe() {
    this.#wanted = false;
    const wasSubscribed = this.#subscribed;
    this.#subscribed = false;
    this.#settleWaiters(new HuddleError("unsubscribed", { code: "UNSUBSCRIBED" }));
    if (wasSubscribed) await this.#client._unsubscribe(this);
  }

  /** Listen to `event`, `reset`, `presence`, `locks`, `subscribed` or one event type. */
  on(name, handler) {
    if (!WORKSPACE_NAMES.has(name)) this.#client._addEventType(name);
    return this.#emitter.on(name, handler);
  }

  // presence (own) --------------------------------------------------------------------------

  /** Be present; re-announced after every reconnect and kept alive over REST. */
  join() {
    this.#presenceWanted = { joined: true, viewing: this.#presenceWanted.viewing };
    return this.#syncPresence();
  }

  /** End this session's presence. */
  leave() {
    this.#presenceWanted = { joined: false, viewing: null };
    return this.#syncPresence();
  }

  /** View an entity (joins if needed); `view(null)` stops viewing. */
  view(type, id) {
    const viewing = type === null || type === undefined ? null : { type, id: String(id) };
    this.#presenceWanted = { joined: true, viewing };
    return this.#syncPresence();
  }

  /** Queue one run that makes the server match what the app wants; runs never overlap. */
  #syncPresence() {
    const run = this.#presenceChain.then(() => this.#applyPresence());
    this.#presenceChain = run.catch(() => {});
    return run;
  }

  async #applyPresence() {
    const transport = this.#client._liveTransport();
    if (!transport) return; // applied when the client is open
    const wanted = this.#presenceWanted;
    try {
      if (wanted.joined) {
        const session = await this.#announce(transport, wanted.viewing);
        this.#presenceSent = { joined: true, viewing: wanted.viewing };
        this.#keepAlive(transport, session);
      } else if (this.#presenceSent.joined) {
        clearTimeout(this.#keepAliveTimer);
        await this.#presenceCall(transport, "presence.leave", "POST leave");
        this.#presenceSent = { joined: false, viewing: null };
      }
    } catch (error) {
      // A dropped connection re-applies everything when it is back: only a refusal is news.
      // A REST announcement that failed while the stream is fine is tried again soon.
      if (!isConnectionFailure(error)) throw error;
      if (!transport.usable && wanted.joined) this.#keepAlive(transport, { retry: true });
    }
  }

  /** Tell the server this session's state; answers the session (with `expires_at`). */
  #announce(transport, viewing) {
    if (viewing) {
      const args = { resource_type: viewing.type, resource_id: viewing.id };
      return this.#presenceCall(transport, "presence.view", "POST viewing", args);
    }
    if (this.#presenceSent.viewing) { // stop viewing, stay present
      const nothing = { resource_type: null, resource_id: null };
      return this.#presenceCall(transport, "presence.view", "DELETE viewing", nothing);
    }
    return this.#presenceCall(transport, "presence.join", "POST join");
  }

  /** One presence op: over the WebSocket when it is the transport, else REST (`"POST join"`). */
  #presenceCall(transport, op, rest, args = {}) {
    const session = this.#client.sessionId;
    if (transport.usable) return transport.call(op, { ...this._address, ...args, session });
    const [method, action] = rest.split(" ");
    return this.#client._rest.request(method, `${this._path}/sync/presence/${action}`, {
      query: { ...args, session_id: session },
    });
  }

  /** REST sessions end a TTL after their last announcement: announce every third of it. */
  #keepAlive(transport, session) {
    clearTimeout(this.#keepAliveTimer);
    if (transport.usable) return; // the node keeps a live WebSocket's sessions
    const ttl = session.retry ? 3000 : Date.parse(session.expires_at) - Date.now();
    const delay = Math.max(250, ttl / 3);
    this.#keepAliveTimer = setTimeout(() => {
      if (this.#presenceWanted.joined) this.#syncPresence().catch((error) => this.#client._report(error));
    }, delay);
  }

  // presence (everyone) ---------------------------------------------------------------------

  /** Users present, each folded over its sessions. */
  roster() {
    const users = new Map();
    for (const session of this.#sessions.values()) {
      let user = users.get(session.userId);
      if (!user) {
        user = { userId: session.userId, name: session.name, sessions: 0, viewing: [] };
        users.set(session.userId, user);
      }
      user.sessions += 1;
      user.name = session.name ?? user.name;
      const viewing = session.viewing;
      if (viewing && !user.viewing.some((v) => v.type === viewing.type && v.id === viewing.id)) {
        user.viewing.push({ type: viewing.type, id: viewing.id });
      }
    }
    return [...users.values()];
  }

  /** Distinct users viewing an entity, with their session counts. */
  viewers(type, id) {
    const users = new Map();
    for (const session of this.#sessions.values()) {
      if (session.viewing?.type !== type || session.viewing.id !== String(id)) continue;
      const user = users.get(session.userId) ?? { userId: session.userId, name: session.name, sessions: 0 };
      user.sessions += 1;
      users.set(session.userId, user);
    }
    return [...users.values()];
  }

  viewerCount(type, id) {
    return this.viewers(type, id).length;
  }

  // locks -----------------------------------------------------------------------------------

  /** Take (or extend) the edit lock of an entity; a handle that keeps it refreshed. */
  async lock(type, id, { ttl = DEFAULT_LOCK_TTL, onLost, autoRefresh = true } = {}) {
    const entityId = String(id);
    const startedAt = Date.now();
    const answer = await this._lockCall("acquire", type, entityId, ttl);
    this.#seedLock(type, entityId, answer);
    const existing = this.#handles.get(entityKey(type, entityId));
    if (existing?.held) {
      existing._granted(answer, startedAt);
      return existing;
    }
    const handle = new LockHandle(this, answer, { ttl, onLost, autoRefresh }, startedAt);
    this.#handles.set(entityKey(type, entityId), handle);
    return handle;
  }

  /** The entity's lock as known from events and the summary, or null. */
  lockState(type, id) {
    return this.#locks.get(entityKey(type, String(id)))?.lock ?? null;
  }

  /** Seed these entities' lock states from the presence summary; read again after a reset. */
  async watchLocks(entities) {
    for (const { type, id } of entities) this.#watched.set(entityKey(type, String(id)), { type, id: String(id) });
    await this.#readLocks(entities.map(({ type, id }) => ({ type, id: String(id) })));
  }

  /** acquire/refresh/release over the WebSocket when it is the transport, else REST. */
  async _lockCall(action, type, id, ttl) {
    const transport = this.#client._liveTransport();
    if (transport?.usable) {
      const args = { ...this._address, entity_type: type, entity_id: id };
      return transport.call(`lock.${action}`, action === "release" ? args : { ...args, ttl });
    }
    const path = `/v1/collaboration/locks/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
    const body = { ttl, sessionId: this.#client.sessionId };
    if (action === "acquire") return this.request("POST", path, { body });
    if (action === "refresh") return this.request("POST", `${path}/refresh`, { body });
    return this.request("DELETE", path);
  }

  _forget(handle) {
    const key = entityKey(handle.entityType, handle.entityId);
    if (this.#handles.get(key) === handle) this.#handles.delete(key);
  }

  // publish and REST ------------------------------------------------------------------------

  /** Publish a custom event; resolves with it (`id: null` when ephemeral). With `audience`
   * (`{users: [...], members_of: [...]}`) only the users it admits receive it. */
  async publish(type, data = {}, { persist = true, idempotencyKey, audience } = {}) {
    const body = { type, data, persist, idempotency_key: idempotencyKey };
    if (audience) body.audience = audience;
    const transport = this.#client._liveTransport();
    if (transport?.usable) return (await transport.call("publish", { ...this._address, ...body })).event;
    return this.#client._rest.request("POST", `${this._path}/events`, { body });
  }

  /** `Huddle.request` with `X-Workspace-Id` set to this workspace. */
  request(method, path, options = {}) {
    const headers = { "X-Workspace-Id": this.workspaceId, ...options.headers };
    return this.#client.request(method, path, { ...options, headers });
  }

  // events in -------------------------------------------------------------------------------

  /** One event from a transport: dedupe, move the cursor, fold state, hand it to the app. */
  _deliver(event) {
    if (!this.#wanted) return;
    if ((event.id === null || event.id === undefined) && event.type !== "sync.reset") { // ephemeral
      this.#dispatch(event);
      return;
    }
    if (event.type === "sync.reset") { // its id is where to go on, even behind the cursor
      this.#cursor = event.id ?? "origin:0";
      this.#emitter.emit("reset", event);
      this.#client._emit("reset", event, this);
      this.#reloadState({ afterReset: true });
      return;
    }
    if (this.#isDuplicate(event.id)) return;
    this.#cursor = event.id;
    if (event.type.startsWith("presence.")) this.#presenceEvent(event);
    if (event.type.startsWith("lock.")) this.#lockEvent(event);
    this.#dispatch(event);
  }

  /** A guard: within one epoch, an event at or before the cursor was delivered already. */
  #isDuplicate(id) {
    if (this.#cursor === null) return false;
    const seen = parseCursor(this.#cursor);
    const next = parseCursor(id);
    return seen.epoch === next.epoch && next.seq <= seen.seq;
  }

  #dispatch(event) {
    this.#emitter.emit("event", event);
    if (!WORKSPACE_NAMES.has(event.type)) this.#emitter.emit(event.type, event);
    this.#client._emit("event", event, this);
  }

  #presenceEvent(event) {
    if (event.type === "presence.left") this.#ownSessionEnded(event.data.session_id);
    if (this.#rosterBuffer) {
      this.#rosterBuffer.push(event);
      return;
    }
    this.#applySession(event);
    this.#emitter.emit("presence", event);
  }

  /**
   * Our own session ended while we want it (it expired, or the node finished a dropped
   * connection's goodbye after our new connection joined under the same name): announce again.
   */
  #ownSessionEnded(sessionId) {
    if (sessionId !== `${this.#client.userId}/${this.#client.sessionId}`) return;
    if (!this.#presenceWanted.joined || !this.#client._liveTransport()) return;
    this.#presenceSent = { joined: false, viewing: null };
    this.#syncPresence().catch((error) => this.#client._report(error));
  }

  /** Each presence event sets one session's state absolutely: replaying them in order is right. */
  #applySession({ type, data }) {
    const id = data.session_id;
    if (type === "presence.left") {
      this.#sessions.delete(id);
      return;
    }
    const known = this.#sessions.get(id);
    const viewing = type === "presence.viewing" && data.resource_type
      ? { type: data.resource_type, id: data.resource_id }
      : null;
    this.#sessions.set(id, {
      userId: data.user_id,
      name: data.name ?? known?.name ?? null,
      kind: data.kind ?? known?.kind ?? null,
      viewing,
    });
  }

  /** Lock events only move forward: fencing tokens grow, so older news is ignored. */
  #lockEvent({ type, data }) {
    const key = entityKey(data.entity_type, data.entity_id);
    const known = this.#locks.get(key);
    if (known && data.fencing_token < known.token) return;
    const granted = type === "lock.acquired" || type === "lock.refreshed";
    const lock = granted ? {
      entityType: data.entity_type,
      entityId: data.entity_id,
      userId: data.user_id,
      name: data.name ?? null,
      fencingToken: data.fencing_token,
      expiresAt: data.expires_at_ms,
    } : null;
    this.#setLock(key, data.entity_type, data.entity_id, lock, data.fencing_token);
    this.#handles.get(key)?._event(type, data);
  }

  #setLock(key, entityType, entityId, lock, token) {
    this.#locks.set(key, { lock, token });
    this.#emitter.emit("locks", { entityType, entityId, lock });
  }

  /** A lock read over REST (summary, acquire answer): newer than what events said, or ignored. */
  #seedLock(entityType, entityId, answer) {
    const key = entityKey(entityType, entityId);
    const known = this.#locks.get(key);
    if (!answer) {
      if (!known) this.#setLock(key, entityType, entityId, null, 0);
      return;
    }
    const lock = lockInfoFromAnswer(answer);
    if (!known || lock.fencingToken > known.token || (lock.fencingToken === known.token && known.lock)) {
      this.#setLock(key, entityType, entityId, lock, lock.fencingToken);
    }
  }

  async #readLocks(entities) {
    for (let start = 0; start < entities.length; start += SUMMARY_BATCH) {
      const batch = entities.slice(start, start + SUMMARY_BATCH);
      const answer = await this.request("POST", "/v1/collaboration/presence/summary", {
        body: { entities: batch.map(({ type, id }) => ({ entityType: type, entityId: id })) },
      });
      for (const entity of answer.entities) this.#seedLock(entity.entityType, entity.entityId, entity.lock);
    }
  }

  /** Read the roster; presence events meanwhile are buffered and replayed onto it in order. */
  async #reloadRoster() {
    const generation = ++this.#rosterGeneration;
    this.#rosterBuffer ??= [];
    let users = null;
    try {
      users = (await this.#client._rest.request("GET", `${this._path}/sync/presence`)).users;
    } catch (error) {
      this.#stateLoaded = false; // read again at the next subscribe
      this.#client._report(error);
    }
    if (generation !== this.#rosterGeneration) return; // a newer read replays the buffer
    if (users) this.#sessions = sessionsOfRoster(users);
    for (const event of this.#rosterBuffer) this.#applySession(event);
    this.#rosterBuffer = null;
    this.#emitter.emit("presence", null);
  }

  /** After a reset (or the first subscribe): the roster and every lock we know or watch. */
  async #reloadState({ afterReset = false } = {}) {
    this.#stateLoaded = true;
    const known = [...this.#locks.values()].filter((k) => k.lock).map((k) => k.lock);
    const entities = new Map(this.#watched);
    for (const { entityType: type, entityId: id } of known) entities.set(entityKey(type, id), { type, id });
    this.#locks.clear();
    if (afterReset) { // the events we missed may have ended our leases
      for (const handle of this.#handles.values()) handle.refresh().catch(() => {});
    }
    await Promise.all([
      this.#reloadRoster(),
      this.#readLocks([...entities.values()]).catch((error) => this.#client._report(error)),
    ]);
  }

  // transport life --------------------------------------------------------------------------

  /** SSE and poll need a position to resume from before they open: the log's head. */
  async _ensureCursor() {
    if (this.#cursor !== null) return;
    const { position } = await this.#client._rest.request("GET", `${this._path}/sync/position`);
    this.#cursor ??= position;
  }

  /** The WebSocket's subscribe answer: without a cursor, its position is where we start. */
  _startAt(position) {
    this.#cursor ??= position;
  }

  _markSubscribed(transportName) {
    this.#subscribed = true;
    this.#settleWaiters();
    this.#emitter.emit("subscribed", { cursor: this.#cursor, transport: transportName });
    if (!this.#stateLoaded) this.#reloadState();
  }

  _refused(error) {
    this.#wanted = false;
    this.#subscribed = false;
    this.#settleWaiters(error);
  }

  /**
   * The transport went away. Our session lives on for up to one presence TTL (the node keeps
   * a session the client named after a dropped WebSocket too) and is announced again on open.
   */
  _transportDown() {
    this.#subscribed = false;
    clearTimeout(this.#keepAliveTimer);
  }

  /** A transport is open: announce presence again and refresh held locks on it. */
  _transportUp() {
    if (this.#presenceWanted.joined || this.#presenceSent.joined) {
      this.#syncPresence().catch((error) => this.#client._report(error));
    }
    for (const handle of this.#handles.values()) handle.refresh().catch(() => {});
  }

  /** Before closing: leave and release everything, best effort. */
  async _goodbye() {
    this.#presenceWanted = { joined: false, viewing: null };
    await Promise.allSettled([
      this.#syncPresence(),
      ...[...this.#handles.values()].map((handle) => handle.release()),
    ]);
    clearTimeout(this.#keepAliveTimer);
  }

  /** The client closed: stop every timer (without `onLost`). */
  _shutDown(error) {
    this.#settleWaiters(error);
    clearTimeout(this.#keepAliveTimer);
    for (const handle of [...this.#handles.values()]) handle._drop();
  }

  #settleWaiters(error) {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }
}

/** Roster users (with `session_details`) as sessions by stored id. */
function sessionsOfRoster(users) {
  const sessions = new Map();
  for (const user of users) {
    for (const detail of user.session_details ?? []) {
      const viewing = detail.viewing ? { type: detail.viewing.resource_type, id: detail.viewing.resource_id } : null;
      sessions.set(detail.session_id, { userId: user.user_id, name: user.name ?? null, kind: detail.kind, viewing });
    }
  }
  return sessions;
}

// --- lock handle ---------------------------------------------------------------------------

/** A held lock: refreshed every third of its ttl; `onLost` once if the lease goes. */
class LockHandle {
  held = true;
  #workspace;
  #ttl;
  #onLost;
  #autoRefresh;
  #refreshTimer = null;
  #deadlineTimer = null;

  constructor(workspace, answer, { ttl, onLost, autoRefresh }, startedAt) {
    this.#workspace = workspace;
    this.#ttl = ttl;
    this.#onLost = onLost;
    this.#autoRefresh = autoRefresh;
    this.entityType = answer.entityType;
    this.entityId = answer.entityId;
    this._granted(answer, startedAt);
  }

  /** Extend the lease now; a refusal loses the lock (`onLost("refresh_refused")`) and rejects. */
  async refresh() {
    if (!this.held) throw new HuddleError("the lock is not held", { code: "LOCK_LOST" });
    const startedAt = Date.now();
    try {
      const answer = await this.#workspace._lockCall("refresh", this.entityType, this.entityId, this.#ttl);
      if (this.held) this._granted(answer, startedAt);
      return this;
    } catch (error) {
      if (LOCK_REFUSALS.has(error.code)) this._lose("refresh_refused");
      throw error;
    }
  }

  /** Release it; no `onLost`. A lease already gone counts as released. */
  async release() {
    if (!this.held) return;
    this.#stop();
    try {
      await this.#workspace._lockCall("release", this.entityType, this.entityId);
    } catch (error) {
      if (!LOCK_REFUSALS.has(error.code)) throw error;
    }
  }

  /** A grant (acquire or refresh answer). The local deadline counts from the request's start,
   * so a skewed clock cannot make us believe in a lease longer than the server's. */
  _granted(answer, startedAt) {
    this.fencingToken = answer.fencingToken;
    this.expiresAt = Date.parse(answer.expiresAt);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => this._lose("expired"), startedAt + this.#ttl * 1000 - Date.now());
    if (this.#autoRefresh) this.#refreshTimer = setTimeout(() => this.#autoRefreshNow(), (this.#ttl * 1000) / 3);
  }

  /** A lock event of our entity. Only our lease (same fencing token) concerns us. */
  _event(type, data) {
    if (data.fencing_token !== this.fencingToken) return;
    if (type === "lock.expired") this._lose("expired");
    else if (type === "lock.force_released") this._lose("force_released");
    else if (type === "lock.released") this._lose("released");
  }

  /** Forget it without telling anyone (the client closed). */
  _drop() {
    if (this.held) this.#stop();
  }

  _lose(reason) {
    if (!this.held) return;
    this.#stop();
    try {
      this.#onLost?.(reason);
    } catch (error) {
      console.error("huddle: an onLost handler threw", error);
    }
  }

  /** A failed refresh that was not a refusal (no connection): try again soon, until the deadline. */
  async #autoRefreshNow() {
    try {
      await this.refresh();
    } catch {
      const soon = Math.min(1000, (this.#ttl * 1000) / 6);
      if (this.held) this.#refreshTimer = setTimeout(() => this.#autoRefreshNow(), soon);
    }
  }

  #stop() {
    this.held = false;
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#deadlineTimer);
    this.#workspace._forget(this);
  }
}

// --- the client ----------------------------------------------------------------------------

/** A tab's connection to a Huddle node. See huddle.d.ts for the contract. */
export class Huddle {
  #options;
  #emitter = new Emitter();
  #state = "idle";
  #transport = null;
  #transportName = null;
  #lastOpened = null;
  #worked = new Set(); // transports that opened at least once
  #transportIndex = 0;
  #workspaces = new Map();
  #types;
  #attempt = 0;
  #authRetried = false;
  #reconnectTimer = null;
  #upgradeTimer = null;
  #connectWaiters = [];
  #window;
  #userId = null;

  /** @param {import("./huddle.d.ts").HuddleOptions} options */
  constructor(options = {}) {
    const url = (options.url ?? globalThis.location?.origin ?? "").replace(/\/+$/, "");
    if (!url) throw new TypeError("Huddle needs a url");
    if (options.transport && options.transport !== "auto" && !TRANSPORTS.includes(options.transport)) {
      throw new TypeError(`transport must be auto, ${TRANSPORTS.join(", ")}`);
    }
    this.#options = {
      url,
      transport: options.transport ?? "auto",
      backoff: { initialMs: 500, maxMs: 30_000, ...options.backoff },
      openTimeoutMs: options.openTimeoutMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      pollWaitSeconds: options.pollWaitSeconds ?? 25,
      heartbeatMs: options.heartbeatMs ?? 25_000,
      upgradeAfterMs: options.upgradeAfterMs ?? 300_000,
      wsUrl: options.wsUrl ?? `${url.replace(/^http/, "ws")}/v1/ws`,
      sseUrl: (options.sseUrl ?? url).replace(/\/+$/, ""),
      WebSocket: options.WebSocket ?? globalThis.WebSocket,
      EventSource: options.EventSource ?? globalThis.EventSource,
      fetch: options.fetch ?? globalThis.fetch?.bind(globalThis),
    };
    this.sessionId = options.sessionId ?? `tab-${randomHex(12)}`;
    this.#types = new Set([...HUDDLE_EVENT_TYPES, ...(options.eventTypes ?? [])]);
    this.#window = options.window === undefined
      ? (typeof globalThis.addEventListener === "function" ? globalThis : null)
      : options.window;
    this._credentials = new Credentials(options, {
      onRenewed: (token) => this.#tokenRenewed(token),
      onError: (error) => this._report(error),
    });
    this._rest = new Rest(url, this.#options.fetch, this._credentials, this.#options.requestTimeoutMs);
    if (this._credentials.token) this.#userId = jwtClaims(this._credentials.token)?.sub ?? null;
  }

  get state() {
    return this.#state;
  }

  get transport() {
    return this.#transportName;
  }

  get userId() {
    return this.#userId;
  }

  /** Start (and keep) connecting; resolves when first open, rejects if closed before. */
  connect() {
    if (this.#state === "closed") return Promise.reject(new HuddleError("the client is closed", { code: "CLOSED" }));
    if (this.#state === "open") return Promise.resolve();
    const opened = deferred();
    this.#connectWaiters.push(opened);
    if (this.#state === "idle") {
      this.#window?.addEventListener("offline", this.#wentOffline);
      this.#window?.addEventListener("online", this.#cameOnline);
      this.#setState("connecting");
      this.#establish();
    }
    return opened.promise;
  }

  /** Leave presence and release locks (best effort), then close for good. */
  async close() {
    if (this.#state === "closed") return;
    const goodbyes = Promise.allSettled([...this.#workspaces.values()].map((ws) => ws._goodbye()));
    await withTimeout(goodbyes, this.#options.requestTimeoutMs, null).catch(() => {});
    this.#shutDown(new HuddleError("the client is closed", { code: "CLOSED" }));
  }

  on(name, handler) {
    return this.#emitter.on(name, handler);
  }

  /** The workspace object of these ids (one per pair). */
  workspace(orgId, workspaceId) {
    const key = `${orgId}/${workspaceId}`;
    if (!this.#workspaces.has(key)) this.#workspaces.set(key, new Workspace(this, orgId, workspaceId));
    return this.#workspaces.get(key);
  }

  /** A REST call with the client's credential; a HuddleError for anything but 2xx. */
  request(method, path, options = {}) {
    return this._rest.request(method.toUpperCase(), path, options);
  }

  // connecting ------------------------------------------------------------------------------

  /** One attempt on the transport `#transportIndex` points at (forced: that one). */
  async #establish() {
    clearTimeout(this.#reconnectTimer);
    const transport = this.#createTransport();
    this.#transport = transport;
    this.#transportName = transport.name;
    try {
      await this._credentials.current();
    } catch (error) { // getToken failed: not the transport's fault, try it again later
      if (transport !== this.#transport) return;
      this._report(error);
      this.#scheduleReconnect({ reason: error.message });
      return;
    }
    try {
      const timeout = openFailed(`${transport.name} did not open within ${this.#options.openTimeoutMs} ms`);
      await withTimeout(transport.open(), this.#options.openTimeoutMs, timeout);
      await this.#subscribeAll(transport);
      if (transport.failure) {
        throw new HuddleError(transport.failure.reason ?? "lost while opening", { code: "CONNECTION_LOST" });
      }
    } catch (error) {
      if (transport !== this.#transport) return; // superseded: closed, offline, upgraded
      if (!(error instanceof HuddleError)) console.error("huddle: unexpected failure", error);
      transport.close();
      const code = error.details?.closeCode;
      this.#recover(transport, {
        openFailed: (!transport.opened || error.code === "OPEN_FAILED") && !isHuddleCode(code),
        code,
        reason: error.message,
        status: error.status,
      });
      return;
    }
    if (transport === this.#transport) this.#opened(transport);
  }

  #createTransport() {
    const forced = this.#options.transport !== "auto" ? this.#options.transport : null;
    const name = forced ?? TRANSPORTS[this.#transportIndex];
    if (name === "websocket") return new WebSocketTransport(this);
    if (name === "sse") return new SseTransport(this);
    return new PollTransport(this);
  }

  async #subscribeAll(transport) {
    for (const workspace of this.#workspaces.values()) {
      if (workspace._wanted) await this.#subscribeOn(transport, workspace);
    }
  }

  /** Subscribe one workspace; its own refusal is its error, a connection failure is ours. */
  async #subscribeOn(transport, workspace) {
    try {
      const timeout = openFailed(`subscribing did not finish within ${this.#options.openTimeoutMs} ms`);
      await withTimeout(transport.subscribe(workspace), this.#options.openTimeoutMs, timeout);
    } catch (error) {
      if (isConnectionFailure(error) || error.status === 401) throw error;
      workspace._refused(error);
      this._report(error);
      return;
    }
    if (transport === this.#transport && workspace._wanted) workspace._markSubscribed(transport.name);
  }

  #opened(transport) {
    transport.live = true;
    this.#attempt = 0;
    this.#authRetried = false;
    if (transport.opened) this.#worked.add(transport.name); // SSE, poll: once a workspace got through
    this.#announceTransport(transport.name);
    this.#setState("open");
    this.#scheduleUpgrade();
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve();
    for (const workspace of this.#workspaces.values()) {
      if (workspace._wanted && !workspace.subscribed) this._subscribe(workspace); // asked meanwhile
      workspace._transportUp();
    }
  }

  /** `transport` event: the transport in use differs from the one that was open before. */
  #announceTransport(name) {
    const previous = this.#lastOpened;
    if (previous === name) return;
    this.#lastOpened = name;
    const from = previous ?? (this.#options.transport === "auto" ? TRANSPORTS[0] : name);
    const reason = from === name ? "connect"
      : TRANSPORTS.indexOf(name) > TRANSPORTS.indexOf(from) ? "fallback" : "upgrade";
    this.#emitter.emit("transport", { transport: name, previous, reason });
  }

  /**
   * After a failed attempt or a lost connection: renew credentials, fall back, or back off.
   * Only a transport that never opened in this client's life is given up for the next one:
   * one that worked before and fails now more likely meets a node or network that is down.
   */
  #recover(transport, { openFailed: failedToOpen, code, reason, status }) {
    for (const workspace of this.#workspaces.values()) workspace._transportDown();
    if (AUTH_REFUSED_CODES.has(code) || status === 401) {
      this.#credentialsRefused(code, reason);
      return;
    }
    if (code === AUTH_EXPIRED_CODE) {
      if (!this._credentials.renewable) {
        this.#fail(new HuddleError("the token expired; no getToken", { code: "AUTH_FAILED", status: 401 }));
        return;
      }
      this._credentials.forget();
    }
    const terminal = code >= 4500 && code <= 4999;
    const auto = this.#options.transport === "auto";
    const givenUp = terminal || (failedToOpen && !this.#worked.has(transport.name));
    if (givenUp && auto && this.#transportIndex < TRANSPORTS.length - 1) {
      this.#transportIndex += 1;
      this.#establish();
      return;
    }
    if (terminal) {
      const details = { closeCode: code };
      this.#fail(new HuddleError(`the server refused the connection: ${reason}`, { code: "CONNECTION_REFUSED", details }));
      return;
    }
    if (givenUp && auto) this.#transportIndex = 0; // every transport failed: start over
    this.#scheduleReconnect({ code, reason });
  }

  /** 4500/4504 or a 401: ask getToken once more; refused again, the client closes. */
  #credentialsRefused(code, reason) {
    if (this._credentials.renewable && !this.#authRetried) {
      this.#authRetried = true;
      this._credentials.forget();
      this.#establish();
      return;
    }
    const details = { closeCode: code };
    this.#fail(new HuddleError(`credentials refused: ${reason}`, { code: "AUTH_FAILED", status: 401, details }));
  }

  #scheduleReconnect({ code, reason }) {
    const attempt = this.#attempt++;
    const delayMs = backoffDelay(attempt, this.#options.backoff);
    this.#setState("reconnecting", { attempt, delayMs, code, reason });
    this.#reconnectTimer = setTimeout(() => this.#establish(), delayMs);
  }

  /** On a fallback transport, try the better ones again after `upgradeAfterMs`. */
  #scheduleUpgrade() {
    clearTimeout(this.#upgradeTimer);
    const after = this.#options.upgradeAfterMs;
    if (this.#options.transport !== "auto" || this.#transportIndex === 0 || !after) return;
    this.#upgradeTimer = setTimeout(() => {
      if (this.#state !== "open") return;
      this.#takeDown();
      this.#transportIndex = 0;
      this.#setState("reconnecting", { reason: "upgrade" });
      this.#establish();
    }, after);
  }

  /** A live transport failed (a workspace's stream or loop, the socket). */
  _transportLost(transport, info) {
    if (transport.opened) this.#worked.add(transport.name);
    if (transport !== this.#transport) return;
    if (!transport.live) {
      transport.failure = info; // `#establish` is still running and will see it
      return;
    }
    transport.live = false;
    transport.close();
    clearTimeout(this.#upgradeTimer);
    this.#recover(transport, info);
  }

  #takeDown() {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#upgradeTimer);
    const transport = this.#transport;
    this.#transport = null;
    if (!transport) return;
    transport.live = false;
    transport.close();
    for (const workspace of this.#workspaces.values()) workspace._transportDown();
  }

  #wentOffline = () => {
    if (this.#state === "closed" || this.#state === "idle") return;
    this.#takeDown();
    this.#setState("offline");
  };

  #cameOnline = () => {
    if (this.#state !== "offline") return;
    this.#attempt = 0;
    this.#setState("reconnecting", { attempt: 0, delayMs: 0, reason: "online" });
    this.#establish();
  };

  #fail(error) {
    this._report(error);
    this.#shutDown(error);
  }

  #shutDown(error) {
    this.#takeDown();
    this.#transportName = null;
    this._credentials.stop();
    this.#window?.removeEventListener("offline", this.#wentOffline);
    this.#window?.removeEventListener("online", this.#cameOnline);
    this.#setState("closed", { reason: error.message });
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(error);
    for (const workspace of this.#workspaces.values()) workspace._shutDown(error);
  }

  #setState(state, detail = {}) {
    const previous = this.#state;
    this.#state = state;
    this.#emitter.emit("state", { state, previous, ...detail });
  }

  async #tokenRenewed(token) {
    this.#userId = jwtClaims(token)?.sub ?? this.#userId;
    const transport = this._liveTransport();
    if (!transport?.usable) return; // REST and new tickets pick the new token up by themselves
    try {
      await transport.call("auth.refresh", { token });
    } catch (error) {
      this._report(error);
    }
  }

  // for transports and workspaces -----------------------------------------------------------

  get _requestTimeoutMs() {
    return this.#options.requestTimeoutMs;
  }

  get _openTimeoutMs() {
    return this.#options.openTimeoutMs;
  }

  get _heartbeatMs() {
    return this.#options.heartbeatMs;
  }

  get _pollWaitSeconds() {
    return this.#options.pollWaitSeconds;
  }

  get _wsUrl() {
    return this.#options.wsUrl;
  }

  _impl(name) {
    return this.#options[name] ?? null;
  }

  _sseUrl(path, query) {
    const url = new URL(this.#options.sseUrl + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  /** The transport when the client is open on it, else null. */
  _liveTransport() {
    return this.#state === "open" && this.#transport?.live ? this.#transport : null;
  }

  _eventTypes() {
    return this.#types;
  }

  _addEventType(type) {
    if (this.#types.has(type)) return;
    this.#types.add(type);
    this.#transport?.addEventType(type);
  }

  /** Subscribe now when open; otherwise the next open does it. */
  async _subscribe(workspace) {
    if (this.#state === "closed") {
      workspace._shutDown(new HuddleError("the client is closed", { code: "CLOSED" }));
      return;
    }
    const transport = this._liveTransport();
    if (!transport) return;
    try {
      await this.#subscribeOn(transport, workspace);
    } catch (error) {
      this._transportLost(transport, lossOf(error));
    }
  }

  async _unsubscribe(workspace) {
    try {
      await this._liveTransport()?.unsubscribe(workspace);
    } catch (error) {
      if (!isConnectionFailure(error)) throw error;
    }
  }

  _hello(hello) {
    this.#userId = hello.user_id ?? this.#userId;
  }

  /** An event from the WebSocket, which carries every workspace's events. */
  _deliver(event) {
    this.#workspaces.get(`${event.org_id}/${event.workspace_id}`)?._deliver(event);
  }

  _emit(name, ...args) {
    this.#emitter.emit(name, ...args);
  }

  _report(error) {
    this.#emitter.emit("error", error);
  }
}
