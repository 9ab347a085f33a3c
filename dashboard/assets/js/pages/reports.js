// Reports & invoices (admins): scheduled e-mail reports (create, run now,
// delete, delivery history) and chargeback invoices (generate for a period,
// list, download as JSON, CSV or PDF).
import { get, post, del, download, orgPath, APIError } from "../api.js";
import { h, card, field, setFieldError, errorLine, replace, table } from "../dom.js";
import { fmtInt, fmtUSD, fmtTime, isoDate } from "../format.js";

const includes = [["usage_summary", "Usage summary"], ["top_users", "Top members"], ["cost_breakdown", "Cost breakdown"], ["errors", "Errors"]];
const weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

export async function render() {
  const schedules = h("div", { id: "schedules-list" });
  const deliveries = h("div", { id: "schedules-history" });
  const invoices = h("div", { id: "invoices-list" });
  const invoiceView = h("div", { id: "invoice-view" });

  const loadSchedules = async () => {
    try {
      const ans = await get(orgPath("/reports/schedule"));
      replace(schedules, table([
        { key: "name", label: "Name" },
        { key: "frequency", label: "When", fmt: (s) => `${s.frequency}${s.day != null && s.day !== "" && s.day !== 0 ? " · " + s.day : ""} · ${s.time}${s.timezone ? " " + s.timezone : ""}` },
        { key: "format", label: "Format" },
        { key: "recipients", label: "Recipients", fmt: (s) => (s.recipients || []).join(", ") },
        { key: "next_run", label: "Next run", fmt: (s) => (s.next_run ? fmtTime(s.next_run) : "") },
        { key: "x", label: "", fmt: (s) => h("span", { class: "actions" },
          h("button", { type: "button", class: "secondary", "aria-label": `Run ${s.name} now`, onclick: (e) => act(e, () => post(orgPath(`/reports/schedule/${encodeURIComponent(s.id)}/run`)), "Sent.") }, "Run now"),
          h("button", { type: "button", class: "danger", "aria-label": `Delete ${s.name}`, onclick: (e) => { if (confirm(`Delete the schedule "${s.name}"?`)) act(e, () => del(orgPath(`/reports/schedule/${encodeURIComponent(s.id)}`)), ""); } }, "Delete")) },
      ], ans.schedules || [], { label: "Scheduled reports", empty: "No scheduled report yet." }));
    } catch (e) { replace(schedules, errorLine(e)); }
  };
  const loadDeliveries = async () => {
    try {
      const ans = await get(orgPath("/reports/history"));
      replace(deliveries, table([
        { key: "ran_at", label: "Ran", fmt: (d) => fmtTime(d.ran_at) },
        { key: "schedule_name", label: "Report" },
        { key: "trigger", label: "Trigger" },
        { key: "attachment", label: "Attachment" },
        { key: "status", label: "Status", fmt: (d) => (d.error ? `${d.status}: ${d.error}` : d.status) },
      ], ans.deliveries || [], { label: "Report deliveries", empty: "No report sent yet." }));
    } catch (e) { replace(deliveries, errorLine(e)); }
  };
  const loadInvoices = async () => {
    try {
      const ans = await get("/api/billing/invoices");
      replace(invoices, table([
        { key: "number", label: "Number" },
        { key: "period", label: "Period", fmt: (i) => `${i.period_start || ""} → ${i.period_end || ""}` },
        { key: "group_by", label: "Grouped by" },
        { key: "total", label: "Total", num: true, fmt: (i) => (i.total != null ? fmtUSD(i.total) : "") },
        { key: "x", label: "Download", fmt: (i) => h("span", { class: "actions" }, ["pdf", "csv", "json"].map((f) =>
          h("button", { type: "button", class: "link", "aria-label": `Download ${i.number} as ${f.toUpperCase()}`, onclick: (e) => act(e, () => download(`/api/billing/invoices/${encodeURIComponent(i.id)}`, { format: f }, `${i.number}.${f}`), "") }, f.toUpperCase()))) },
      ], ans.invoices || [], { label: "Invoices", empty: "No invoice yet." }));
    } catch (e) { replace(invoices, errorLine(e)); }
  };
  // act runs f for the button of event e and shows its outcome beside it.
  async function act(e, f, okText) {
    const btn = e.currentTarget;
    btn.disabled = true;
    let note = btn.parentElement.querySelector(".act-note");
    if (!note) { note = h("span", { class: "small act-note", role: "status" }); btn.parentElement.append(note); }
    note.textContent = "";
    try {
      await f();
      note.className = "small act-note ok-msg";
      note.textContent = okText;
      if (okText !== "") return;
      loadSchedules();
    } catch (err) {
      note.className = "small act-note field-error";
      note.textContent = err.message;
    } finally {
      btn.disabled = false;
      loadDeliveries();
    }
  }

  await Promise.all([loadSchedules(), loadDeliveries(), loadInvoices()]);
  return h("div", { id: "reports" },
    h("h1", { class: "sr-only" }, "Reports and invoices"),
    card("New scheduled report", "", scheduleForm(() => { loadSchedules(); })),
    card("Scheduled reports", "", schedules),
    card("Deliveries", "", deliveries),
    card("Generate an invoice", "", invoiceForm((inv) => { replace(invoiceView, showInvoice(inv)); loadInvoices(); }), invoiceView),
    card("Invoices", "", invoices));
}

