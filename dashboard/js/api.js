// Every call to the REST API goes through here: it sends the API key,
// turns problem+json answers into ApiError, and reports a 401 so the page
// asks for the key again.

const KEY = "outdial.apiKey";

export const apiKey = {
  get: () => localStorage.getItem(KEY) ?? "",
  set: (key) => localStorage.setItem(KEY, key),
  clear: () => localStorage.removeItem(KEY),
};

const unauthorizedListeners = new Set();

/** `fn` runs whenever the engine answers 401. */
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

export function reportUnauthorized() {
  for (const fn of unauthorizedListeners) fn();
}

export function authHeaders() {
  return { Authorization: `Bearer ${apiKey.get()}` };
}

/** An error answer: `status` (0 when the engine was unreachable), the
 * problem's `detail` as the message, and its `errors` (field, reason). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
    this.fieldErrors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

/** Call `/api/v1{path}`; resolves to the JSON body (null for 204). */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { detail: "The engine cannot be reached." });
  }
  const type = res.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (res.status === 401) {
    reportUnauthorized();
    throw new ApiError(401, data ?? { detail: "The engine refused the API key." });
  }
  if (!res.ok) throw new ApiError(res.status, data ?? { detail: `HTTP ${res.status}` });
  return res.status === 204 ? null : data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
