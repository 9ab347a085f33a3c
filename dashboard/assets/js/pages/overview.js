// Overview: the six metrics (live from the feed), cost over time, top
// models, members and departments, the budget gauge with its projection,
// and the latest requests as they arrive. Four usage calls in parallel, all
// served from the day-level rollups.
import { get, post, orgPath, session } from "../api.js";
import { h, card, bars, kv } from "../dom.js";
import { timeChart, dayAxis } from "../charts.js";
import { fmtInt, fmtUSD, fmtRate, fmtMs, fmtPct, fmtTime } from "../format.js";

export async function render(ctx) {
  const p = ctx.rangeParams();
  const today = ctx.range.kind === "today";
  const [byDay, byModel, byUser, byDept, hourly] = await Promise.all([
    get(orgPath("/usage"), { ...p, group_by: "day", include_budget: "true" }),
    get(orgPath("/usage"), { ...p, group_by: "model" }),
    session.admin ? get(orgPath("/usage"), { ...p, group_by: "user" }) : null,
    get(orgPath("/usage"), { ...p, group_by: "department" }),
    today ? post("/api/analytics/query", { metrics: ["cost", "requests"], dimensions: ["hour"], filters: { range: "today" }, limit: 1000 }).catch(() => null) : null,
  ]);
  ctx.setPeriod(byDay.period);
  const o = byDay.overview;

  // The running totals the feed adds to.
  const t = {
    requests: o.requests, tokens: o.input_tokens + o.output_tokens, cost: o.cost_usd, errors: o.errors,
    latencySum: o.avg_latency_ms * o.requests,
    users: new Set(byUser ? byUser.usage.by_user.map((r) => r.user_id) : []), active: o.active_members,
  };
  const m = {
    requests: metric("requests", "Total requests"),
    tokens: metric("tokens", "Token consumption"),
    cost: metric("cost", "Total cost"),
    members: metric("members", "Active members"),
    errorRate: metric("error-rate", "Error rate"),
    latency: metric("latency", "Average latency"),
  };
  const paint = (flash) => {
    set(m.requests, fmtInt(t.requests), "", flash);
    set(m.tokens, fmtInt(t.tokens), `${fmtInt(o.input_tokens)} in · ${fmtInt(o.output_tokens)} out`, false);
    set(m.cost, fmtUSD(t.cost), o.unpriced_requests ? `${fmtInt(o.unpriced_requests)} unpriced requests` : "", flash);
    set(m.members, fmtInt(t.active), "", false);
    set(m.errorRate, fmtRate(t.requests ? t.errors / t.requests : 0), `${fmtInt(t.errors)} errors`, flash);
    set(m.latency, fmtMs(t.requests ? Math.floor(t.latencySum / t.requests) : 0), `p95 ${fmtMs(o.p95_latency_ms)}`, flash);
  };
  paint(false);

  // Cost over time: hourly for today, daily otherwise.
  let chart;
  if (hourly && hourly.rows) {
    const rows = hourly.rows.slice().sort((a, b) => a.hour.localeCompare(b.hour));
    chart = timeChart(rows.map((r) => Date.parse(r.hour) / 1000), [{ label: "Cost", values: rows.map((r) => r.cost), fmt: fmtUSD }],
      { label: "Cost per hour", bars: true });
  } else {
    const [xs, ys] = dayAxis(byDay.period, byDay.usage.by_day, "day", (r) => r.cost_usd);
    chart = timeChart(xs, [{ label: "Cost", values: ys, fmt: fmtUSD }], { label: "Cost per day", bars: xs.length <= 14 });
  }

  const top = (rows, name) => bars(rows.slice(0, 6).map((r) => ({ name: name(r), value: r.cost_usd, label: `${fmtUSD(r.cost_usd)} · ${fmtInt(r.requests)} req` })));
  const liveList = h("ul", { class: "feed-list", id: "live-list", "aria-live": "polite", "aria-label": "Latest requests" });
  const liveEmpty = h("p", { class: "empty", id: "live-empty" }, "Requests appear here as they are metered.");

  ctx.onFeed((ev) => {
    if (ev.type !== "request" && ev.type !== "error") return;
    liveEmpty.hidden = true;
    const li = h("li", { class: "new", dataset: { id: ev.id, type: ev.type } },
      h("span", {}, h("span", { class: ev.type === "error" ? "status-error" : "status-success" }, ev.type === "error" ? ev.error_type : "ok"), " ",
        ev.model, " · ", ev.user_id),
      h("span", { class: "muted" }, ev.type === "error" ? "" : `${fmtInt(ev.input_tokens)} in · ${fmtInt(ev.output_tokens)} out · `,
        fmtUSD(ev.cost_usd), " · ", fmtMs(ev.latency_ms), " · ", fmtTime(ev.timestamp)));
    liveList.prepend(li);
    while (liveList.children.length > 20) liveList.lastElementChild.remove();
    if (!ctx.rangeIncludesToday()) return;
    t.requests++;
    t.cost += Number(ev.cost_usd) || 0;
    t.latencySum += ev.latency_ms || 0;
    if (ev.type === "error") t.errors++;
    else t.tokens += (ev.input_tokens || 0) + (ev.output_tokens || 0);
    if (session.admin && !t.users.has(ev.user_id)) { t.users.add(ev.user_id); t.active = t.users.size; }
    if (!session.admin) t.active = 1;
    paint(true);
  });

  return h("div", { id: "overview" },
    h("h1", { class: "sr-only" }, "Overview"),
    h("div", { class: "metrics", role: "group", "aria-label": "Key metrics" }, Object.values(m).map((x) => x.el)),
    h("div", { class: "grid" },
      card(today ? "Cost per hour" : "Cost per day", "span-8", chart),
      card("Budget", "span-4", budget(byDay.budget)),
      card("Top models", "span-4", top(byModel.usage.by_model, (r) => r.model)),
      session.admin ? card("Top members", "span-4", top(byUser.usage.by_user, (r) => r.email || r.user_id)) : null,
      card("Top departments", "span-4", top(byDept.usage.by_department, (r) => r.department || "(none)")),
      card("Live requests", session.admin ? "span-12" : "span-4", liveEmpty, liveList)));
}

