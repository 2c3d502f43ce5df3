// The Huddle live demo: presence, fenced edit locks and the event log of one workspace, on the
// browser client (/client/huddle.js). Plain ES module, no build step, no external assets.
import { Huddle } from "/client/huddle.js";

// ---------------------------------------------------------------------------------------------
// Settings from the URL

const params = new URLSearchParams(location.search);
const TRANSPORTS = ["auto", "websocket", "sse", "poll"];
const transportChoice = TRANSPORTS.includes(params.get("transport")) ? params.get("transport") : "auto";
const lockTtl = (() => {
  const asked = Number(params.get("lockTtl"));
  return params.has("lockTtl") && Number.isFinite(asked) && asked > 0 ? asked : 20;
})();
const LOG_MAX = 200;
const DEFAULT_STATUSES = ["todo", "doing", "done"];

// ---------------------------------------------------------------------------------------------
// State

const S = {
  config: null, // /demo/config
  client: null,
  ws: null,
  me: { userId: null, name: null },
  object: "card",
  statuses: DEFAULT_STATUSES.slice(),
  cards: new Map(), // id -> {id, values, version}
  views: new Map(), // id -> card DOM parts
  openId: null, // the card this tab views
  editor: null, // {id, handle, token, lost}
  busy: new Set(), // card ids whose lock is being taken
  reloading: null,
  missingObject: false,
  running: false,
};

const $ = (id) => document.getElementById(id);

/** Creates an element: h("div", {class: "x", dataset: {a: 1}, onclick}, child, "text"). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(markup, cls = "icon") {
  const wrap = document.createElement("span");
  wrap.className = cls;
  wrap.setAttribute("aria-hidden", "true");
  wrap.innerHTML = `<svg viewBox="0 0 24 24">${markup}</svg>`;
  return wrap;
}
const ICON_LOCK = '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>';
const ICON_UNLOCK = '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 7.8-1.2"/>';
const ICON_BOLT = '<path d="M13 2 4 14h7l-1 8 9-12h-7z"/>';
const ICON_EDIT = '<path d="M12 20h9"/><path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4Z"/>';
const ICON_EYE = '<path d="M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12Z"/><circle cx="12" cy="12" r="3"/>';

// ---------------------------------------------------------------------------------------------
// Avatars: initials on a colour derived from the user id

const PALETTE = [
  "#e5484d", "#b7791f", "#3e63dd", "#2b9a66", "#8e4ec6", "#0797b9", "#d6409f", "#a35829",
  "#12a594", "#0d74ce", "#ab4aba", "#e54666", "#5c7c2f", "#8d7a2e", "#5d6b82", "#d05f00",
];

function colourOf(userId) {
  let hash = 0x811c9dc5; // FNV-1a, then murmur3's finaliser so similar ids spread apart
  for (const ch of String(userId)) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
  hash ^= hash >>> 16;
  return PALETTE[(hash >>> 0) % PALETTE.length];
}

function initials(name, userId) {
  const words = String(name || userId || "?").trim().replace(/^demo-/, "").split(/[\s._-]+/).filter(Boolean);
  if (words.length === 0) return "?";
  const letters = words.length === 1 ? [words[0]] : [words[0], words[words.length - 1]];
  return letters.map((w) => Array.from(w)[0].toUpperCase()).join("");
}

function displayName(name, userId) {
  return name || String(userId || "someone").replace(/^demo-/, "");
}

/** An avatar; `tagged` puts data-user-id on it (roster, viewers), `count` shows sessions > 1. */
function avatar(userId, name, { size = "", tagged = false, count = 0, you = false } = {}) {
  const el = h("span", {
    class: `avatar${size ? ` avatar-${size}` : ""}${you ? " avatar-you" : ""}`,
    title: displayName(name, userId),
  });
  if (tagged) el.dataset.userId = userId;
  el.style.setProperty("--avatar-bg", colourOf(userId));
  el.append(h("span", { class: "avatar-initials" }, initials(name, userId)));
  if (count > 1) {
    el.append(h("span", { class: "avatar-count", title: `${count} sessions` }, count));
  }
  return el;
}

// ---------------------------------------------------------------------------------------------
// Toasts

function toast(message, kind = "info", ms = 4500) {
  const el = h("div", { class: `toast toast-${kind}`, "data-testid": "toast", role: kind === "error" ? "alert" : "status" }, message);
  $("toasts").append(el);
  requestAnimationFrame(() => el.classList.add("toast-in"));
  setTimeout(() => {
    el.classList.remove("toast-in");
    setTimeout(() => el.remove(), 250);
  }, ms);
}

