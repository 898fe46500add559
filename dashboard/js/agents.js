// Agents: the list, and one agent's page with its Settings and Calls tabs
// (the Calls tab holds the Schedule Outbound Call form).

import { api } from "./api.js";
import { h, fill, table } from "./dom.js";
import { duration } from "./format.js";
import { callList } from "./calls.js";
import { scheduleForm } from "./schedule.js";

export function renderList(main, _params, ctx) {
  const error = h("p", { class: "error", role: "alert" });
  const body = h("div", {}, h("p", { class: "hint" }, "Loading…"));
  fill(main, h("h1", {}, "Agents"), error, body);
  ctx.loadAgents().then((agents) => {
    fill(body, agents.length === 0
      ? h("p", { class: "empty" }, "No agents yet: declare one in the config file or POST /api/v1/agents.")
      : table("Agents", ["Name", "State", "Timezone", "Concurrent calls", "Caller ID", "Trunk"],
        agents.map((a) => h("tr", { "data-agent-id": a.id },
          h("td", { "data-label": "Name" }, h("a", { href: `#/agents/${a.id}` }, a.name)),
          h("td", { "data-label": "State" }, a.isEnabled ? "Enabled" : "Disabled"),
          h("td", { "data-label": "Timezone" }, a.timezone),
          h("td", { "data-label": "Concurrent calls" }, a.maxConcurrentCalls),
          h("td", { "data-label": "Caller ID" }, a.callerId),
          h("td", { "data-label": "Trunk" }, a.trunk)))));
  }, (e) => {
    if (e.status !== 401) error.textContent = `Could not load the agents: ${e.message}`;
  });
  return null;
}

export function renderDetail(main, [id], ctx, tab) {
  const error = h("p", { class: "error", role: "alert" });
  const body = h("div", {});
  fill(main, h("p", {}, h("a", { href: "#/agents" }, "← Agents")), error, body);
  let list = null;
  let gone = false;

  api(`/agents/${encodeURIComponent(id)}`).then((agent) => {
    if (gone) return;
    ctx.agents.set(agent.id, agent);
    const link = (href, label, key) =>
      h("a", { href, "aria-current": tab === key ? "page" : null }, label);
    fill(body,
      h("h1", {}, agent.name, " ", h("span", { class: "chip" }, agent.isEnabled ? "Enabled" : "Disabled")),
      h("nav", { class: "tabs", "aria-label": "Agent" },
        link(`#/agents/${agent.id}`, "Settings", "settings"),
        link(`#/agents/${agent.id}/calls`, "Calls", "calls")),
      tab === "settings" ? settings(agent) : calls(agent));
  }, (e) => {
    if (e.status !== 401) error.textContent = e.status === 404 ? `No agent with id ${id}.` : e.message;
  });

  function calls(agent) {
    list = callList(ctx, { kind: "agent", agentId: agent.id, statuses: "", order: "newest" });
    const panel = h("div", { id: "schedule-panel", hidden: true });
    const open = h("button", {
      type: "button", class: "primary", id: "open-schedule",
      "aria-expanded": "false", "aria-controls": "schedule-panel",
    }, "Schedule Outbound Call");
    const close = () => {
      panel.hidden = true;
      open.setAttribute("aria-expanded", "false");
      open.focus();
    };
    open.addEventListener("click", () => {
      if (!panel.hidden) return close();
      fill(panel, scheduleForm(agent, { onScheduled: () => list.refresh(), onClose: close }));
      panel.hidden = false;
      open.setAttribute("aria-expanded", "true");
      panel.querySelector("input")?.focus();
    });
    return h("section", {}, h("div", { class: "toolbar" }, open), panel,
      h("h2", {}, "Calls of this agent"), list.el);
  }

  return {
    refresh: () => list?.refresh(),
    onEvent: (ev) => list?.onEvent(ev),
    destroy: () => { gone = true; list?.destroy(); },
  };
}

function settings(agent) {
  const json = (v) => h("pre", {}, JSON.stringify(v, null, 2));
  const rows = [
    ["Id", h("span", { class: "mono" }, agent.id)],
    ["State", agent.isEnabled ? "Enabled" : "Disabled"],
    ["Timezone", agent.timezone],
    ["Caller ID", agent.callerId],
    ["Trunk", agent.trunk],
    ["Concurrent calls", agent.maxConcurrentCalls],
    ["Ring timeout", duration(agent.ringTimeoutSeconds)],
    ["Longest call", duration(agent.maxCallDurationSeconds)],
    ["Weight", agent.weight],
    ["Calling window", typeof agent.callingWindow === "string" ? agent.callingWindow : json(agent.callingWindow)],
    ["Business hours", agent.businessHours ? json(agent.businessHours) : "Always open"],
    ["Retries", json(agent.retry)],
  ];
  return h("dl", { class: "facts" }, rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}
