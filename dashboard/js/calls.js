// Lists of calls from GET /calls/queue/list: the Scheduled Calls and Past
// Calls pages, the agent's Calls tab, and the Remove confirmation dialog
// (DELETE /calls/{id}).

import { api, query } from "./api.js";
import { h, fill, table, coalesce, debounce } from "./dom.js";
import {
  CANCELABLE, STATUS_WORDS, cause, dateTime, duration, position, shortId, talkSeconds, waitWords,
} from "./format.js";

const WAITING = "Queued,Pending,Created";
const FINISHED = "Completed,Failed,Canceled";
const PAGE_SIZE = 25;

// Finished calls never change: their details (attempts) are kept here.
const finishedDetails = new Map();

/** The call with its attempts; fetched once for finished calls. */
async function detailOf(call) {
  if (finishedDetails.has(call.id)) return finishedDetails.get(call.id);
  const detail = await api(`/calls/${call.id}`);
  if (["Completed", "Failed", "Canceled"].includes(detail.status)) {
    finishedDetails.set(call.id, detail);
  }
  return detail;
}

function tabs(current) {
  const link = (href, label, key) =>
    h("a", { href, "aria-current": current === key ? "page" : null }, label);
  return h("nav", { class: "tabs", "aria-label": "Calls" },
    link("#/calls/scheduled", "Scheduled Calls", "scheduled"),
    link("#/calls/past", "Past Calls", "past"));
}

function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, STATUS_WORDS[status] ?? status);
}

function callLink(id) {
  return h("a", { href: `#/calls/${id}`, title: id, class: "mono" }, shortId(id));
}

function waitingWords(call, ctx) {
  if (call.status === "Queued") return waitWords(call.queue, ctx.agentZone(call.agentId));
  if (call.status === "Pending") return "Being prepared for dialing";
  if (call.status === "Created") return "Not queued yet";
  return "";
}

function outcome(call) {
  const last = call.attempts?.at(-1);
  const code = last?.sipCode ? ` (${last.sipCode})` : "";
  return `${cause(call.cause)}${code}`;
}

/** How each kind of list shows a call: column headers and cells. */
const COLUMNS = {
  scheduled: {
    headers: ["Call", "Number", "Agent", "Priority", "Status", "Place", "Waiting", "Created", "Actions"],
    cells: (c, ctx, remove) => [
      callLink(c.id), c.endpoint, ctx.agentName(c.agentId), c.priority, statusBadge(c.status),
      position(c.queue), waitingWords(c, ctx), dateTime(c.createdAt), removeButton(c, remove),
    ],
  },
  past: {
    details: true,
    headers: ["Call", "Number", "Agent", "Status", "Outcome", "Duration", "Attempts", "Ended"],
    cells: (c, ctx) => [
      callLink(c.id), c.endpoint, ctx.agentName(c.agentId), statusBadge(c.status), outcome(c),
      duration(talkSeconds(c)), c.attempts?.length ?? "", dateTime(c.updatedAt),
    ],
  },
  agent: {
    details: true,
    headers: ["Call", "Number", "Priority", "Status", "Details", "Duration", "Created", "Actions"],
    cells: (c, ctx, remove) => [
      callLink(c.id), c.endpoint, c.priority, statusBadge(c.status),
      c.cause ? outcome(c) : waitingWords(c, ctx), duration(talkSeconds(c)),
      dateTime(c.createdAt), removeButton(c, remove),
    ],
  },
};

function removeButton(call, remove) {
  if (!CANCELABLE.includes(call.status)) return "";
  return h("button", {
    type: "button", class: "danger small", "data-remove": call.id,
    "aria-label": `Remove the call to ${call.endpoint}`, onclick: () => remove(call),
  }, "Remove");
}

/**
 * A paged list of calls. `options`: kind (scheduled, past, agent),
 * statuses (comma list, "" for all), agentId, order (oldest, newest).
 * Returns { el, setFilter({statuses, search}), refresh, onEvent, destroy }.
 */