function errorText(err) {
  if (!err) return "unknown error";
  const code = err.code || err.name || "ERROR";
  let message = err.message || String(err);
  const detail = err.details && Array.isArray(err.details.detail) ? err.details.detail : null;
  if (detail && detail.length) {
    message = detail.map((d) => `${(d.loc || []).slice(-1)[0] ?? ""}: ${d.msg}`).join("; ");
  }
  return `${code} — ${message}`;
}

// ---------------------------------------------------------------------------------------------
// Boot: config, then a name (or a token), then connect

async function boot() {
  try {
    const answer = await fetch("/demo/config", { headers: { Accept: "application/json" } });
    if (!answer.ok) throw new Error(`GET /demo/config answered ${answer.status}`);
    S.config = await answer.json();
  } catch (err) {
    bootFailed(`Could not read the demo configuration (${err.message}).`);
    return;
  }
  S.object = S.config.object || "card";
  const ws = $("ws-label");
  ws.textContent = `${S.config.org_id} / ${S.config.workspace_id}`;
  ws.hidden = false;

  const name = (params.get("name") || "").trim();
  if (S.config.mints_tokens && name) {
    start({ name }).catch((err) => showJoin(errorText(err)));
  } else {
    showJoin();
  }
}

function bootFailed(text) {
  $("boot").hidden = false;
  $("boot").classList.add("boot-failed");
  $("boot-text").textContent = text;
}

function showJoin(error = "") {
  $("boot").hidden = true;
  $("app").hidden = true;
  $("join-screen").hidden = false;
  const mints = S.config.mints_tokens;
  $("name-field").hidden = !mints;
  $("token-field").hidden = mints;
  if (!mints) {
    $("join-lead").textContent =
      "This node does not mint demo tokens (it runs with a configured secret or a shared backend). " +
      `Paste a token of a user of ${S.config.org_id} / ${S.config.workspace_id} to join.`;
    $("join-form").querySelector(".join-foot").hidden = true;
  }
  const input = mints ? $("join-form").elements.name : $("join-form").elements.token;
  if (!input.value && params.get("name")) input.value = params.get("name");
  const box = $("join-error");
  box.textContent = error;
  box.hidden = !error;
  input.focus();
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  const button = form.querySelector("[data-testid=join]");
  let how;
  if (S.config.mints_tokens) {
    const name = form.elements.name.value.trim();
    if (!name) return showJoin("Type a name first.");
    how = { name };
  } else {
    const token = form.elements.token.value.trim();
    if (!token) return showJoin("Paste a token first.");
    how = { token };
  }
  button.disabled = true;
  start(how)
    .then(() => {
      if (how.name) {
        const url = new URL(location.href);
        url.searchParams.set("name", how.name);
        history.replaceState(null, "", url);
      }
    })
    .catch((err) => showJoin(errorText(err)))
    .finally(() => {
      button.disabled = false;
    });
});

async function mintToken(name) {
  const answer = await fetch("/demo/token", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ name }),
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const err = new Error(body.message || (body.detail && body.detail[0] && body.detail[0].msg) || `HTTP ${answer.status}`);
    err.code = body.error || (answer.status === 422 ? "VALIDATION_ERROR" : "HTTP_ERROR");
    throw err;
  }
  return body;
}

function jwtClaims(token) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    return JSON.parse(decodeURIComponent(escape(json)));
  } catch {
    return {};
  }
}

async function start(how) {
  let getToken;
  if (how.name) {
    const first = await mintToken(how.name);
    S.me = { userId: first.user_id, name: first.name };
    let unused = first.token;
    getToken = async () => {
      if (unused) {
        const token = unused;
        unused = null;
        return token;
      }
      return (await mintToken(how.name)).token;
    };
  } else {
    const claims = jwtClaims(how.token);
    S.me = { userId: claims.sub || null, name: claims.name || null };
    getToken = () => how.token;
  }

  const client = new Huddle({ url: location.origin, getToken, transport: transportChoice });
  const ws = client.workspace(S.config.org_id, S.config.workspace_id);
  S.client = client;
  S.ws = ws;

  const current = () => S.client === client;
  client.on("state", (change) => current() && showState(change.state, change));
  client.on("transport", (change) => current() && showTransport(change.transport));
  client.on("error", (err) => {
    // before the app runs, a refusal is shown on the join form instead
    if (current() && S.running && err && (err.code === "AUTH_FAILED" || client.state === "closed")) {
      toast(`Connection error: ${errorText(err)}`, "error", 8000);
    }
  });
  ws.on("event", onEvent);
  ws.on("reset", onReset);
  ws.on("presence", () => {
    renderRoster();
    renderAllViewers();
  });
  ws.on("locks", (change) => {
    if (change.entityType === S.object) renderLock(String(change.entityId));
  });

  showState(client.state);
  $("boot-text").textContent = "Connecting…";
  $("join-screen").hidden = true;
  $("boot").hidden = false;

  try {
    await client.connect();
    if (client.userId) S.me.userId = client.userId;
    showMe();
    showTransport(client.transport);
    await ws.subscribe();
    await loadCards();
    await ws.join();
  } catch (err) {
    S.client = null;
    S.ws = null;
    client.close().catch(() => {});
    showState("idle");
    showTransport(null);
    $("me-chip").hidden = true;
    throw err;
  }

  $("boot").hidden = true;
  $("app").hidden = false;
  renderRoster();
  renderTips();
  S.running = true;
  window.huddleDemo = { client, workspace: ws, lockTtl, get cards() { return S.cards; } };
  setInterval(tick, 1000);
}

