// The dashboard's shell: sign-in with an API key, the hash router
// (#/, #/agents, #/agents/ID, #/agents/ID/calls, #/calls/scheduled,
// #/calls/past, #/calls/ID), and the live event stream feeding the view
// on screen.

import { api, apiKey, onUnauthorized } from "./api.js";
import { connect } from "./events.js";
import { h, fill } from "./dom.js";
import { shortId } from "./format.js";
import * as overview from "./overview.js";
import * as agents from "./agents.js";
import * as calls from "./calls.js";
import * as call from "./call.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
const signOutButton = document.getElementById("sign-out");

/** What every view may use: the agents by id, loaded once a key works. */
const ctx = {
  agents: new Map(),
  async loadAgents() {
    const { agents: list } = await api("/agents");
    ctx.agents = new Map(list.map((a) => [a.id, a]));
    return list;
  },
  agentName: (id) => ctx.agents.get(id)?.name ?? shortId(id),
  agentZone: (id) => ctx.agents.get(id)?.timezone,
};

const ROUTES = [
  [/^\/$/, "overview", overview.render],
  [/^\/agents$/, "agents", agents.renderList],
  [/^\/agents\/([^/]+)$/, "agents", (m, p, c) => agents.renderDetail(m, p, c, "settings")],
  [/^\/agents\/([^/]+)\/calls$/, "agents", (m, p, c) => agents.renderDetail(m, p, c, "calls")],
  [/^\/calls\/scheduled$/, "scheduled", calls.renderScheduled],
  [/^\/calls\/past$/, "past", calls.renderPast],
  [/^\/calls\/([^/]+)$/, "past", call.render],
];

/** The view on screen: { refresh(), onEvent(event), destroy() }, each optional. */
let view = null;
let stream = null;

function route() {
  if (!apiKey.get()) return showSignIn();
  view?.destroy?.();
  view = null;
  const path = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const found = ROUTES.map(([re, section, render]) => [path.match(re), section, render])
    .find(([m]) => m);
  for (const a of document.querySelectorAll("#nav a")) {
    if (found?.[1] === a.dataset.section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!found) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "#/" }, "Overview")));
    return;
  }
  const [match, , render] = found;
  view = render(main, match.slice(1), ctx) ?? null;
}

function startStream() {
  stream?.close();
  stream = connect({
    onEvent: (message) => {
      if (message.event === "lagged") view?.refresh?.();
      else view?.onEvent?.(message.data);
    },
    onOpen: () => view?.refresh?.(),
    onState: (state, retryMs) => {
      live.dataset.state = state;
      live.textContent = {
        connecting: "Connecting…",
        live: "Live",
        retrying: `Reconnecting in ${Math.ceil((retryMs ?? 0) / 1000)} s`,
      }[state];
    },
  });
}

function showSignIn(message = "") {
  stream?.close();
  stream = null;
  view?.destroy?.();
  view = null;
  document.body.classList.add("signed-out");
  live.textContent = "";
  const input = h("input", {
    id: "api-key", name: "apiKey", type: "password", autocomplete: "off",
    required: true, spellcheck: "false", "aria-describedby": "api-key-help sign-in-error",
  });
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert" }, message);
  const form = h("form", { class: "sign-in", novalidate: true },
    h("h1", {}, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", { id: "api-key-help", class: "hint" },
      "The key the engine was started with. It stays in this browser until you sign out."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter the API key.";
      input.setAttribute("aria-invalid", "true");
      return input.focus();
    }
    apiKey.set(key);
    try {
      await ctx.loadAgents();
    } catch (err) {
      // A 401 has already brought this form back with its message.
      if (err.status !== 401) {
        apiKey.clear();
        error.textContent = `Could not check the key: ${err.message}`;
      }
      return;
    }
    start();
  });
  fill(main, form);
  input.focus();
}

function start() {
  document.body.classList.remove("signed-out");
  startStream();
  route();
  // Agent names and zones for the lists; the view shows ids until then.
  ctx.loadAgents().then(() => view?.refresh?.(), () => {});
}

onUnauthorized(() => {
  if (!apiKey.get()) return;
  apiKey.clear();
  showSignIn("The engine refused this API key. Enter a valid key.");
});

signOutButton.addEventListener("click", () => {
  apiKey.clear();
  showSignIn();
});

window.addEventListener("hashchange", () => {
  if (!apiKey.get()) return;
  if (stream) route();
  else start();
  main.focus({ preventScroll: true });
});

// Signing out (or in) in another tab of this dashboard.
window.addEventListener("storage", () => {
  if (!apiKey.get() && stream) showSignIn();
  else if (apiKey.get() && !stream) start();
});

if (apiKey.get()) start();
else showSignIn();
