// Words and numbers as the dashboard shows them.

const WAIT_REASONS = {
  waiting_for_slot: "Ready, waiting for a free line",
  scheduled_for_later: "Scheduled for later",
  retry_scheduled: "Waiting to retry",
  outside_calling_window: "Outside the recipient's calling hours",
  outside_business_hours: "Outside the agent's business hours",
  agent_disabled: "Agent is disabled",
  agent_at_capacity: "Agent is at its concurrent-call limit",
  trunk_at_capacity: "All trunk channels are busy",
  trunk_calls_per_second: "Held by the trunk's calls-per-second limit",
};

const CAUSES = {
  answered: "Answered",
  busy: "Busy",
  no_answer: "No answer",
  rejected: "Rejected",
  not_found: "Number not found",
  throttled: "Carrier throttled",
  network_error: "Network error",
  auth_failed: "Trunk authentication failed",
  canceled: "Canceled",
  deadline_missed: "Deadline missed",
  dnc: "On a do-not-call list",
  interrupted: "Interrupted (engine stopped)",
};

export const STATUS_WORDS = {
  Created: "Created",
  Queued: "Queued",
  Pending: "Pending",
  InProgress: "In progress",
  Completed: "Completed",
  Failed: "Failed",
  Canceled: "Canceled",
};

export const CANCELABLE = ["Created", "Queued", "Pending"];

export function cause(c) {
  return c ? CAUSES[c] ?? c : "";
}

/** A date and time with its zone's short name; in `timeZone` if given. */
export function dateTime(iso, timeZone) {
  if (!iso) return "";
  const options = {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  };
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone }).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  }
}

/** "45 s", "3 min 05 s", "1 h 02 min"; an empty string for null. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** Talk time of a call: the sum over its attempts, null if never answered. */
export function talkSeconds(call) {
  const talks = (call.attempts ?? []).map((a) => a.talkSeconds).filter((t) => t != null);
  return talks.length ? talks.reduce((a, b) => a + b, 0) : null;
}

export function percent(rate) {
  return rate === null || rate === undefined ? "" : `${Math.round(rate * 1000) / 10} %`;
}

/** Where a Queued call stands, in words: its place in line, why it waits
 * and until when (in the agent's zone). */
export function waitWords(queue, timeZone) {
  if (!queue) return "";
  const parts = [WAIT_REASONS[queue.waitReason] ?? queue.waitReason];
  if (queue.waitUntil) parts.push(`until ${dateTime(queue.waitUntil, timeZone)}`);
  return parts.join(", ");
}

export function position(queue) {
  if (!queue || queue.position == null) return "";
  return queue.position === 1 ? "Next" : `#${queue.position}`;
}

export function shortId(id) {
  return id ? `${id.slice(0, 8)}…${id.slice(-4)}` : "";
}