// ---------------------------------------------------------------------------------------------
// Header: who I am, connection state and transport

function showMe() {
  $("me-chip").hidden = false;
  $("me-chip").querySelector("[data-testid=me]").textContent = displayName(S.me.name, S.me.userId);
  const slot = $("me-avatar");
  slot.replaceWith(Object.assign(avatar(S.me.userId, S.me.name, { size: "sm" }), { id: "me-avatar" }));
}

function showState(state, change) {
  $("conn").dataset.conn = state;
  document.querySelector("[data-testid=state]").textContent = state;
  let title = `Connection: ${state}`;
  if (change && state === "reconnecting" && change.delayMs != null) title += ` (next attempt in ${Math.round(change.delayMs / 100) / 10} s)`;
  if (change && change.reason) title += ` — ${change.reason}`;
  $("conn").title = title;
  if (S.client) showTransport(S.client.transport);
  const degraded = state !== "open" && state !== "idle" && state !== "connecting";
  document.body.classList.toggle("is-degraded", degraded);
  const live = document.querySelector(".live-dot");
  if (live) {
    live.textContent = state === "open" ? "live" : state === "closed" ? "stopped" : "paused";
    live.title = state === "open" ? "Live" : "Events resume, in order, once the connection is back";
  }
}

function showTransport(name) {
  document.querySelector("[data-testid=transport]").textContent = name || "none";
}

// ---------------------------------------------------------------------------------------------
// Cards

const recordsPath = () => `/v1/custom-objects/${encodeURIComponent(S.object)}/records`;

async function loadCards() {
  if (S.reloading) return S.reloading;
  S.reloading = (async () => {
    try {
      // the object's definition first: a workspace without it (a node that mints no demo
      // tokens) shows how to make it rather than a 404
      const definition = await findObject(S.object);
      if (!definition) {
        for (const id of [...S.cards.keys()]) removeCard(id);
        S.missingObject = true;
        renderCards();
        return;
      }
      const list = await S.ws.request("GET", recordsPath(), { query: { limit: 100 } });
      const status = definition && (definition.fields || []).find((f) => f.apiName === "status");
      if (status && status.options && status.options.length) S.statuses = status.options.slice();
      const seen = new Set();
      for (const record of list.data || []) {
        S.missingObject = false;
        const id = String(record.id);
        seen.add(id);
        // replace: this read is the truth now (a reset means events may have been missed)
        const known = S.cards.get(id);
        if (!known || Number(record.version) >= Number(known.version)) {
          S.cards.set(id, { id, values: { ...record.values }, version: record.version });
        }
      }
      for (const id of [...S.cards.keys()]) if (!seen.has(id)) removeCard(id);
      renderCards();
      await S.ws.watchLocks([...S.cards.keys()].map((id) => ({ type: S.object, id })));
      for (const id of S.cards.keys()) renderLock(id);
    } catch (err) {
      if (err && err.status === 404) {
        // the object is not defined in this workspace (a node that mints no demo tokens)
        for (const id of [...S.cards.keys()]) removeCard(id);
        S.missingObject = true;
        renderCards();
      } else {
        toast(`Could not load the cards: ${errorText(err)}`, "error");
      }
    } finally {
      S.reloading = null;
    }
  })();
  return S.reloading;
}

async function findObject(apiName) {
  for (let page = 1; page <= 10; page++) {
    const answer = await S.ws.request("GET", "/v1/custom-objects", { query: { page, limit: 100 } });
    const found = (answer.data || []).find((o) => o.apiName === apiName);
    if (found) return found;
    if (!answer.meta || page >= answer.meta.totalPages) break;
  }
  return null;
}

