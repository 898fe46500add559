// The Schedule Outbound Call form of an agent's Calls tab: recipient
// (checked as it is typed), priority, Immediate or Scheduled, deadline and
// additional data. Times are entered in the agent's timezone and sent
// without an offset: the engine reads such times in the agent's zone.
// The engine's problem+json `errors[].field` land on the matching fields.

import { api } from "./api.js";
import { h } from "./dom.js";
import { recipientProblem } from "./phone.js";
import { dateTime, shortId } from "./format.js";

/** Field names as the API names them, and what the form shows for each. */
const FIELDS = ["endpoint", "priority", "scheduledAt", "deadline", "additionalData"];

export function scheduleForm(agent, { onScheduled, onClose }) {
  const zone = agent.timezone;
  const errors = {};
  const serverErrors = {};
  const touched = new Set();
  const describe = (name) => `hint-${name} err-${name}`;
  const errorEl = (name) => (errors[name] = h("p", { id: `err-${name}`, class: "field-error", "aria-live": "polite" }));

  const endpoint = h("input", {
    id: "sched-endpoint", name: "endpoint", type: "tel", inputmode: "tel", autocomplete: "off",
    placeholder: "+1-555-123-4567", required: true, "aria-describedby": describe("endpoint"),
  });
  const priority = h("input", {
    id: "sched-priority", name: "priority", type: "number", min: 0, max: 10, step: 1, value: "5",
    required: true, "aria-describedby": describe("priority"),
  });
  const now = h("input", { id: "sched-when-now", type: "radio", name: "when", value: "now", checked: true });
  const later = h("input", { id: "sched-when-later", type: "radio", name: "when", value: "later" });
  const scheduledAt = h("input", {
    id: "sched-scheduled-at", name: "scheduledAt", type: "datetime-local", step: 1,
    "aria-describedby": describe("scheduledAt"),
  });
  const laterBox = h("div", { class: "field", hidden: true },
    h("label", { for: "sched-scheduled-at" }, "Date and time"), scheduledAt,
    h("p", { id: "hint-scheduledAt", class: "hint" }, `In the agent's timezone, ${zone}.`),
    errorEl("scheduledAt"));
  const deadline = h("input", {
    id: "sched-deadline", name: "deadline", type: "datetime-local", step: 1,
    "aria-describedby": describe("deadline"),
  });
  const data = h("textarea", {
    id: "sched-data", name: "additionalData", rows: 3, spellcheck: "false",
    placeholder: '{"customerId": "123"}', "aria-describedby": describe("additionalData"),
  });
  const review = h("p", { id: "sched-review", class: "review", "aria-live": "polite" });
  const formError = h("p", { id: "sched-error", class: "error", role: "alert" });
  const result = h("p", { id: "sched-result", class: "notice", role: "status" });
  const submit = h("button", { id: "sched-submit", type: "submit", class: "primary" }, "Schedule Call");

  const form = h("form", { class: "schedule", novalidate: true, "aria-labelledby": "sched-title" },
    h("h2", { id: "sched-title" }, "Schedule Outbound Call"),
    h("div", { class: "field" },
      h("label", { for: "sched-endpoint" }, "Recipient phone number"), endpoint,
      h("p", { id: "hint-endpoint", class: "hint" },
        "With the country code: +1-555-123-4567, +15551234567, or a SIP URI."),
      errorEl("endpoint")),
    h("div", { class: "field" },
      h("label", { for: "sched-priority" }, "Priority"), priority,
      h("p", { id: "hint-priority", class: "hint" }, "0 to 10; higher is dialed sooner. 10 goes first."),
      errorEl("priority")),
    h("fieldset", { class: "field" },
      h("legend", {}, "When"),
      h("label", { class: "inline" }, now, " Immediate"),
      h("label", { class: "inline" }, later, " Scheduled"),
      laterBox),
    h("div", { class: "field" },
      h("label", { for: "sched-deadline" }, "Deadline (optional)"), deadline,
      h("p", { id: "hint-deadline", class: "hint" },
        `Canceled if not started by then. In the agent's timezone, ${zone}.`),
      errorEl("deadline")),
    h("div", { class: "field" },
      h("label", { for: "sched-data" }, "Additional data (optional)"), data,
      h("p", { id: "hint-additionalData", class: "hint" }, "A JSON object, passed to webhooks."),
      errorEl("additionalData")),
    review, formError,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: onClose }, "Close"), submit),
    result);

  /** What is wrong with each field before sending, by API field name. */
  function clientProblems() {
    const p = {};
    p.endpoint = recipientProblem(endpoint.value);
    const n = Number(priority.value);
    if (priority.value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 10) {
      p.priority = "Enter a whole number from 0 to 10.";
    }
    if (later.checked && !scheduledAt.value) p.scheduledAt = "Pick the date and time to call.";
    if (later.checked && scheduledAt.value && deadline.value && deadline.value <= scheduledAt.value) {
      p.deadline = "The deadline must come after the scheduled time.";
    }
    if (data.value.trim()) {
      try {
        const v = JSON.parse(data.value);
        if (v === null || typeof v !== "object" || Array.isArray(v)) {
          p.additionalData = "Must be a JSON object, in braces: {\"key\": \"value\"}.";
        }
      } catch (e) {
        p.additionalData = `Not valid JSON: ${e.message}`;
      }
    }
    return p;
  }

  function update() {
    laterBox.hidden = !later.checked;
    const problems = clientProblems();
    for (const name of FIELDS) {
      const message = serverErrors[name] ?? (touched.has(name) ? problems[name] : null) ?? "";
      errors[name].textContent = message;
      const input = form.elements.namedItem(name);
      if (message) input?.setAttribute("aria-invalid", "true");
      else input?.removeAttribute("aria-invalid");
    }
    const blocked = Object.values(problems).some(Boolean);
    submit.disabled = blocked;
    review.textContent = blocked ? "" : summary();
  }

  function summary() {
    const when = later.checked ? `at ${scheduledAt.value.replace("T", " ")} ${zone}` : "as soon as possible";
    const until = deadline.value ? `, not after ${deadline.value.replace("T", " ")} ${zone}` : "";
    return `Calls ${endpoint.value.trim()} ${when}${until}, priority ${priority.value}.`;
  }

  form.addEventListener("input", (e) => {
    const name = e.target.name === "when" ? "scheduledAt" : e.target.name;
    touched.add(name);
    delete serverErrors[name];
    formError.textContent = "";
    update();
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    FIELDS.forEach((f) => touched.add(f));
    update();
    if (submit.disabled) return;
    const body = { agentId: agent.id, endpoint: endpoint.value.trim(), priority: Number(priority.value) };
    if (later.checked) body.scheduledAt = scheduledAt.value;
    if (deadline.value) body.deadline = deadline.value;
    if (data.value.trim()) body.additionalData = JSON.parse(data.value);
    submit.disabled = true;
    result.textContent = "";
    try {
      const call = await api("/calls", { method: "POST", body });
      form.reset();
      touched.clear();
      update();
      result.replaceChildren("Scheduled call ",
        h("a", { href: `#/calls/${call.id}`, "data-call-id": call.id, title: call.id }, shortId(call.id)),
        ` to ${call.endpoint}, created ${dateTime(call.createdAt, zone)}.`);
      onScheduled?.(call);
    } catch (err) {
      showServerErrors(err);
      update();
    }
  });

  function showServerErrors(err) {
    const other = [];
    for (const { field, reason } of err.fieldErrors ?? []) {
      if (FIELDS.includes(field)) serverErrors[field] = reason;
      else other.push(`${field}: ${reason}`);
    }
    if (other.length || !(err.fieldErrors ?? []).length) {
      formError.textContent = other.length ? other.join("; ") : `Not scheduled: ${err.message}`;
    }
    const first = FIELDS.find((f) => serverErrors[f]);
    if (first) form.elements.namedItem(first)?.focus();
  }

  update();
  return form;
}
