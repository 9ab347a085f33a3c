// Errors: totals and rate, errors per day by model (the query API), and the
// breakdowns by type and by model of the errors route.
import { get, post } from "../api.js";
import { h, card, kv, sortableTable, bars } from "../dom.js";
import { timeChart } from "../charts.js";
import { fmtInt, fmtRate } from "../format.js";

export async function render(ctx) {
  const p = ctx.rangeParams();
  const [rep, q] = await Promise.all([
    get("/api/account/errors", p),
    post("/api/analytics/query", { metrics: ["errors"], dimensions: ["day", "model"], filters: { ...p }, limit: 10000 }).catch(() => null),
  ]);
  const e = rep.errors;
  if (e.period) ctx.setPeriod(e.period);

  // Errors per day, one series per model (the five with most errors).
  const days = (e.by_day || []).map((d) => d.day);
  const models = (e.by_model || []).filter((m) => m.errors > 0).slice(0, 5).map((m) => m.model);
  const xs = days.map((d) => new Date(d + "T00:00:00").getTime() / 1000);
  let series = [{ label: "All errors", values: (e.by_day || []).map((d) => d.errors), fmt: fmtInt }];
  if (q && q.rows && models.length) {
    const cell = new Map(q.rows.map((r) => [r.day + "|" + r.model, r.errors]));
    series = series.concat(models.map((m) => ({ label: m, values: days.map((d) => cell.get(d + "|" + m) || 0), fmt: fmtInt })));
  }

  return h("div", { id: "errors" },
    h("h1", { class: "sr-only" }, "Errors"),
    h("div", { class: "grid" },
      card("Errors", "span-4",
        h("div", { class: "metric" }, h("div", { class: "value", id: "errors-rate" }, fmtRate(e.error_rate))),
        kv([["Errors", fmtInt(e.total_errors)], ["Requests", fmtInt(e.total_requests)]])),
      card("Errors over time, by model", "span-8", timeChart(xs, series, { label: "Errors per day by model", legend: true, integer: true })),
      card("By type", "span-4", bars((e.by_type || []).map((t) => ({ name: t.type, value: t.count, label: fmtInt(t.count) })), { label: "Errors by type", empty: "No errors in this period." })),
      card("By model", "span-8", sortableTable([
        { key: "model", label: "Model" },
        { key: "errors", label: "Errors", num: true, fmt: (r) => fmtInt(r.errors) },
        { key: "requests", label: "Requests", num: true, fmt: (r) => fmtInt(r.requests) },
        { key: "error_rate", label: "Error rate", num: true, fmt: (r) => fmtRate(r.error_rate) },
      ], e.by_model || [], { label: "Errors by model", sortKey: "errors" }))));
}