function sortedIds() {
  return [...S.cards.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
}

function renderCards() {
  const grid = $("cards");
  for (const id of sortedIds()) {
    if (!S.views.has(id)) S.views.set(id, buildCard(id));
    renderCard(id);
    grid.append(S.views.get(id).root); // keeps (or puts) it in id order
  }
  const n = S.cards.size;
  $("cards-count").textContent = `${n} ${n === 1 ? "card" : "cards"}`;
  grid.querySelector(".cards-empty")?.remove();
  if (n === 0) {
    grid.append(S.missingObject
      ? h("div", { class: "cards-empty" },
        h("strong", {}, `No “${S.object}” object in this workspace yet.`),
        " A memory:// node creates it with its first demo token; elsewhere an admin defines it (",
        h("code", {}, "POST /v1/custom-objects"),
        ` with apiName “${S.object}” and fields title, body, status), and its records appear here live.`)
      : h("p", { class: "cards-empty" }, "No cards yet."));
  }
}

function buildCard(id) {
  const v = {};
  v.status = h("span", { class: "status" });
  v.ref = h("span", { class: "card-ref" }, `#${id}`);
  v.title = h("h3", { class: "card-title", title: "Open this card", onclick: () => openCard(id) });
  v.body = h("p", { class: "card-body" });
  v.badgeSlot = h("div", { class: "lock-row" });
  v.viewers = h("div", { class: "viewers", "data-testid": "viewers" });
  v.open = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "open", onclick: () => openCard(id) },
    svg(ICON_EYE), h("span", { class: "btn-text" }, "Open"));
  v.edit = h("button", { type: "button", class: "btn btn-primary btn-sm", "data-testid": "edit", onclick: () => editCard(id) },
    svg(ICON_EDIT), h("span", {}, "Edit"));
  v.root = h("article", { class: "card", "data-testid": "card", "data-card-id": id },
    h("div", { class: "card-top" }, v.status, v.ref),
    v.title,
    v.body,
    v.badgeSlot,
    h("div", { class: "card-foot" }, v.viewers, h("div", { class: "card-actions" }, v.open, v.edit)));
  return v;
}

function setStatus(el, status) {
  el.textContent = status || "—";
  el.dataset.status = status || "";
}

function renderCard(id) {
  const card = S.cards.get(id);
  const v = S.views.get(id);
  if (!card || !v) return;
  const title = card.values.title || "(untitled)";
  v.title.textContent = title;
  setStatus(v.status, card.values.status);
  const body = card.values.body || "";
  v.body.textContent = body.length > 140 ? `${body.slice(0, 139)}…` : body;
  v.body.classList.toggle("card-body-empty", !body);
  if (!body) v.body.textContent = "No notes";
  renderViewers(id);
  renderLock(id);
  if (S.openId === id) renderDetail();
}

function removeCard(id) {
  S.cards.delete(id);
  const v = S.views.get(id);
  if (v) v.root.remove();
  S.views.delete(id);
  if (S.openId === id) closeCard();
  if (S.editor && S.editor.id === id) {
    closeEditor();
    toast(`Card ${id} was deleted`, "warn");
  }
}

function renderViewers(id) {
  const v = S.views.get(id);
  if (!v || !S.ws) return;
  const viewers = S.ws.viewers(S.object, id);
  v.viewers.replaceChildren(
    ...viewers.map((u) => avatar(u.userId, u.name, { size: "sm", tagged: true, count: u.sessions, you: u.userId === S.me.userId })),
  );
  v.viewers.title = viewers.length
    ? `Viewing: ${joinNames(viewers.map((u) => displayName(u.name, u.userId)))}`
    : "Nobody is viewing this card";
  v.root.classList.toggle("has-viewers", viewers.length > 0);
}

function renderAllViewers() {
  for (const id of S.views.keys()) renderViewers(id);
  if (S.openId) renderDetail();
}

function secondsLeft(lock) {
  return Math.max(0, Math.ceil((Number(lock.expiresAt) - Date.now()) / 1000));
}

function badgeText(lock) {
  return `${displayName(lock.name, lock.userId)} is editing · ${secondsLeft(lock)} s`;
}

