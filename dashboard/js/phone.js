// Checking a recipient as it is typed, with the rules the engine applies:
// E.164 with the country code, written plainly (+15551234567) or with
// spaces, dashes, dots or parentheses (+1-555-123-4567, +1 (555) 123 4567),
// or a sip:/sips: URI. The engine checks the number against its numbering
// plan too; its answer is shown on the same field.

/** Why `text` cannot be a recipient, or null when it looks right. */
export function recipientProblem(text) {
  const s = text.trim();
  if (s === "") return "Enter the number to call.";
  const lower = s.toLowerCase();
  if (lower.startsWith("sip:") || lower.startsWith("sips:")) return uriProblem(s);
  if (!s.startsWith("+")) {
    return "Start with + and the country code, like +1-555-123-4567.";
  }
  const rest = s.slice(1);
  if (/[^0-9 ().-]/.test(rest)) {
    return "After the +, use only digits, spaces, dashes, dots and parentheses.";
  }
  const digits = rest.replace(/\D/g, "");
  if (digits.startsWith("0")) return "Country codes never start with 0.";
  if (digits.length < 7 || digits.length > 15) {
    return `A number has 7 to 15 digits after the +; this one has ${digits.length}.`;
  }
  return null;
}

function uriProblem(s) {
  const rest = s.slice(s.indexOf(":") + 1);
  const at = rest.lastIndexOf("@");
  const user = at < 0 ? null : rest.slice(0, at);
  const host = (at < 0 ? rest : rest.slice(at + 1)).split(/[;?]/)[0];
  if (/[\s<>"]/.test(rest) || host === "" || user === "") {
    return "A SIP URI needs a host and no spaces, like sip:user@example.com.";
  }
  return null;
}

/** The digits of an E.164 entry, as the engine will store it. */
export function normalized(text) {
  const s = text.trim();
  return s.startsWith("+") ? `+${s.replace(/\D/g, "")}` : s;
}
