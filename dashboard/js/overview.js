// The overview: calls by status, average call duration and answer rate
// (GET /calls/statistics/statuses and /calls/statistics/summary), and the
// latest call events as they arrive.

import { api } from "./api.js";
import { h, fill, coalesce } from "./dom.js";
import { duration, percent, dateTime, shortId } from "./format.js";

const CARDS = [
  ["total", "Total scheduled", "Every call accepted, whatever its status"],
  ["waiting", "Waiting", "Created, Queued or Pending"],
  ["inProgress", "In progress", "Dialing or connected now"],
  ["completed", "Completed", ""],
  ["failed", "Failed", "Busy, no answer, errors"],
  ["canceled", "Canceled", "Removed, deadline missed or do-not-call"],
  ["averageDuration", "Average call duration", "Talk time of answered calls"],
  ["answerRate", "Answer rate", "Answered among completed and failed calls"],
];
const ACTIVITY_ITEMS = 12;

export function render(main, _params, ctx) {
  const values = {};
  const error = h("p", { class: "error", role: "alert" });
  const cards = h("dl", { class: "cards" }, CARDS.map(([key, label, hint]) =>
    h("div", { class: "card" },
      h("dt", {}, label),
      (values[key] = h("dd", { "data-stat": key }, "…")),
      hint ? h("p", { class: "hint" }, hint) : null)));
  const activity = h("ol", { class: "activity", "aria-label": "Latest call events" });
  const empty = h("p", { class: "hint" }, "Call events appear here as they happen.");
  fill(main, h("h1", {}, "Overview"), error, cards, h("h2", {}, "Live activity"), empty, activity);

  async function load() {
    try {
      const [counts, summary] = await Promise.all([
        api("/calls/statistics/statuses"),
        api("/calls/statistics/summary"),
      ]);
      const n = (s) => counts[s] ?? 0;
      const shown = {
        total: Object.values(counts).reduce((a, b) => a + b, 0),
        waiting: n("Created") + n("Queued") + n("Pending"),
        inProgress: n("InProgress"),
        completed: n("Completed"),
        failed: n("Failed"),
        canceled: n("Canceled"),
        averageDuration: duration(summary.averageTalkSeconds) || "—",
        answerRate: percent(summary.answerRate) || "—",
      };
      for (const [key, value] of Object.entries(shown)) values[key].textContent = value;
      error.textContent = "";
    } catch (e) {
      if (e.status !== 401) error.textContent = `Could not load the figures: ${e.message}`;
    }
  }
  const refresh = coalesce(load, 200);
  load();

  function onEvent(ev) {
    empty.hidden = true;
    activity.prepend(h("li", {},
      h("time", { datetime: ev.at }, dateTime(ev.at)), " ",
      h("a", { href: `#/calls/${ev.callId}`, title: ev.callId }, shortId(ev.callId)), " ",
      h("span", { class: "event" }, String(ev.event).replace(/^call\./, "").replace(/_/g, " ")),
      ev.detail ? ` (${ev.detail})` : "",
      ` · ${ctx.agentName(ev.agentId)}`));
    while (activity.children.length > ACTIVITY_ITEMS) activity.lastElementChild.remove();
    refresh();
  }

  return { refresh, onEvent, destroy: refresh.cancel };
}