function renderLock(id) {
  const v = S.views.get(id);
  if (!v || !S.ws) return;
  const lock = S.ws.lockState(S.object, id);
  const mine = !!lock && lock.userId === S.me.userId;
  const theirs = !!lock && !mine;
  let badge = v.badgeSlot.querySelector("[data-testid=lock-badge]");
  if (lock) {
    if (!badge) {
      badge = h("span", { class: "lock-badge", "data-testid": "lock-badge" }, svg(ICON_LOCK), h("span", { class: "lock-text" }));
      v.badgeSlot.replaceChildren(badge);
    }
    badge.dataset.holder = lock.userId;
    badge.classList.toggle("lock-badge-mine", mine);
    badge.title = mine
      ? `You hold this card's edit lock (fencing token ${lock.fencingToken})`
      : `${displayName(lock.name, lock.userId)} holds this card's edit lock (fencing token ${lock.fencingToken})`;
    badge.querySelector(".lock-text").textContent = badgeText(lock);
  } else if (badge || !v.badgeSlot.firstChild) {
    v.badgeSlot.replaceChildren(h("span", { class: "lock-free", title: "Nobody holds this card's edit lock" }, svg(ICON_UNLOCK), "Free to edit"));
  }
  v.edit.disabled = theirs || S.busy.has(id);
  v.edit.title = theirs ? `Locked by ${displayName(lock.name, lock.userId)}` : "Take the edit lock and edit";
  v.root.classList.toggle("is-locked", theirs);
  v.root.classList.toggle("is-mine", mine);
  v.root.classList.toggle("is-editing", !!S.editor && S.editor.id === id);
  if (S.openId === id) renderDetail();
}

function tick() {
  for (const id of S.views.keys()) {
    const lock = S.ws.lockState(S.object, id);
    const text = S.views.get(id).badgeSlot.querySelector("[data-testid=lock-badge] .lock-text");
    if (lock && text) text.textContent = badgeText(lock);
    else if (!!lock !== !!text) renderLock(id);
  }
  if (S.openId) renderDetailLock();
  if (S.editor) renderEditorLock();
}

function applyRecord(data, { created = false } = {}) {
  if (!data || data.object !== S.object) return;
  const id = String(data.id);
  const known = S.cards.get(id);
  if (known && data.version != null && Number(data.version) < Number(known.version)) return;
  if (data.truncated) {
    // the event carries only what changed: read the whole record
    S.ws.request("GET", `${recordsPath()}/${encodeURIComponent(id)}`)
      .then((record) => applyRecord({ ...record, id: record.id, object: record.object }))
      .catch(() => {});
    return;
  }
  S.cards.set(id, { id, values: { ...(known ? known.values : {}), ...(data.values || {}) }, version: data.version ?? (known ? known.version : 0) });
  if (!S.views.has(id)) {
    renderCards();
    S.ws.watchLocks([{ type: S.object, id }]).then(() => renderLock(id)).catch(() => {});
  } else {
    renderCard(id);
  }
  const v = S.views.get(id);
  if (v && !created) flash(v.root);
}

function flash(el) {
  el.classList.remove("flash");
  void el.offsetWidth; // restart the animation
  el.classList.add("flash");
}

// ---------------------------------------------------------------------------------------------
// Opening a card (presence view) and the detail panel

async function openCard(id) {
  if (!S.cards.has(id)) return;
  const before = S.openId;
  S.openId = id;
  for (const [cid, v] of S.views) {
    v.root.classList.toggle("is-open", cid === id);
    v.open.setAttribute("aria-pressed", String(cid === id));
    v.open.querySelector(".btn-text").textContent = cid === id ? "Viewing" : "Open";
  }
  renderDetail();
  if (before === id) return;
  try {
    await S.ws.view(S.object, id);
  } catch (err) {
    toast(`Could not announce the view: ${errorText(err)}`, "error");
  }
}

async function closeCard() {
  if (S.openId === null) return;
  S.openId = null;
  for (const v of S.views.values()) {
    v.root.classList.remove("is-open");
    v.open.setAttribute("aria-pressed", "false");
    v.open.querySelector(".btn-text").textContent = "Open";
  }
  renderDetail();
  try {
    await S.ws.view(null);
  } catch (err) {
    toast(`Could not announce it: ${errorText(err)}`, "error");
  }
}

$("detail-close").addEventListener("click", () => {
  if (S.editor) cancelEditor();
  closeCard();
});

function renderDetail() {
  const id = S.openId;
  const card = id ? S.cards.get(id) : null;
  const editing = !!S.editor && S.editor.id === id;
  $("detail").hidden = editing;
  $("tips").hidden = !!S.editor;
  $("detail-empty").hidden = !!card;
  $("detail-body").hidden = !card;
  if (!card) return;
  $("detail-ref").textContent = `${S.object} ${id}`;
  setStatus($("detail-status"), card.values.status);
  $("detail-title").textContent = card.values.title || "(untitled)";
  $("detail-text").textContent = card.values.body || "No notes.";
  $("detail-text").classList.toggle("muted", !card.values.body);
  const viewers = S.ws.viewers(S.object, id);
  const names = viewers.map((u) => (u.userId === S.me.userId ? "you" : displayName(u.name, u.userId)));
  $("detail-viewers").replaceChildren(
    h("div", { class: "avatar-stack" }, viewers.map((u) => avatar(u.userId, u.name, { size: "sm", count: u.sessions }))),
    h("span", { class: "muted" }, viewers.length ? `Viewing now: ${joinNames(names)}` : "Nobody else is here"),
  );
  renderDetailLock();
}

