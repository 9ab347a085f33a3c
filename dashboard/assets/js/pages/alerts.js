// Alerts: create a rule (the API validates the condition and its message
// shows next to the field at fault), list and delete rules, and the history
// of what fired.
import { get, post, del, APIError } from "../api.js";
import { h, card, field, setFieldError, errorLine, replace, table } from "../dom.js";
import { fmtTime } from "../format.js";

const types = ["spending", "usage", "error_rate", "latency", "member_limit"];
const examples = {
  spending: "daily_spend > 100", usage: "requests > 10000", error_rate: "error_rate > 0.05",
  latency: "p95_latency_ms > 2000", member_limit: "member_spend_pct >= 80",
};

export async function render() {
  const c = {
    name: h("input", { type: "text", name: "name", required: true, maxlength: "200" }),
    type: h("select", { name: "type" }, types.map((t) => h("option", { value: t }, t.replace("_", " ")))),
    condition: h("input", { type: "text", name: "condition", required: true, spellcheck: "false", placeholder: examples.spending }),
    action: h("select", { name: "action" }, h("option", { value: "webhook" }, "webhook"), h("option", { value: "email" }, "email")),
    webhook_url: h("input", { type: "url", name: "webhook_url", placeholder: "https://hooks.example.com/infermeter" }),
    recipients: h("input", { type: "text", name: "recipients", placeholder: "[email protected], [email protected]" }),
    cooldown: h("input", { type: "text", name: "cooldown", placeholder: "1h", spellcheck: "false" }),
  };
  const hookField = field("Webhook URL", c.webhook_url);
  const mailField = field("Recipients", c.recipients, { hint: "Comma-separated e-mail addresses." });
  const showAction = () => { hookField.hidden = c.action.value !== "webhook"; mailField.hidden = c.action.value !== "email"; };
  c.action.addEventListener("change", showAction);
  c.type.addEventListener("change", () => { c.condition.placeholder = examples[c.type.value]; });
  showAction();
  const formMsg = h("p", { class: "field-error", role: "alert", id: "alert-form-error" });
  const okMsg = h("p", { class: "ok-msg", role: "status", id: "alert-form-ok" });
  const submit = h("button", { type: "submit", id: "alert-create" }, "Create alert");
  const form = h("form", { id: "alert-form", "aria-label": "New alert", novalidate: true },
    h("div", { class: "form-grid" },
      field("Name", c.name), field("Type", c.type),
      field("Condition", c.condition, { wide: true, hint: "metric op number, joined by && or ||: daily_spend, monthly_spend, hourly_spend, requests, tokens, error_rate, avg_latency_ms, p95_latency_ms, member_spend_pct." }),
      field("Action", c.action), hookField, mailField,
      field("Cooldown", c.cooldown, { hint: "Least time between two firings, such as 30m or 1h; empty for none." })),
    h("div", { class: "actions" }, submit, formMsg, okMsg));

  const list = h("div", { id: "alerts-list" });
  const history = h("div", { id: "alerts-history" });

  const loadList = async () => {
    try {
      const ans = await get("/api/account/alerts");
      replace(list, table([
        { key: "name", label: "Name" }, { key: "type", label: "Type" }, { key: "condition", label: "Condition" },
        { key: "action", label: "Action", fmt: (a) => (a.action === "webhook" ? "webhook" : `email (${(a.recipients || []).length})`) },
        { key: "state", label: "State", fmt: (a) => a.state || "" },
        { key: "last_fired_at", label: "Last fired", fmt: (a) => (a.last_fired_at && !a.last_fired_at.startsWith("0001") ? fmtTime(a.last_fired_at) : "never") },
        { key: "x", label: "", fmt: (a) => h("button", { type: "button", class: "danger", "aria-label": `Delete alert ${a.name}`, onclick: async (e) => {
          if (!confirm(`Delete the alert "${a.name}"?`)) return;
          e.target.disabled = true;
          try { await del(`/api/account/alerts/${encodeURIComponent(a.id)}`); loadList(); } catch (err) { e.target.disabled = false; replace(list, errorLine(err)); }
        } }, "Delete") },
      ], ans.alerts || [], { label: "Alerts", empty: "No alert yet." }));
    } catch (e) { replace(list, errorLine(e)); }
  };
  const loadHistory = async () => {
    try {
      const ans = await get("/api/account/alerts/history");
      replace(history, table([
        { key: "fired_at", label: "Fired", fmt: (r) => fmtTime(r.fired_at) },
        { key: "alert_name", label: "Alert" },
        { key: "condition", label: "Condition" },
        { key: "values", label: "Values", fmt: (r) => Object.entries(r.values || {}).map(([k, v]) => `${k}=${+Number(v).toFixed(4)}`).join(", ") },
        { key: "cleared_at", label: "Cleared", fmt: (r) => (r.cleared_at ? fmtTime(r.cleared_at) : "still firing") },
        { key: "deliveries", label: "Deliveries", fmt: (r) => (r.deliveries || []).map((d) => `${d.action || ""} ${d.status || ""}`.trim()).join(", ") },
      ], ans.history || [], { label: "Alert history", empty: "Nothing has fired." }));
    } catch (e) { replace(history, errorLine(e)); }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const x of Object.values(c)) setFieldError(x, "");
    formMsg.textContent = okMsg.textContent = "";
    const body = { name: c.name.value.trim(), type: c.type.value, condition: c.condition.value.trim(), action: c.action.value };
    if (!body.name) { setFieldError(c.name, "Give the alert a name."); c.name.focus(); return; }
    if (!body.condition) { setFieldError(c.condition, "Write the condition, such as " + examples[body.type] + "."); c.condition.focus(); return; }
    if (body.action === "webhook") body.webhook_url = c.webhook_url.value.trim();
    else body.recipients = c.recipients.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (c.cooldown.value.trim()) body.cooldown = c.cooldown.value.trim();
    submit.disabled = true;
    try {
      const ans = await post("/api/account/alerts", body);
      okMsg.textContent = `Alert "${ans.alert?.name ?? body.name}" created.`;
      form.reset();
      showAction();
      loadList();
    } catch (err) {
      const ctl = err instanceof APIError && c[err.field];
      if (ctl) { setFieldError(ctl, err.message); ctl.focus(); } else formMsg.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });

  await Promise.all([loadList(), loadHistory()]);
  return h("div", { id: "alerts" },
    h("h1", { class: "sr-only" }, "Alerts"),
    card("New alert", "", form),
    card("Alerts", "", list),
    card("History", "", history));
}