export function callList(ctx, options) {
  const columns = COLUMNS[options.kind];
  let filter = { statuses: options.statuses ?? "", search: "" };
  let cursors = [""];
  let next = null;
  let seq = 0;
  const body = h("div", { class: "list-body" });
  const message = h("p", { class: "notice", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const prev = h("button", { type: "button", onclick: () => { cursors.pop(); load(); } }, "Previous");
  const more = h("button", { type: "button", onclick: () => { cursors.push(next); load(); } }, "Next");
  const pageNo = h("span", { class: "hint" });
  const el = h("section", { class: "call-list" }, message, error, body,
    h("div", { class: "pager" }, prev, pageNo, more));

  const remove = (call) => confirmRemove(call, (text) => {
    message.textContent = text;
    load();
  });

  async function load() {
    const mine = ++seq;
    try {
      const page = await api(`/calls/queue/list${query({
        status: filter.statuses, agentId: options.agentId, search: filter.search,
        cursor: cursors.at(-1), limit: PAGE_SIZE, order: options.order,
      })}`);
      let list = page.calls;
      if (columns.details) {
        list = await Promise.all(list.map((c) =>
          (c.status === "Queued" ? c : detailOf(c).then((d) => ({ ...d, queue: c.queue })))));
      }
      if (mine !== seq) return;
      next = page.nextCursor;
      prev.disabled = cursors.length === 1;
      more.disabled = !next;
      pageNo.textContent = `Page ${cursors.length}`;
      error.textContent = "";
      fill(body, list.length === 0
        ? h("p", { class: "empty" }, filter.search ? "No calls match." : "No calls here.")
        : table("Calls", columns.headers, list.map((c) =>
          h("tr", { "data-call-id": c.id, "data-status": c.status },
            columns.cells(c, ctx, remove).map((cell, i) =>
              h("td", { "data-label": columns.headers[i] }, cell))))));
    } catch (e) {
      if (mine === seq && e.status !== 401) error.textContent = `Could not load the calls: ${e.message}`;
    }
  }

  const refresh = coalesce(load, 250);
  load();
  return {
    el,
    setFilter(f) {
      filter = { ...filter, ...f };
      cursors = [""];
      load();
    },
    refresh,
    onEvent(ev) {
      if (!options.agentId || ev.agentId === options.agentId) refresh();
    },
    destroy: refresh.cancel,
  };
}

/** The status select and search box above a list. */
function filters(choices, list) {
  const status = h("select", { id: "filter-status", name: "status" },
    choices.map(([value, label]) => h("option", { value }, label)));
  status.addEventListener("change", () => list.setFilter({ statuses: status.value }));
  const search = h("input", {
    id: "filter-search", name: "search", type: "search", autocomplete: "off",
    placeholder: "Call id or number",
  });
  const typed = debounce(() => list.setFilter({ search: search.value.trim() }), 300);
  search.addEventListener("input", typed);
  return h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), status),
    h("div", { class: "field grow" }, h("label", { for: "filter-search" }, "Search by call id or number"), search));
}

export function renderScheduled(main, _params, ctx) {
  const list = callList(ctx, { kind: "scheduled", statuses: WAITING, order: "oldest" });
  fill(main, h("h1", {}, "Calls"), tabs("scheduled"), filters([
    [WAITING, "Queued, Pending or Created"], ["Queued", "Queued"], ["Pending", "Pending"],
    ["Created", "Created"], ["InProgress", "In progress"],
  ], list), list.el);
  return list;
}

export function renderPast(main, _params, ctx) {
  const list = callList(ctx, { kind: "past", statuses: FINISHED, order: "newest" });
  fill(main, h("h1", {}, "Calls"), tabs("past"), filters([
    [FINISHED, "Completed, Failed or Canceled"], ["Completed", "Completed"], ["Failed", "Failed"],
    ["Canceled", "Canceled"],
  ], list), list.el);
  return list;
}

/**
 * Ask before canceling `call`; on success `done(message)`. A 409 (the call
 * started dialing or ended meanwhile) shows the engine's reason.
 */
export function confirmRemove(call, done) {
  const dialog = document.getElementById("remove-dialog");
  const keep = document.getElementById("remove-keep");
  const confirm = document.getElementById("remove-confirm");
  const error = document.getElementById("remove-error");
  fill(document.getElementById("remove-text"),
    `The call to ${call.endpoint} (id ${call.id}) will not be dialed. This cannot be undone.`);
  error.textContent = "";
  confirm.hidden = false;
  confirm.disabled = false;
  keep.textContent = "Keep call";
  keep.onclick = () => dialog.close();
  confirm.onclick = async () => {
    confirm.disabled = true;
    try {
      await api(`/calls/${encodeURIComponent(call.id)}`, { method: "DELETE" });
      dialog.close();
      done(`Removed the call to ${call.endpoint}.`);
    } catch (e) {
      error.textContent = e.status === 409 ? e.message : `Could not remove the call: ${e.message}`;
      confirm.hidden = true;
      keep.textContent = "Close";
      keep.focus();
    }
  };
  dialog.showModal();
  keep.focus();
}