function renderDetailLock() {
  const id = S.openId;
  const slot = $("detail-lock");
  if (!id) return;
  const lock = S.ws.lockState(S.object, id);
  if (!lock) {
    slot.replaceChildren(h("span", { class: "lock-chip lock-chip-free" }, svg(ICON_UNLOCK), "Free to edit"));
  } else {
    const who = lock.userId === S.me.userId ? "You hold" : `${displayName(lock.name, lock.userId)} holds`;
    slot.replaceChildren(h("span", { class: `lock-chip${lock.userId === S.me.userId ? " lock-chip-mine" : ""}` }, svg(ICON_LOCK),
      `${who} the lock · fencing token ${lock.fencingToken} · ${secondsLeft(lock)} s left`));
  }
}

function joinNames(names) {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

// ---------------------------------------------------------------------------------------------
// Editing under the lock

const editorForm = $("editor");

async function editCard(id) {
  if (!S.cards.has(id) || S.busy.has(id)) return;
  if (S.editor && S.editor.id === id && S.editor.handle && S.editor.handle.held) {
    editorForm.elements.title.focus();
    return;
  }
  if (S.editor && S.editor.id !== id) cancelEditor();
  S.busy.add(id);
  renderLock(id);
  let handle;
  try {
    handle = await S.ws.lock(S.object, id, {
      ttl: lockTtl,
      onLost: (reason) => onLockLost(id, handle, reason),
    });
  } catch (err) {
    if (err && err.code === "LOCK_HELD") {
      const holder = (err.details && err.details.holder) || {};
      toast(`Locked by ${displayName(holder.name, holder.userId)}`, "warn");
    } else {
      toast(`Could not take the lock: ${errorText(err)}`, "error");
    }
    return;
  } finally {
    S.busy.delete(id);
    renderLock(id);
  }
  const reopening = S.editor && S.editor.id === id; // the editor stayed open after a lost lock
  S.editor = { id, handle, token: handle.fencingToken, lost: false };
  if (!reopening) fillEditor(id);
  editorForm.hidden = false;
  editorForm.dataset.cardId = id;
  editorForm.classList.remove("is-lost");
  setEditorStatus(`Editing with fencing token ${handle.fencingToken}`, "info");
  $("editor-ref").textContent = `${S.object} ${id}`;
  renderEditorLock();
  renderLock(id);
  await openCard(id);
  renderDetail();
  if (!reopening) editorForm.elements.title.focus();
}

function fillEditor(id) {
  const values = S.cards.get(id).values;
  const select = editorForm.elements.status;
  const options = S.statuses.slice();
  if (values.status && !options.includes(values.status)) options.push(values.status);
  select.replaceChildren(...options.map((o) => h("option", { value: o }, o)));
  editorForm.elements.title.value = values.title ?? "";
  editorForm.elements.body.value = values.body ?? "";
  select.value = values.status ?? options[0];
}

function onLockLost(id, handle, reason) {
  if (!S.editor || S.editor.id !== id || (handle && S.editor.handle !== handle)) return;
  S.editor.lost = true;
  editorForm.classList.add("is-lost");
  setEditorStatus(`Your lock was lost (${reason})`, "warn");
  renderEditorLock();
  renderLock(id);
}

function setEditorStatus(text, kind) {
  const el = $("editor-status");
  el.textContent = text;
  el.dataset.kind = kind;
}

function renderEditorLock() {
  const chip = $("editor-lock");
  const ed = S.editor;
  if (!ed) return;
  const held = ed.handle && ed.handle.held && !ed.lost;
  chip.className = `lock-chip${held ? " lock-chip-mine" : " lock-chip-lost"}`;
  const left = held ? ` · ${Math.max(0, Math.ceil((ed.handle.expiresAt - Date.now()) / 1000))} s` : "";
  chip.replaceChildren(svg(ICON_LOCK), held ? `Fencing token ${ed.token}${left}` : `Lock lost · token ${ed.token}`);
}

editorForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const ed = S.editor;
  if (!ed) return;
  const save = $("editor-save");
  const values = {
    title: editorForm.elements.title.value,
    body: editorForm.elements.body.value === "" ? null : editorForm.elements.body.value,
    status: editorForm.elements.status.value,
  };
  save.disabled = true;
  setEditorStatus("Saving…", "info");
  let record;
  try {
    record = await S.ws.request("PATCH", `${recordsPath()}/${encodeURIComponent(ed.id)}`, {
      body: { values },
      headers: { "If-Match": `lock:${ed.token}` },
    });
  } catch (err) {
    if (S.editor === ed) setEditorStatus(`Refused: ${errorText(err)}`, "error");
    return;
  } finally {
    save.disabled = false;
  }
  if (record && record.values) applyRecord({ ...record, id: record.id, object: record.object || S.object }, { created: true });
  if (S.editor !== ed) return;
  setEditorStatus("Saved", "ok");
  closeEditor();
  toast(`Saved ${S.object} ${ed.id}`, "ok", 2500);
  try {
    await ed.handle.release();
  } catch (err) {
    toast(`Could not release the lock: ${errorText(err)}`, "error");
  }
});

