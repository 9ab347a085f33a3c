// A tiny DOM builder: every page builds nodes with h(), never with
// innerHTML, so API strings can never become markup.

/**
 * h("td", {class: "num"}, "12") builds an element. Attributes: class, text,
 * on<event> (listeners), dataset (object), style (object), anything else set
 * as an attribute (false/null/undefined left out). Children: nodes, strings,
 * numbers, arrays, null.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") Object.assign(el.style, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "hidden") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let seq = 0;
/** A unique element id with prefix p. */
export function uid(p) { return `${p}-${++seq}`; }

/** A labelled form field: label + control + an error line tied by aria-describedby. */
export function field(label, control, opts = {}) {
  control.id ||= uid("f");
  const err = h("p", { class: "field-error", id: control.id + "-error", role: "alert" });
  control.setAttribute("aria-describedby", err.id);
  return h("div", { class: "field" + (opts.wide ? " wide" : "") }, h("label", { for: control.id }, label), control,
    opts.hint ? h("span", { class: "muted small" }, opts.hint) : null, err);
}

/** Shows msg under control (or clears it with ""). */
export function setFieldError(control, msg) {
  const err = document.getElementById(control.id + "-error");
  if (err) err.textContent = msg || "";
  if (msg) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
}

/** A card with a title. */
export function card(title, cls, ...children) {
  return h("section", { class: "card " + (cls || ""), "aria-label": title }, title ? h("h2", {}, title) : null, ...children);
}

/** An error line for a failed load. */
export function errorLine(e) {
  return h("p", { class: "field-error", role: "alert" }, e && e.message ? e.message : String(e));
}

/**
 * A sortable table. cols: [{key, label, num, fmt(row) → text, sort(row) → value}].
 * Clicking a header sorts by that column; a second click reverses.
 */
export function sortableTable(cols, rows, opts = {}) {
  let sortKey = opts.sortKey || "", desc = opts.desc ?? true;
  const tbody = h("tbody");
  const ths = cols.map((c) => {
    const th = h("th", { scope: "col", class: c.num ? "num" : "" });
    if (c.sortable === false) th.textContent = c.label;
    else th.append(h("button", { type: "button", class: "sort", onclick: () => {
      if (sortKey === c.key) desc = !desc; else { sortKey = c.key; desc = !!c.num; }
      render();
    } }, c.label));
    return th;
  });
  const val = (c, r) => (c.sort ? c.sort(r) : r[c.key]);
  function render() {
    const list = rows.slice();
    const c = cols.find((x) => x.key === sortKey);
    if (c) {
      list.sort((a, b) => {
        const x = val(c, a), y = val(c, b);
        const d = typeof x === "number" && typeof y === "number" ? x - y : String(x ?? "").localeCompare(String(y ?? ""));
        return desc ? -d : d;
      });
    }
    ths.forEach((th, i) => {
      if (cols[i].key === sortKey) th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    replace(tbody, list.map((r) => h("tr", {}, cols.map((c) => h("td", { class: c.num ? "num" : "" }, c.fmt ? c.fmt(r) : r[c.key] ?? "")))));
    if (!list.length) tbody.append(h("tr", {}, h("td", { colspan: cols.length, class: "empty" }, opts.empty || "No data in this period.")));
  }
  render();
  return h("div", { class: "table-wrap" }, h("table", { "aria-label": opts.label || "" }, h("thead", {}, h("tr", {}, ths)), tbody));
}

/** A plain table. cols like sortableTable; rows rendered as given. */
export function table(cols, rows, opts = {}) {
  return sortableTable(cols.map((c) => ({ ...c, sortable: false })), rows, opts);
}

/** A ranked bar list: items [{name, value, label}]. */
export function bars(items, opts = {}) {
  if (!items.length) return h("p", { class: "empty" }, opts.empty || "No data in this period.");
  const max = Math.max(...items.map((i) => i.value), 0) || 1;
  return h("ul", { class: "bars", "aria-label": opts.label || "" }, items.map((i) =>
    h("li", {}, h("span", { class: "name", title: i.name }, i.name), h("span", { class: "val" }, i.label),
      h("span", { class: "bar", "aria-hidden": "true" }, h("span", { style: { width: (100 * i.value / max).toFixed(1) + "%" } })))));
}

/** A definition list from [[term, value], ...]. */
export function kv(pairs, attrs) {
  return h("dl", { class: "kv", ...attrs }, pairs.filter(Boolean).map(([k, v, a]) => [h("dt", {}, k), h("dd", a || {}, v)]));
}
