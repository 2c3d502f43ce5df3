/**
 * Types of `@huddle/client`, the browser client of a Huddle node (huddle.js).
 *
 * One `Huddle` instance is one tab's connection: it picks a transport (WebSocket, then
 * Server-Sent Events, then REST long polling), reconnects with jittered backoff, resumes
 * every subscribed workspace from the last event it delivered, keeps one presence session
 * (`sessionId`) across reconnects and transports, and keeps held locks alive.
 *
 * Times are epoch milliseconds (numbers) unless a field says otherwise; `ttl` values are
 * seconds, as the server takes them.
 */

/** Which transport to use. `"auto"` tries `websocket`, then `sse`, then `poll`. */
export type TransportChoice = "auto" | "websocket" | "sse" | "poll";

/** A transport actually in use. */
export type TransportName = "websocket" | "sse" | "poll";

/**
 * The connection state.
 * - `idle`: created, `connect()` not called yet.
 * - `connecting`: the first connection attempt (and its transport fallbacks) is under way.
 * - `open`: connected; every subscribed workspace is subscribed on the transport.
 * - `reconnecting`: the connection was lost (or an attempt failed); the next attempt is
 *   waiting for its backoff delay or running.
 * - `offline`: the browser said it is offline (`offline` window event); the client waits for
 *   `online` and reconnects at once.
 * - `closed`: `close()` was called, or the server refused the credentials for good (an
 *   `error` event says why). Terminal.
 */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "offline" | "closed";

/** A token source: a JWT or a Huddle API key (64 hex characters), sync or async. */
export type TokenSource = () => string | Promise<string>;

/** Options of `new Huddle(options)`. Only `url` and one of `token`/`getToken` are needed. */
export interface HuddleOptions {
  /**
   * Base URL of the node, e.g. `"https://huddle.example.com"`. Default: the page's
   * `location.origin`. REST calls, stream tickets and polling go here.
   */
  url?: string;
  /** A fixed credential (JWT or API key). Without `getToken` it is never renewed. */
  token?: string;
  /**
   * Called for a credential at connect, shortly before the current JWT's `exp` (at the
   * earlier of 60 s before it and three quarters of its remaining lifetime), and when the
   * server says it expired (WebSocket close 4010, REST 401 `TOKEN_EXPIRED`, SSE
   * `sync.reconnect` `credential_expired`) or was refused (close 4500/4504: asked once more,
   * then the client closes with an error). Concurrent needs share one call.
   * API keys (64 hex characters) and tokens without `exp` are never refreshed early.
   */
  getToken?: TokenSource;
  /** Default `"auto"`. A forced transport never falls back; it reconnects with backoff. */
  transport?: TransportChoice;
  /**
   * This instance's presence session name (a tab id), the same on every reconnect and
   * transport. Default: `"tab-"` plus 12 random hex digits. Must match
   * `^[A-Za-z0-9_.:@|+-]{1,128}$`.
   */
  sessionId?: string;
  /**
   * Reconnect delays: attempt `n` waits a random time between half and all of
   * `min(maxMs, initialMs * 2^n)` ("equal jitter"). The attempt count starts again at 0
   * after every successful open. Defaults: `initialMs` 500, `maxMs` 30000.
   */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * How long a transport may take to open (WebSocket: until the server's `hello`; SSE: until
   * each workspace's stream answered; poll: until the first read answered) before it counts as
   * failed to open. Default 10000.
   */
  openTimeoutMs?: number;
  /** How long one request (REST call, WebSocket op) may wait for its answer. Default 15000. */
  requestTimeoutMs?: number;
  /** `wait=` of each long poll on the `poll` transport, in seconds. Default 25. */
  pollWaitSeconds?: number;
  /**
   * On the WebSocket, a `ping` is sent this often; no answer within `requestTimeoutMs` ends
   * the connection (and it reconnects), so a link that died silently is noticed. Default
   * 25000; 0 disables.
   */
  heartbeatMs?: number;
  /**
   * With `transport: "auto"`, after this long on a fallback transport (`sse` or `poll`) the
   * client tries the better ones again (it closes the current transport and reconnects
   * starting from `websocket`; a failure falls back again). Default 300000 (5 minutes);
   * 0 disables.
   */
  upgradeAfterMs?: number;
  /**
   * Custom event types to receive over SSE besides those a `Workspace.on(type)` listens to.
   * An EventSource only hands over event types it has a listener for, so on the `sse`
   * transport an event of a custom type nobody named here or in `on(type)` is not delivered
   * (not even to `event` handlers). Huddle's own types are always received.
   */
  eventTypes?: string[];
  /** Full WebSocket URL. Default: `url` with ws:/wss: and path `/v1/ws`. */
  wsUrl?: string;
  /** Base URL of SSE streams (they are at `<sseUrl>/v1/orgs/.../sync/stream`). Default: `url`. */
  sseUrl?: string;
  /** WebSocket implementation. Default: `globalThis.WebSocket`. */
  WebSocket?: unknown;
  /** EventSource implementation. Default: `globalThis.EventSource`. */
  EventSource?: unknown;
  /** fetch implementation. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Where `online`/`offline` events come from. Default: `globalThis` when it has
   * `addEventListener` (a browser window); none otherwise. Pass `null` to ignore them.
   */
  window?: Pick<EventTarget, "addEventListener" | "removeEventListener"> | null;
}

/** A workspace event, exactly as the server sends it on every transport. */
export interface HuddleEvent<D = Record<string, any>> {
  /** The cursor `<epoch>:<seq>`; `null` for an ephemeral event (`persist: false`). */
  id: string | null;
  /** Dense within an epoch (1, 2, 3 ...); 0 for ephemeral events. */
  seq: number;
  type: string;
  org_id: string;
  workspace_id: string;
  actor: { type: string; id: string; name: string | null } | null;
  data: D;
  /** ISO-8601 UTC. */
  ts: string;
}

/** Payload of the `state` event. */
export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** `reconnecting`: the attempt number (0 first) the delay belongs to. */
  attempt?: number;
  /** `reconnecting`: milliseconds until the next attempt. */
  delayMs?: number;
  /** The WebSocket close code that ended the connection, when there was one. */
  code?: number;
  /** Why the state changed (close reason, error message ...), for logs. */
  reason?: string;
}

