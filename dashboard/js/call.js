// One call: what it is, where it stands, its attempts (SIP code and
// reason), its history and its webhook deliveries.

import { api } from "./api.js";
import { h, fill, table, coalesce } from "./dom.js";
import {
  CANCELABLE, STATUS_WORDS, cause, dateTime, duration, talkSeconds, waitWords,
} from "./format.js";
import { confirmRemove } from "./calls.js";

export function render(main, [id], ctx) {
  const notice = h("p", { class: "notice", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const body = h("div", {});
  fill(main, h("p", {}, h("a", { href: "#/calls/past" }, "← Calls")),
    h("h1", {}, "Call ", h("span", { class: "mono" }, id)), notice, error, body);

  async function load() {
    let call;
    try {
      call = await api(`/calls/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e.status !== 401) error.textContent = e.status === 404 ? `No call with id ${id}.` : e.message;
      return;
    }
    const hooks = await deliveries(id);
    error.textContent = "";
    fill(body, summary(call, ctx), attempts(call), history(call, ctx), webhooks(hooks));
  }

  function summary(call, ctx) {
    const zone = ctx.agentZone(call.agentId);
    const rows = [
      ["Status", h("span", { class: `status status-${call.status}`, id: "call-status" },
        STATUS_WORDS[call.status] ?? call.status)],
      ["Outcome", cause(call.cause)],
      ["Number", call.endpoint],
      ["Agent", h("a", { href: `#/agents/${call.agentId}/calls` }, ctx.agentName(call.agentId))],
      ["Priority", call.priority],
      ["Waiting", call.status === "Queued" ? waitWords(call.queue, zone) : ""],
      ["Place in line", call.queue?.position ?? ""],
      ["Scheduled for", dateTime(call.scheduledAt, zone)],
      ["Deadline", dateTime(call.deadline, zone)],
      ["Next attempt", dateTime(call.nextAttemptAt, zone)],
      ["Talk time", duration(talkSeconds(call))],
      ["Created", dateTime(call.createdAt)],
      ["Last change", dateTime(call.updatedAt)],
    ].filter(([, v]) => v !== "" && v !== null && v !== undefined);
    const data = call.additionalData;
    const hasData = data && Object.keys(data).length > 0;
    const remove = CANCELABLE.includes(call.status)
      ? h("button", {
        type: "button", class: "danger", "data-remove": call.id,
        onclick: () => confirmRemove(call, (text) => { notice.textContent = text; load(); }),
      }, "Remove from queue")
      : null;
    return h("section", { "aria-labelledby": "call-summary" },
      h("h2", { id: "call-summary", class: "visually-hidden" }, "Summary"),
      h("dl", { class: "facts" }, rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
      hasData ? [h("h3", {}, "Additional data"), h("pre", {}, JSON.stringify(data, null, 2))] : null,
      remove);
  }

  function attempts(call) {
    const list = call.attempts ?? [];
    return h("section", {}, h("h2", {}, "Attempts"),
      list.length === 0
        ? h("p", { class: "empty" }, "Not dialed yet.")
        : table("Attempts", ["#", "Started", "Answered", "Ended", "SIP response", "Outcome", "Talk time"],
          list.map((a) => h("tr", { "data-attempt": a.number },
            h("td", {}, a.number), h("td", {}, dateTime(a.startedAt)), h("td", {}, dateTime(a.answeredAt)),
            h("td", {}, dateTime(a.endedAt)),
            h("td", { "data-sip": a.sipCode ?? "" }, a.sipCode ? `${a.sipCode} ${a.sipReason ?? ""}` : ""),
            h("td", {}, cause(a.cause)), h("td", {}, duration(a.talkSeconds))))));
  }

  function history(call) {
    return h("section", {}, h("h2", {}, "History"),
      h("ol", { class: "history" }, (call.history ?? []).map((e) =>
        h("li", { "data-event": e.event },
          h("time", { datetime: e.at }, dateTime(e.at)), " ",
          h("strong", {}, e.event), ` → ${STATUS_WORDS[e.status] ?? e.status}`,
          e.detail ? h("span", { class: "hint" }, ` ${e.detail}`) : null))));
  }

  const refresh = coalesce(load, 200);
  load();
  return {
    refresh,
    onEvent: (ev) => { if (ev.callId === id) refresh(); },
    destroy: refresh.cancel,
  };
}

/** The webhook delivery log; an engine without one (404) has none. */
async function deliveries(id) {
  try {
    const data = await api(`/calls/${encodeURIComponent(id)}/webhooks`);
    const list = Array.isArray(data) ? data : data?.deliveries ?? data?.webhooks ?? [];
    return Array.isArray(list) ? list : [];
  } catch (e) {
    if (e.status === 404) return [];
    return { error: e.message };
  }
}

/** Deliveries as a table of their plain fields, whatever they are named. */
function webhooks(list) {
  const section = h("section", { id: "webhooks" }, h("h2", {}, "Webhook deliveries"));
  if (!Array.isArray(list)) {
    section.append(h("p", { class: "error" }, `Could not load deliveries: ${list.error}`));
    return section;
  }
  if (list.length === 0) {
    section.append(h("p", { class: "empty" }, "No deliveries."));
    return section;
  }
  const plain = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);
  const keys = [...new Set(list.flatMap((d) => Object.keys(d).filter((k) => plain(d[k]))))].slice(0, 8);
  section.append(table("Webhook deliveries", keys,
    list.map((d) => h("tr", {}, keys.map((k) => h("td", {}, d[k] ?? ""))))));
  return section;
}
