// Cost insights: total and trend against the previous period, cost per day,
// cost by category, the top cost drivers and the data-driven
// recommendations of the cost-insights route.
import { get, orgPath } from "../api.js";
import { h, card, bars, kv, table } from "../dom.js";
import { timeChart, dayAxis } from "../charts.js";
import { fmtInt, fmtUSD, fmtPct } from "../format.js";

export async function render(ctx) {
  const p = ctx.rangeParams();
  const [ins, byDay] = await Promise.all([
    get("/api/account/cost-insights", p),
    get(orgPath("/usage"), { ...p, group_by: "day" }),
  ]);
  const i = ins.insights;
  ctx.setPeriod(byDay.period);
  const tr = i.cost_trend || {};
  const dir = tr.direction || "flat";
  const trend = h("span", { class: "pill " + (dir === "up" ? "up" : dir === "down" ? "down" : "") },
    dir === "up" ? "▲ " : dir === "down" ? "▼ " : "", tr.percentage == null ? dir : `${fmtPct(Math.abs(tr.percentage))} ${dir}`);
  const [xs, ys] = dayAxis(byDay.period, byDay.usage.by_day, "day", (r) => r.cost_usd);
  const cats = Object.entries(i.cost_by_category || {}).map(([k, v]) => ({ name: k, value: v, label: fmtUSD(v) })).sort((a, b) => b.value - a.value);

  return h("div", { id: "insights" },
    h("h1", { class: "sr-only" }, "Cost insights"),
    h("div", { class: "grid" },
      card("Total cost", "span-4",
        h("div", { class: "metric" }, h("div", { class: "value", id: "insights-total" }, fmtUSD(i.total_cost))),
        h("p", {}, trend, " vs the previous period"),
        kv([["Previous period", fmtUSD(tr.previous_period)], ["Requests", fmtInt(i.total_requests)]])),
      card("Cost trend", "span-8", timeChart(xs, [{ label: "Cost", values: ys, fmt: fmtUSD }], { label: "Cost per day" })),
      card("Cost by category", "span-4", bars(cats, { label: "Cost by category" })),
      card("Top cost drivers", "span-8", table([
        { key: "model", label: "Model" },
        { key: "requests", label: "Requests", num: true, fmt: (r) => fmtInt(r.requests) },
        { key: "cost", label: "Cost", num: true, fmt: (r) => fmtUSD(r.cost) },
      ], i.top_cost_drivers || [], { label: "Top cost drivers" })),
      card("Recommendations", "span-12", recommendations(i.recommendations || []))));
}

function recommendations(recs) {
  if (!recs.length) return h("p", { class: "empty" }, "No recommendation for this period: nothing stands out.");
  return h("ol", { class: "recs" }, recs.map((r) => h("li", {},
    h("strong", {}, title(r.type)), r.model ? ` · ${r.model}` : "", h("br"),
    r.message || "",
    r.estimated_savings != null ? h("div", { class: "muted small" },
      `Estimated savings ${fmtUSD(r.estimated_savings)} in the period` +
      (r.estimated_monthly_savings != null ? `, ${fmtUSD(r.estimated_monthly_savings)} a month` : "")) : null)));
}

function title(t) { return String(t || "recommendation").replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()); }
