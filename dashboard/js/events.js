// The live event stream, GET /api/v1/events (Server-Sent Events), read
// with fetch() and a streaming reader: EventSource cannot send the
// Authorization header. Reconnects with exponential backoff and jitter.

import { authHeaders, reportUnauthorized } from "./api.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// The engine writes a keep-alive comment every 15 s; silence for longer
// than this means the connection is dead even if TCP has not noticed.
const SILENCE_MS = 45000;

/**
 * Start reading. `onEvent({event, data})` for each event; `onState(state,
 * retryInMs)` with "connecting", "live" or "retrying"; `onOpen()` after
 * every (re)connection, when events may have been missed.
 * Returns { close() }.
 */
export function connect({ onEvent, onState = () => {}, onOpen = () => {} }) {
  const stop = new AbortController();
  run(stop.signal, { onEvent, onState, onOpen });
  return { close: () => stop.abort() };
}

async function run(signal, { onEvent, onState, onOpen }) {
  let delay = FIRST_DELAY_MS;
  while (!signal.aborted) {
    onState("connecting");
    const attempt = new AbortController();
    const abortAttempt = () => attempt.abort();
    signal.addEventListener("abort", abortAttempt, { once: true });
    let watchdog;
    const quiet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(abortAttempt, SILENCE_MS);
    };
    try {
      quiet();
      const res = await fetch("/api/v1/events", {
        headers: { Accept: "text/event-stream", ...authHeaders() },
        signal: attempt.signal,
        cache: "no-store",
      });
      if (res.status === 401) {
        reportUnauthorized();
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      onState("live");
      delay = FIRST_DELAY_MS;
      onOpen();
      await readStream(res.body, (message) => {
        quiet();
        if (message) onEvent(message);
      });
    } catch {
      // Network error, abort or a broken stream: retry below.
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener("abort", abortAttempt);
    }
    if (signal.aborted) return;
    const wait = delay / 2 + Math.random() * (delay / 2);
    onState("retrying", wait);
    await sleep(wait, signal);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/**
 * Parse an SSE body (per the HTML standard's event stream format): lines
 * `event:`, `data:` (joined with newlines), comments from `:`, an event
 * dispatched at each blank line. Calls `emit(null)` for a comment (the
 * keep-alive) and `emit({event, data})` for an event, with `data` parsed
 * as JSON when it is JSON.
 */
export async function readStream(body, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // A \r at the end may be the first half of \r\n: keep it for later.
    const held = buffer.endsWith("\r");
    const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
    // The last piece is an unfinished line.
    buffer = lines.pop() + (held ? "\r" : "");
    for (const line of lines) {
      if (line === "") {
        if (data.length > 0) emit({ event: event || "message", data: parse(data.join("\n")) });
        event = "";
        data = [];
      } else if (line.startsWith(":")) {
        emit(null);
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
    }
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
