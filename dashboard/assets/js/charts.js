// Charts with uPlot (vendored in /ui/vendor, see make vendor-ui). Colours
// come from the stylesheet's custom properties, so charts follow the
// light/dark preference; they resize with their container.
import uPlot from "/ui/vendor/uplot.esm.js";
import { h } from "./dom.js";

const live = new Set();

// Axis steps of a chart of counts: whole numbers only.
const integerSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function palette() { return [1, 2, 3, 4, 5, 6].map((i) => css("--chart-" + i)); }

/**
 * A time-series chart. xs: unix seconds; series: [{label, values, fmt}].
 * opts.bars draws bars instead of lines; opts.integer keeps the y axis on
 * whole numbers; opts.label names the chart for screen readers; opts.height
 * (px). Returns the container element.
 */
export function timeChart(xs, series, opts = {}) {
  const el = h("div", { class: "chart", role: "img", "aria-label": opts.label || "chart" });
  if (!xs.length) {
    el.classList.remove("chart");
    el.append(h("p", { class: "empty" }, "No data in this period."));
    return el;
  }
  let plot = null;
  const build = () => {
    if (plot) plot.destroy();
    const colors = palette(), fg = css("--muted"), grid = css("--grid");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const fmtY = series[0]?.fmt || ((v) => String(v));
    const width = Math.max(el.clientWidth || 600, 200);
    plot = new uPlot({
      width,
      height: opts.height || 240,
      legend: { show: series.length > 1 || !!opts.legend },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ ...axis }, { ...axis, size: 70, values: (u, vals) => vals.map((v) => fmtY(v)), incrs: opts.integer ? integerSteps : undefined }],
      series: [{}, ...series.map((s, i) => ({
        label: s.label,
        stroke: colors[i % colors.length],
        width: 2,
        fill: opts.bars || series.length === 1 ? colors[i % colors.length] + "33" : undefined,
        points: { show: xs.length < 3 },
        paths: opts.bars ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined,
        value: (u, v) => (v == null ? "–" : (s.fmt || fmtY)(v)),
      }))],
    }, [xs, ...series.map((s) => s.values)], el);
  };
  const ro = new ResizeObserver(() => {
    if (!el.isConnected) return;
    const w = Math.max(el.clientWidth, 200);
    if (!plot) build();
    else if (Math.abs(plot.width - w) > 2) plot.setSize({ width: w, height: opts.height || 240 });
  });
  ro.observe(el);
  live.add(() => { if (el.isConnected) build(); else { ro.disconnect(); plot?.destroy(); return false; } return true; });
  return el;
}

// Rebuild the charts when the system switches between light and dark.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  for (const f of [...live]) if (!f()) live.delete(f);
});

/**
 * The days of period ({start, end}: RFC 3339, end exclusive, as the API
 * answers) as chart x values, with valueOf(row) of the row of each day in
 * rows (keyed by field key, YYYY-MM-DD) or 0.
 */
export function dayAxis(period, rows, key, valueOf) {
  const byDay = new Map(rows.map((r) => [r[key], r]));
  const xs = [], ys = [];
  const d = new Date(period.start.slice(0, 10) + "T00:00:00");
  const end = new Date(period.end.slice(0, 10) + "T00:00:00");
  if (period.end.slice(11, 19) !== "00:00:00") end.setDate(end.getDate() + 1);
  for (let i = 0; d < end && i < 400; i++) {
    const iso = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    xs.push(d.getTime() / 1000);
    const r = byDay.get(iso);
    ys.push(r ? valueOf(r) : 0);
    d.setDate(d.getDate() + 1);
  }
  return [xs, ys];
}