function cancelEditor() {
  const ed = S.editor;
  if (!ed) return;
  closeEditor();
  if (ed.handle && ed.handle.held) {
    ed.handle.release().catch((err) => toast(`Could not release the lock: ${errorText(err)}`, "error"));
  }
}

function closeEditor() {
  const ed = S.editor;
  S.editor = null;
  editorForm.hidden = true;
  editorForm.classList.remove("is-lost");
  if (ed) renderLock(ed.id);
  renderDetail();
}

$("editor-cancel").addEventListener("click", cancelEditor);
editorForm.addEventListener("keydown", (e) => {
  if (e.key === "Escape") cancelEditor();
});

// ---------------------------------------------------------------------------------------------
// Things to try

const OTHER_NAMES = ["Ben", "Ana", "Cleo", "Dan", "Eve"];

function renderTips() {
  const tips = $("tips");
  const mine = displayName(S.me.name, S.me.userId).toLowerCase();
  const other = OTHER_NAMES.find((n) => n.toLowerCase() !== mine) || "Ben";
  const items = [];
  if (S.config.mints_tokens) {
    const url = new URL(location.href);
    url.searchParams.set("name", other);
    items.push(h("li", {}, h("a", { href: url.pathname + url.search, target: "_blank", rel: "noopener" }, `Open a second window as ${other}`),
      " and put it beside this one"));
  }
  items.push(h("li", {}, h("strong", {}, "Open"), " a card: your avatar appears on it in every window"));
  items.push(h("li", { title: "Set the lease with ?lockTtl=<seconds>" }, h("strong", {}, "Edit"), ` takes the card's lock for ${lockTtl} s, renewed while you edit`));
  const transports = TRANSPORTS.map((t) => {
    const url = new URL(location.href);
    if (t === "auto") url.searchParams.delete("transport");
    else url.searchParams.set("transport", t);
    return t === transportChoice
      ? h("strong", { "aria-current": "true" }, t)
      : h("a", { href: url.pathname + url.search }, t);
  });
  items.push(h("li", {}, "Transport: ", transports.flatMap((el, i) => (i ? [" · ", el] : [el]))));
  tips.replaceChildren(h("h2", {}, "Try it"), h("ul", {}, items));
}

// ---------------------------------------------------------------------------------------------
// Roster

function renderRoster() {
  if (!S.ws) return;
  const users = S.ws.roster().slice().sort((a, b) => {
    if (a.userId === S.me.userId) return -1;
    if (b.userId === S.me.userId) return 1;
    return displayName(a.name, a.userId).localeCompare(displayName(b.name, b.userId));
  });
  $("roster-count").textContent = String(users.length);
  $("roster").replaceChildren(
    ...users.map((u) => {
      const you = u.userId === S.me.userId;
      const viewing = (u.viewing || []).map((x) => (x.type === S.object ? `${S.object} ${x.id}` : `${x.type} ${x.id}`));
      const sub = [];
      sub.push(viewing.length ? `viewing ${viewing.join(", ")}` : "looking around");
      if (u.sessions > 1) sub.push(`${u.sessions} tabs`);
      return h("li", { class: `roster-row${you ? " roster-you" : ""}` },
        avatar(u.userId, u.name, { tagged: true, count: u.sessions, you }),
        h("div", { class: "roster-text" },
          h("div", { class: "roster-name" }, displayName(u.name, u.userId), you ? h("span", { class: "you-tag" }, "you") : null),
          h("div", { class: "roster-sub" }, sub.join(" · "))));
    }),
  );
  if (users.length === 0) $("roster").append(h("li", { class: "roster-empty" }, "Nobody here yet."));
}

// ---------------------------------------------------------------------------------------------
// Events