/** Payload of the `transport` event: the transport in use changed. */
export interface TransportChange {
  transport: TransportName;
  previous: TransportName | null;
  /** `"connect"`, `"fallback"` (the better one failed to open) or `"upgrade"`. */
  reason: "connect" | "fallback" | "upgrade";
}

/** Handlers of `Huddle.on(name, handler)`. */
export interface HuddleEvents {
  state: (change: StateChange) => void;
  transport: (change: TransportChange) => void;
  /** Every event of every subscribed workspace, once, in order per workspace. */
  event: (event: HuddleEvent, workspace: Workspace) => void;
  /** A workspace's history was gone (`sync.reset`); its roster and locks are reloaded. */
  reset: (event: HuddleEvent, workspace: Workspace) => void;
  /** Something failed that the app may want to know; `closed` state follows fatal ones. */
  error: (error: HuddleError) => void;
}

/** Handlers of `Workspace.on(name, handler)`; any other name is an event type. */
export interface WorkspaceEvents {
  /** Every event of this workspace once, in order (ephemeral ones too, when live). */
  event: (event: HuddleEvent) => void;
  /**
   * The history after this workspace's cursor was gone: the app must reload its own state.
   * The client reloads the roster and the locks it knows itself, and continues from
   * the reset's id. `sync.reset` is not also passed to `event` handlers.
   */
  reset: (event: HuddleEvent) => void;
  /** The roster changed: a presence event (passed along), or a reload (`null`). */
  presence: (event: HuddleEvent | null) => void;
  /** The known lock of an entity changed (from an event, the summary or a reload). */
  locks: (change: { entityType: string; entityId: string; lock: LockInfo | null }) => void;
  /** The workspace is subscribed on a transport (after `subscribe()` and every reconnect). */
  subscribed: (info: { cursor: string | null; transport: TransportName }) => void;
}

/** An error of the server (REST envelope or WebSocket error reply) or of the client. */
export declare class HuddleError extends Error {
  constructor(message: string, init?: { status?: number; code?: string; details?: Record<string, any> });
  readonly name: "HuddleError";
  /**
   * The HTTP status; for WebSocket error replies the status the same REST error has
   * (409 for `LOCK_HELD` ...) when known, else 0; 0 for failures of the client itself.
   */
  readonly status: number;
  /**
   * The server's code (`LOCK_HELD`, `TOKEN_EXPIRED`, `VALIDATION_ERROR` for a 422 ...) or
   * a client one: `NETWORK_ERROR` (the request got no answer), `TIMEOUT`, `ABORTED` (your
   * signal), `CONNECTION_LOST` (the WebSocket closed before the reply), `OPEN_FAILED` (a
   * transport failed to open), `CLOSED` (the client is closed), `AUTH_FAILED` (credentials
   * refused for good, or `getToken` failed), `CONNECTION_REFUSED` (close 4501-4503 with no
   * transport left to try), `UNSUBSCRIBED` (a pending `subscribe()` was cancelled),
   * `LOCK_LOST` (`refresh()` of a lock no longer held), `BAD_FRAME`, `HTTP_ERROR` (a
   * non-JSON error answer).
   */
  readonly code: string;
  /** The server's details; for a 422, `{detail: [...]}` (the validation list). */
  readonly details: Record<string, any>;
}

