/**
 * A WHATWG EventSource for Node (which has none), on fetch streaming, behaving as browsers do
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 *
 * - a 200 `text/event-stream` answer opens it (`open`); any other status or content type
 *   fails it for good: readyState CLOSED, one `error`, no retry;
 * - a network error, or the end of a 200 stream, makes it reconnect (readyState CONNECTING,
 *   an `error` event) after the reconnection time, which `retry:` sets (default 3000 ms),
 *   sending `Last-Event-ID` when it has one;
 * - `id:` sets the last event id (an id holding NUL is ignored), also in a block without data,
 *   which dispatches nothing; `event:` names the event type (default `message`).
 *
 * `lastEventId` on the object itself is not in the standard (browsers only put it on each
 * MessageEvent); it is here so that tests can see what a reconnect will send.
 */

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

export class EventSource extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSED = CLOSED;

  url;
  withCredentials = false;
  readyState = CONNECTING;
  lastEventId = "";
  reconnectionTime = 3000;
  onopen = null;
  onmessage = null;
  onerror = null;
  #controller = null;
  #timer = null;
  #fetch;

  constructor(url, { fetch: fetchImpl = globalThis.fetch } = {}) {
    super();
    this.url = String(url);
    this.#fetch = fetchImpl;
    queueMicrotask(() => this.#connect());
  }

  close() {
    this.readyState = CLOSED;
    clearTimeout(this.#timer);
    this.#controller?.abort();
  }

  async #connect() {
    if (this.readyState === CLOSED) return;
    const controller = new AbortController();
    this.#controller = controller;
    const headers = { Accept: "text/event-stream", "Cache-Control": "no-store" };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    let response;
    try {
      response = await this.#fetch(this.url, { headers, signal: controller.signal, cache: "no-store" });
    } catch {
      this.#reconnect();
      return;
    }
    if (this.readyState === CLOSED) {
      controller.abort();
      return;
    }
    const type = response.headers.get("content-type") ?? "";
    if (response.status !== 200 || !type.split(";")[0].trim().toLowerCase().startsWith("text/event-stream")) {
      controller.abort();
      this.#fail();
      return;
    }
    this.readyState = OPEN;
    this.#fire(new Event("open"));
    try {
      await this.#read(response.body);
    } catch {
      // a broken body is the end of the stream
    }
    this.#reconnect();
  }

  /** "Reestablish the connection": error event, then a new request after the delay. */
  #reconnect() {
    if (this.readyState === CLOSED) return;
    this.readyState = CONNECTING;
    this.#fire(new Event("error"));
    if (this.readyState === CLOSED) return; // an error handler closed it
    this.#timer = setTimeout(() => this.#connect(), this.reconnectionTime);
  }

  /** "Fail the connection": closed for good. */
  #fail() {
    this.readyState = CLOSED;
    this.#fire(new Event("error"));
  }

  async #read(body) {
    const decoder = new TextDecoder();
    const block = { data: [], type: "", hasData: false };
    let buffer = "";
    let first = true;
    for await (const chunk of body) {
      if (this.readyState === CLOSED) return;
      buffer += decoder.decode(chunk, { stream: true });
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        first = false;
      }
      let match;
      // A lone CR at the end may be the first half of CR LF: wait for more.
      while ((match = /\r\n|\n|\r(?!$)/.exec(buffer)) !== null) {
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        this.#line(line, block);
        if (this.readyState === CLOSED) return;
      }
    }
  }

  #line(line, block) {
    if (line === "") {
      this.#dispatch(block);
      return;
    }
    if (line.startsWith(":")) return; // a comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      block.data.push(value);
      block.hasData = true;
    } else if (field === "event") {
      block.type = value;
    } else if (field === "id") {
      if (!value.includes("\0")) block.id = value;
    } else if (field === "retry") {
      if (/^[0-9]+$/.test(value)) this.reconnectionTime = Number(value);
    }
  }

  #dispatch(block) {
    if (block.id !== undefined) this.lastEventId = block.id; // the buffer is kept across blocks
    const type = block.type || "message";
    const data = block.data.join("\n");
    const hasData = block.hasData;
    block.data = [];
    block.type = "";
    block.hasData = false;
    if (!hasData) return; // an id-only block (or an empty one) dispatches nothing
    this.#fire(new MessageEvent(type, { data, lastEventId: this.lastEventId, origin: new URL(this.url).origin }));
  }

  #fire(event) {
    const handler = { open: this.onopen, message: this.onmessage, error: this.onerror }[event.type];
    if (typeof handler === "function") handler.call(this, event);
    this.dispatchEvent(event);
  }
}
