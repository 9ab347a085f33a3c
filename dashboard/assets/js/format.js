// Number and date formatting, one place for every page (the browser test
// formats the API's numbers the same way).

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 1234567 → "1,234,567". */
export function fmtInt(n) { return int.format(Math.round(Number(n) || 0)); }

/** Money: "$1,234.57" from 1 USD up, "$0.1234" below (4 decimals), "$0" for zero. */
export function fmtUSD(v) {
  v = Number(v) || 0;
  if (v === 0) return "$0";
  const a = Math.abs(v);
  if (a >= 1) return (v < 0 ? "-$" : "$") + new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(a);
  return (v < 0 ? "-$" : "$") + a.toFixed(4);
}

/** Money to the nano-dollar, as the API stores it: "$0.00021". */
export function fmtUSDExact(v) {
  v = Number(v) || 0;
  let s = Math.abs(v).toFixed(9).replace(/0+$/, "").replace(/\.$/, "");
  return (v < 0 ? "-$" : "$") + s;
}

/** A 0..1 ratio as "12.3%". */
export function fmtRate(r) { return ((Number(r) || 0) * 100).toFixed(1) + "%"; }

/** A percentage value (already ×100) as "12.3%". */
export function fmtPct(p) { return (Number(p) || 0).toFixed(1) + "%"; }

/** Milliseconds as "1,234 ms". */
export function fmtMs(ms) { return fmtInt(ms) + " ms"; }

/** An RFC 3339 timestamp as a local date and time. */
export function fmtTime(ts) {
  const d = new Date(ts);
  if (isNaN(d)) return ts || "";
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Local YYYY-MM-DD of a Date. */
export function isoDate(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