/** Options of `Huddle.request` and `Workspace.request`. */
export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Query parameters; `undefined`/`null` values are left out. */
  query?: Record<string, string | number | boolean | null | undefined>;
  signal?: AbortSignal;
}

export declare class Huddle {
  constructor(options: HuddleOptions);

  /** The current connection state. */
  readonly state: ConnectionState;
  /** The transport in use or being opened; `null` before `connect()` and after `close()`. */
  readonly transport: TransportName | null;
  /** This instance's presence session name, constant for its whole life. */
  readonly sessionId: string;
  /** The user of the credential (JWT `sub`, or the WebSocket `hello`); null until known. */
  readonly userId: string | null;

  /**
   * Start connecting (and keep reconnecting). Resolves when the client is first `open`;
   * rejects if it is closed before that (credentials refused, `close()`).
   */
  connect(): Promise<void>;

  /**
   * Leave the presence of every joined workspace and release every held lock (best effort,
   * bounded by `requestTimeoutMs`), then close the transport. The client is `closed` for good.
   */
  close(): Promise<void>;

  /** Listen to a client event; returns a function that removes the handler. */
  on<K extends keyof HuddleEvents>(name: K, handler: HuddleEvents[K]): () => void;

  /** The workspace object of `orgId`/`workspaceId` (the same object on every call). */
  workspace(orgId: string, workspaceId: string): Workspace;

  /**
   * A REST call with the client's credential (renewed once on 401 `TOKEN_EXPIRED`). `path`
   * starts with `/`. Resolves with the parsed JSON answer (null for an empty one); throws a
   * `HuddleError` for any non-2xx answer or failure.
   */
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<T>;
}

/** A user present in a workspace, folded over its sessions. */
export interface RosterUser {
  userId: string;
  name: string | null;
  /** Live sessions of this user (tabs, devices). */
  sessions: number;
  /** Distinct entities its sessions view. */
  viewing: Array<{ type: string; id: string }>;
}

/** A distinct user viewing an entity. */
export interface Viewer {
  userId: string;
  name: string | null;
  /** This user's sessions viewing the entity. */
  sessions: number;
}

/** A lock as known from events or the presence summary. */
export interface LockInfo {
  entityType: string;
  entityId: string;
  userId: string;
  name: string | null;
  fencingToken: number;
  /** Epoch ms; the lease ends then unless refreshed. */
  expiresAt: number;
}

/** Why a held lock was lost (`onLost`). */
export type LockLostReason =
  /** The lease ran out: a `lock.expired` event, or its expiry passed while no refresh got through. */
  | "expired"
  /** An admin force-released it. */
  | "force_released"
  /** Released by someone else: another tab of the same user, or the node after the WebSocket it was taken over dropped. */
  | "released"
  /** A refresh was refused (`LOCK_NOT_HELD`, `FORBIDDEN`, `LOCK_HELD`). */
  | "refresh_refused";

/** Options of `Workspace.lock`. */
export interface LockOptions {
  /** Lease seconds (within the node's `HUDDLE_LOCK_TTL_MIN`..`MAX`). Default 30. */
  ttl?: number;
  /** Called once when the lease is lost without `release()`; the handle is then not held. */
  onLost?: (reason: LockLostReason) => void;
  /** Refresh at about a third of `ttl` while held. Default true. */
  autoRefresh?: boolean;
}

/** A lock this client holds. */
export interface LockHandle {
  readonly entityType: string;
  readonly entityId: string;
  /** Present it with writes: `If-Match: lock:<fencingToken>`. */
  readonly fencingToken: number;
  /** Epoch ms of the lease's end as last granted. */
  readonly expiresAt: number;
  /** False once released or lost. */
  readonly held: boolean;
  /**
   * Release it (no `onLost`); `held` is false at once. Resolves when the server answered
   * (a lease already gone counts as released); idempotent. Rejects only when the node could
   * not be reached: the lease then ends by itself at `expiresAt`.
   */
  release(): Promise<void>;
  /** Extend the lease now (same ttl). A refusal rejects and loses the lock (`onLost`). */
  refresh(): Promise<LockHandle>;
}