function metric(id, label) {
  const value = h("div", { class: "value", id: "ov-" + id, "aria-live": "polite" });
  const sub = h("div", { class: "sub" });
  const el = h("section", { class: "card metric", "aria-labelledby": "ov-" + id + "-label" },
    h("div", { class: "label", id: "ov-" + id + "-label" }, label), value, sub);
  return { el, value, sub };
}

function set(x, text, sub, flash) {
  if (x.value.textContent !== text && flash) {
    x.el.classList.remove("flash");
    void x.el.offsetWidth;
    x.el.classList.add("flash");
  }
  x.value.textContent = text;
  x.sub.textContent = sub;
}

function budget(b) {
  if (!b) return h("p", { class: "empty" }, "No budget information.");
  const scope = b.scope === "member" ? "Your monthly limit" : "Organisation budget";
  if (b.monthly_limit == null) {
    return h("div", { class: "gauge", id: "budget" }, h("p", { class: "muted" }, `${scope}: none set.`),
      kv([["Spent this month", fmtUSD(b.current_spend)], ["Projected", fmtUSD(b.projected_spend)], ["Days left", fmtInt(b.days_remaining)]]));
  }
  const pct = Math.min(100, b.percentage_used || 0);
  const projPct = Math.min(100, (100 * b.projected_spend) / b.monthly_limit);
  const level = b.exceeded || projPct >= 100 ? "bad" : projPct >= 80 ? "warn" : "ok";
  const track = h("div", { class: "track" },
    h("span", { class: "proj", style: { width: projPct.toFixed(1) + "%" } }),
    h("span", { class: "spent", style: { width: pct.toFixed(1) + "%" } }));
  return h("div", { class: "gauge", id: "budget", dataset: { level } },
    h("div", {}, h("span", { class: "big" }, fmtPct(b.percentage_used)), h("span", { class: "muted" }, ` of ${fmtUSD(b.monthly_limit)} · ${scope.toLowerCase()}`)),
    h("div", { role: "meter", "aria-label": "Budget used", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": pct.toFixed(1),
      "aria-valuetext": `${fmtPct(b.percentage_used)} used, ${fmtUSD(b.projected_spend)} projected` }, track),
    kv([["Spent this month", fmtUSD(b.current_spend)],
      ["Projected by month end", fmtUSD(b.projected_spend)],
      ["Runs out on", b.projected_exhaustion_date || "not this month"],
      ["Days left", fmtInt(b.days_remaining)]]));
}