function onEvent(event) {
  logEvent(event);
  const type = event.type;
  if (type === "record.created" || type === "record.updated") {
    applyRecord(event.data, { created: type === "record.created" });
  } else if (type === "record.deleted") {
    if (event.data && event.data.object === S.object) removeCard(String(event.data.id));
  } else if (type === "object.deleted" || type === "object.created" || type === "field.created" || type === "field.updated" || type === "field.deleted") {
    const data = event.data || {};
    if (data.api_name === S.object) loadCards();
  }
}

function onReset(event) {
  logEvent(event);
  toast("The event history was reset: reloading the cards", "warn");
  loadCards().then(() => {
    renderRoster();
    renderAllViewers();
  });
}

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

function entityText(type, id) {
  return `${type || "entity"} ${id}`;
}

function summarize(event) {
  const d = event.data || {};
  const actor = displayName(event.actor && event.actor.name, event.actor && event.actor.id);
  const who = d.name || d.user_id ? displayName(d.name, d.user_id) : actor;
  switch (event.type) {
    case "presence.joined": return `${who} joined`;
    case "presence.left": return d.reason === "timeout" ? `${who} left (timed out)` : `${who} left`;
    case "presence.viewing":
      return d.resource_id == null ? `${who} closed ${d.previous && d.previous.resource_id != null ? entityText(d.previous.resource_type, d.previous.resource_id) : "the card"}`
        : `${who} views ${entityText(d.resource_type, d.resource_id)}`;
    case "lock.acquired": return `${who} locked ${entityText(d.entity_type, d.entity_id)}`;
    case "lock.refreshed": return `${who} extended the lock on ${entityText(d.entity_type, d.entity_id)}`;
    case "lock.released": return `${who} released ${entityText(d.entity_type, d.entity_id)}`;
    case "lock.expired": return `lock expired on ${entityText(d.entity_type, d.entity_id)}`;
    case "lock.force_released": return `lock on ${entityText(d.entity_type, d.entity_id)} force-released`;
    case "record.created": return `${entityText(d.object, d.id)} created`;
    case "record.updated": return `${entityText(d.object, d.id)} updated: ${(d.changed || []).join(", ") || "no change"}`;
    case "record.deleted": return `${entityText(d.object, d.id)} deleted`;
    case "object.created": case "object.updated": case "object.deleted":
      return `object ${d.api_name} ${event.type.split(".")[1]}`;
    case "field.created": case "field.updated": case "field.deleted":
      return `field ${d.field && d.field.api_name} of ${d.api_name} ${event.type.split(".")[1]}`;
    case "collaboration.created": return `collaborator added on ${d.resource_type} ${d.resource_id}`;
    case "collaboration.deleted": return `collaborator removed from ${d.resource_type} ${d.resource_id}`;
    case "sync.reset": return `history reset (${String(d.reason || "unknown").replace(/_/g, " ")}): reloaded`;
    default: return event.type;
  }
}

function eventActor(event) {
  const d = event.data || {};
  // presence changes are about the user in the data (a timeout's actor is the system)
  if (event.type.startsWith("presence.") && d.user_id) return { type: "user", id: d.user_id, name: d.name };
  return event.actor;
}

function logEvent(event) {
  const log = $("log");
  const actor = eventActor(event);
  const person = actor && actor.type !== "system" && actor.id;
  const actorName = actor ? displayName(actor.name, actor.id) : "Huddle";
  const when = event.ts ? new Date(event.ts) : new Date();
  const kind = event.type.split(".")[0];
  const li = h("li", { class: `log-item log-${kind} log-${event.type.replace(/\./g, "-")}`, "data-event-type": event.type, "data-event-id": event.id ?? "" },
    person ? avatar(actor.id, actor.name, { size: "xs" }) : h("span", { class: "avatar avatar-xs avatar-system", title: actorName }, svg(ICON_BOLT)),
    h("div", { class: "log-main" },
      h("div", { class: "log-summary", title: summarize(event) }, summarize(event)),
      h("div", { class: "log-meta" },
        h("time", { datetime: when.toISOString() }, TIME.format(when)),
        h("span", { class: "log-actor" }, actorName),
        h("code", { class: "log-type" }, event.type))));
  log.prepend(li);
  while (log.children.length > LOG_MAX) log.lastElementChild.remove();
  $("log-empty").hidden = true;
}

// ---------------------------------------------------------------------------------------------

window.addEventListener("pagehide", (e) => {
  // leave presence and release locks at once rather than by timeout
  if (S.client && !e.persisted) S.client.close().catch(() => {});
});
window.addEventListener("pageshow", (e) => {
  if (e.persisted && S.client && S.client.state === "closed") location.reload();
});

boot();