function scheduleForm(done) {
  const c = {
    name: h("input", { type: "text", name: "name", required: true }),
    frequency: h("select", { name: "frequency" }, ["daily", "weekly", "monthly"].map((f) => h("option", { value: f, selected: f === "monthly" }, f))),
    day: h("input", { type: "number", name: "day", min: "1", max: "31", value: "1" }),
    weekday: h("select", { name: "weekday" }, weekdays.map((w) => h("option", { value: w }, w))),
    time: h("input", { type: "time", name: "time", value: "08:00", required: true }),
    format: h("select", { name: "format" }, ["pdf", "csv", "json"].map((f) => h("option", { value: f }, f.toUpperCase()))),
    recipients: h("input", { type: "text", name: "recipients", placeholder: "[email protected]", required: true }),
  };
  const checks = includes.map(([v, l]) => h("label", {}, h("input", { type: "checkbox", name: "include", value: v, checked: true }), l));
  const dayField = field("Day of the month", c.day), weekField = field("Weekday", c.weekday);
  const incErr = h("p", { class: "field-error", role: "alert", id: "include-error" });
  const showDay = () => { dayField.hidden = c.frequency.value !== "monthly"; weekField.hidden = c.frequency.value !== "weekly"; };
  c.frequency.addEventListener("change", showDay);
  showDay();
  const msg = h("p", { class: "field-error", role: "alert" }), ok = h("p", { class: "ok-msg", role: "status" });
  const form = h("form", { id: "schedule-form", "aria-label": "New scheduled report", novalidate: true },
    h("div", { class: "form-grid" }, field("Name", c.name), field("Frequency", c.frequency), dayField, weekField, field("Time", c.time), field("Format", c.format),
      field("Recipients", c.recipients, { hint: "Comma-separated e-mail addresses." }),
      h("fieldset", { class: "wide" }, h("legend", {}, "Include"), h("div", { class: "checks" }, checks), incErr)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Schedule"), msg, ok));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const x of Object.values(c)) setFieldError(x, "");
    msg.textContent = ok.textContent = incErr.textContent = "";
    const f = c.frequency.value;
    const body = {
      name: c.name.value.trim(), frequency: f, time: c.time.value, format: c.format.value,
      recipients: c.recipients.value.split(",").map((s) => s.trim()).filter(Boolean),
      include: checks.map((l) => l.firstChild).filter((i) => i.checked).map((i) => i.value),
    };
    if (f === "monthly") body.day = Number(c.day.value);
    if (f === "weekly") body.day = c.weekday.value;
    try {
      await post(orgPath("/reports/schedule"), body);
      ok.textContent = `Scheduled "${body.name}".`;
      form.reset();
      showDay();
      done();
    } catch (err) {
      const name = err instanceof APIError ? err.field : "";
      if (name === "include") incErr.textContent = err.message;
      else if (name === "day") setFieldError(f === "weekly" ? c.weekday : c.day, err.message);
      else if (c[name]) setFieldError(c[name], err.message);
      else msg.textContent = err.message;
    }
  });
  return form;
}

function invoiceForm(done) {
  const now = new Date();
  const first = new Date(now.getFullYear(), now.getMonth() - 1, 1), last = new Date(now.getFullYear(), now.getMonth(), 0);
  const c = {
    period_start: h("input", { type: "date", name: "period_start", value: isoDate(first), required: true }),
    period_end: h("input", { type: "date", name: "period_end", value: isoDate(last), required: true }),
    group_by: h("select", { name: "group_by" }, [["department", "Department"], ["user", "Member"], ["billing_mode", "Billing mode"]].map(([v, l]) => h("option", { value: v }, l))),
  };
  const msg = h("p", { class: "field-error", role: "alert" });
  const form = h("form", { id: "invoice-form", "aria-label": "Generate an invoice", novalidate: true },
    h("div", { class: "form-grid" }, field("Period start", c.period_start), field("Period end", c.period_end), field("Group by", c.group_by)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Generate"), msg));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const x of Object.values(c)) setFieldError(x, "");
    msg.textContent = "";
    try {
      const ans = await post("/api/billing/invoices/generate", { period_start: c.period_start.value, period_end: c.period_end.value, group_by: c.group_by.value });
      done(ans.invoice);
    } catch (err) {
      const name = err instanceof APIError ? err.field : "";
      if (c[name]) setFieldError(c[name], err.message); else msg.textContent = err.message;
    }
  });
  return form;
}

function showInvoice(inv) {
  const sub = Object.entries(inv.subtotals || {});
  return h("div", { id: "invoice" },
    h("h3", {}, `Invoice ${inv.number} · ${inv.period_start} → ${inv.period_end}`),
    table([
      { key: "group", label: "Group", fmt: (l) => l.email || l.group },
      { key: "model", label: "Model" },
      { key: "requests", label: "Requests", num: true, fmt: (l) => fmtInt(l.requests) },
      { key: "input_tokens", label: "Input tokens", num: true, fmt: (l) => fmtInt(l.input_tokens) },
      { key: "output_tokens", label: "Output tokens", num: true, fmt: (l) => fmtInt(l.output_tokens) },
      { key: "cost_usd", label: "Cost", num: true, fmt: (l) => fmtUSD(l.cost_usd) },
    ], inv.lines || [], { label: "Invoice lines", empty: "No usage in this period." }),
    table([{ key: 0, label: "Subtotal" }, { key: 1, label: "Amount", num: true, fmt: (r) => fmtUSD(r[1]) }],
      [...sub, ["Organisation pays", inv.org_pays], ["Members pay", inv.member_pays], ["Total", inv.total]], { label: "Invoice totals" }));
}