/** Options of `Workspace.publish`. */
export interface PublishOptions {
  /** false: an ephemeral broadcast to live subscribers (id null, never replayed). Default true. */
  persist?: boolean;
  /** A repeat within the node's idempotency window answers the first event. Persisted only. */
  idempotencyKey?: string;
  /** Only these users, and the members of these groups, receive it (services always do). */
  audience?: { users?: string[]; members_of?: string[] };
}

/**
 * One workspace of one organisation, as this client sees it. Obtain with
 * `huddle.workspace(orgId, workspaceId)`. Presence and locks work whether or not it is
 * subscribed; the roster, viewers and lock states are only kept up to date while it is.
 */
export declare class Workspace {
  readonly orgId: string;
  readonly workspaceId: string;
  /** The id of the last persisted event delivered (the resume point), or null. */
  readonly cursor: string | null;
  /** True while it is subscribed on the current transport. */
  readonly subscribed: boolean;

  /**
   * Receive this workspace's events. With `since`, every event after that id is delivered
   * first (or a `reset`); without, after the cursor of an earlier subscription, else from
   * now on. Every reconnect resumes after `cursor`. Resolves once subscribed on a transport
   * (waiting for `connect()` and the connection if needed); rejects with the server's refusal
   * (`FORBIDDEN`, `RESOURCE_NOT_FOUND` ...) or `CLOSED`. A no-op when already subscribed.
   *
   * SSE and poll need a position to start "from now": the client reads the log's head over
   * REST first (`GET .../sync/events`, page by page). Ephemeral events never reach `poll`.
   */
  subscribe(options?: { since?: string }): Promise<void>;
  /** Stop receiving events (presence and locks are kept). */
  unsubscribe(): Promise<void>;

  /**
   * Listen to a workspace event or to one event type (`"deal.stage_changed"`); returns the
   * remover. Listening to a type also makes the `sse` transport receive it (see
   * `HuddleOptions.eventTypes`). The names above are never taken as event types.
   */
  on<K extends keyof WorkspaceEvents>(name: K, handler: WorkspaceEvents[K]): () => void;
  on(eventType: string, handler: (event: HuddleEvent) => void): () => void;

  /**
   * Be present in the workspace with this instance's session (`<userId>/<sessionId>` in
   * events). Remembered: announced again after every reconnect, on any transport (over
   * SSE/poll also every third of the presence TTL). The node keeps the session through a
   * short disconnect, so a reconnect shows no `presence.left`/`presence.joined`.
   */
  join(): Promise<void>;
  /** End the presence session (also stops viewing). */
  leave(): Promise<void>;
  /**
   * Say what this session views (joins if needed); `view(null)` stops viewing and stays
   * present. Resolves once the server has it (at once while not connected: it is applied on
   * the next open); rejects only with a refusal (`FORBIDDEN` ...).
   */
  view(type: string, id: string): Promise<void>;
  view(type: null): Promise<void>;

  /** Users present (from the roster read at subscribe, kept current by presence events). */
  roster(): RosterUser[];
  /** Distinct users viewing an entity. */
  viewers(type: string, id: string): Viewer[];
  /** Number of distinct users viewing an entity. */
  viewerCount(type: string, id: string): number;

  /**
   * Take the edit lock of an entity and keep it refreshed. Rejects with `HuddleError`
   * `LOCK_HELD` (409; `details.holder`, `details.expiresAt`) when another user holds it.
   * Asking again for an entity this client holds extends it and returns the same handle.
   * Held locks are refreshed at once after every reconnect.
   */
  lock(type: string, id: string, options?: LockOptions): Promise<LockHandle>;
  /** The entity's lock as known from events and `watchLocks`, or null when free/unknown. */
  lockState(type: string, id: string): LockInfo | null;
  /**
   * Seed the lock state of these entities from the presence summary (100 per request) and
   * keep them: they are read again after a `reset`. Events keep them current meanwhile.
   */
  watchLocks(entities: Array<{ type: string; id: string }>): Promise<void>;

  /**
   * Publish a custom event (types may not start with Huddle's prefixes `presence.`, `lock.`,
   * `sync.`, `collaboration.`, `object.`, `field.`, `record.`). Resolves with the event
   * (`id: null` when ephemeral).
   */
  publish<D = Record<string, any>>(type: string, data?: D, options?: PublishOptions): Promise<HuddleEvent<D>>;

  /** `Huddle.request` with `X-Workspace-Id: <workspaceId>` (seeds 000/001/002 routes). */
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<T>;
}
