// Usage: the usage route grouped by member, model, department, billing mode,
// day or a tag, as a sortable table; CSV of the table, and the server's
// export (CSV, JSON, PDF) for admins.
import { get, download, orgPath, saveBlob, session } from "../api.js";
import { h, card, field, sortableTable, errorLine, replace, setFieldError } from "../dom.js";
import { fmtInt, fmtUSD, fmtMs } from "../format.js";

const groups = [
  ["user", "Member", "by_user", (r) => r.email || r.user_id],
  ["model", "Model", "by_model", (r) => r.model],
  ["department", "Department", "by_department", (r) => r.department],
  ["billing_mode", "Billing mode", "by_billing_mode", (r) => r.billing_mode],
  ["day", "Day", "by_day", (r) => r.day],
  ["tag", "Tag", "by_tag", (r) => r.tag],
];

const state = { group: "model", tag: "" };

export async function render(ctx) {
  const groupSel = h("select", { name: "group_by" }, groups.map(([v, label]) => h("option", { value: v, selected: v === state.group }, label)));
  const tagInput = h("input", { type: "text", name: "tag", placeholder: "team", value: state.tag, spellcheck: "false" });
  const tagField = field("Tag key", tagInput);
  tagField.hidden = state.group !== "tag";
  const csvBtn = h("button", { type: "button", class: "secondary", id: "usage-csv" }, "Download CSV");
  const out = h("div", { id: "usage-table" });
  const exportMsg = h("p", { class: "field-error", role: "alert" });
  let rows = [], cols = [];

  const load = async () => {
    const g = groups.find((x) => x[0] === state.group);
    let groupBy = state.group;
    if (groupBy === "tag") {
      if (!state.tag) { setFieldError(tagInput, "Enter the tag key to group by."); replace(out); return; }
      setFieldError(tagInput, "");
      groupBy = "tag:" + state.tag;
    }
    out.setAttribute("aria-busy", "true");
    try {
      const ans = await get(orgPath("/usage"), { ...ctx.rangeParams(), group_by: groupBy });
      ctx.setPeriod(ans.period);
      rows = ans.usage[g[2]] || [];
      cols = [
        { key: "name", label: g[1], sort: g[3], fmt: (r) => g[3](r) || "(none)" },
        { key: "requests", label: "Requests", num: true, fmt: (r) => fmtInt(r.requests) },
        { key: "input_tokens", label: "Input tokens", num: true, fmt: (r) => fmtInt(r.input_tokens) },
        { key: "output_tokens", label: "Output tokens", num: true, fmt: (r) => fmtInt(r.output_tokens) },
        { key: "cached_tokens", label: "Cached", num: true, fmt: (r) => fmtInt(r.cached_tokens) },
        { key: "cost_usd", label: "Cost", num: true, fmt: (r) => fmtUSD(r.cost_usd) },
        { key: "errors", label: "Errors", num: true, fmt: (r) => fmtInt(r.errors) },
        { key: "avg_latency_ms", label: "Avg latency", num: true, fmt: (r) => fmtMs(r.avg_latency_ms) },
      ];
      replace(out, sortableTable(cols, rows, { label: "Usage by " + g[1].toLowerCase(), sortKey: state.group === "day" ? "name" : "cost_usd", desc: state.group !== "day" }));
    } catch (e) {
      replace(out, errorLine(e));
    } finally {
      out.setAttribute("aria-busy", "false");
    }
  };

  groupSel.addEventListener("change", () => { state.group = groupSel.value; tagField.hidden = state.group !== "tag"; load(); });
  tagInput.addEventListener("change", () => { state.tag = tagInput.value.trim(); load(); });
  csvBtn.addEventListener("click", () => {
    const header = cols.map((c) => c.label);
    const keys = ["name", "requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "errors", "avg_latency_ms"];
    const g = groups.find((x) => x[0] === state.group);
    const lines = [header, ...rows.map((r) => keys.map((k) => (k === "name" ? g[3](r) : r[k])))];
    const csv = lines.map((l) => l.map(csvCell).join(",")).join("\r\n") + "\r\n";
    saveBlob(new Blob([csv], { type: "text/csv" }), `usage-by-${state.group}.csv`);
  });

  const exportFmt = h("select", { name: "format" }, ["csv", "json", "pdf"].map((f) => h("option", { value: f }, f.toUpperCase())));
  const exportBtn = h("button", { type: "button", class: "secondary" }, "Export");
  exportBtn.addEventListener("click", async () => {
    exportMsg.textContent = "";
    try {
      await download(orgPath("/export/usage"), { ...ctx.rangeParams(), format: exportFmt.value }, `usage-${session.org}.${exportFmt.value}`);
    } catch (e) { exportMsg.textContent = e.message; }
  });

  await load();
  return h("div", {},
    h("h1", { class: "sr-only" }, "Usage"),
    card("Usage", "", h("div", { class: "toolbar" }, field("Group by", groupSel), tagField, h("div", { class: "field" }, csvBtn)), out),
    session.admin ? card("Export the period", "", h("p", { class: "muted small" }, "Every request of the period (streamed by the server)."),
      h("div", { class: "toolbar" }, field("Format", exportFmt), h("div", { class: "field" }, exportBtn)), exportMsg) : null);
}

function csvCell(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
