// Request logs: filters, cursor paging (newest first) and a detail drawer
// with the usage and price breakdown of one request. New requests arrive
// live on the first page when no filter is set.
import { get, session } from "../api.js";
import { h, card, field, errorLine, replace, kv, table } from "../dom.js";
import { fmtInt, fmtUSD, fmtUSDExact, fmtMs, fmtTime } from "../format.js";

const PAGE = 50;
const errorTypes = ["rate_limit", "invalid_request", "auth_error", "timeout", "model_error", "upstream_unreachable", "budget_exceeded"];
const filters = { user_id: "", model: "", status: "", error_type: "" };

export async function render(ctx) {
  const user = h("input", { type: "text", name: "user_id", value: filters.user_id, spellcheck: "false", placeholder: "any" });
  const model = h("input", { type: "text", name: "model", value: filters.model, spellcheck: "false", placeholder: "openai/gpt-4o" });
  const status = h("select", { name: "status" }, [["", "Any"], ["success", "Success"], ["error", "Error"]].map(([v, l]) => h("option", { value: v, selected: v === filters.status }, l)));
  const etype = h("select", { name: "error_type" }, h("option", { value: "" }, "Any"), errorTypes.map((v) => h("option", { value: v, selected: v === filters.error_type }, v)));
  const form = h("form", { class: "toolbar", "aria-label": "Filters" },
    session.admin ? field("Member id", user) : null, field("Model", model), field("Status", status), field("Error type", etype),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Filter")),
    h("div", { class: "field" }, h("button", { type: "reset", class: "secondary" }, "Clear")));
  const tbody = h("tbody", { id: "logs-body" });
  const msg = h("div");
  const prev = h("button", { type: "button", class: "secondary", id: "logs-prev" }, "Newer");
  const next = h("button", { type: "button", class: "secondary", id: "logs-next" }, "Older");
  const pageInfo = h("span", { class: "muted small" });
  const cursors = [""]; // cursor of each page shown so far
  let page = 0;

  const load = async () => {
    msg.replaceChildren();
    tbody.setAttribute("aria-busy", "true");
    try {
      const ans = await get("/api/account/request-logs", { ...ctx.rangeParams(), ...filters, limit: PAGE, cursor: cursors[page] });
      replace(tbody, ans.logs.map(row));
      if (!ans.logs.length) tbody.append(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No request matches.")));
      cursors[page + 1] = ans.next_cursor || null;
      next.disabled = !ans.next_cursor;
      prev.disabled = page === 0;
      pageInfo.textContent = `Page ${page + 1}`;
    } catch (e) {
      replace(msg, errorLine(e));
    } finally {
      tbody.setAttribute("aria-busy", "false");
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    Object.assign(filters, { user_id: user.value.trim(), model: model.value.trim(), status: status.value, error_type: etype.value });
    page = 0; cursors.length = 1;
    load();
  });
  form.addEventListener("reset", () => {
    setTimeout(() => { Object.assign(filters, { user_id: "", model: "", status: "", error_type: "" }); page = 0; cursors.length = 1; load(); });
  });
  next.addEventListener("click", () => { if (cursors[page + 1]) { page++; load(); } });
  prev.addEventListener("click", () => { if (page > 0) { page--; load(); } });

  ctx.onFeed((ev) => {
    if ((ev.type !== "request" && ev.type !== "error") || page !== 0 || Object.values(filters).some(Boolean) || !ctx.rangeIncludesToday()) return;
    tbody.querySelector(".empty")?.parentElement.remove();
    const tr = row({ ...ev, user_id: ev.user_id, error_type: ev.error_type || "" });
    tr.classList.add("new");
    tbody.prepend(tr);
    while (tbody.children.length > PAGE) tbody.lastElementChild.remove();
  });

  await load();
  return h("div", { id: "logs" },
    h("h1", { class: "sr-only" }, "Request logs"),
    card("Request logs", "", form, msg,
      h("div", { class: "table-wrap" }, h("table", { "aria-label": "Request logs" },
        h("thead", {}, h("tr", {}, ["Time", "Member", "Model", "Status", "Input", "Output", "Cost", "Latency", ""].map((c, i) =>
          h("th", { scope: "col", class: i >= 4 && i <= 7 ? "num" : "" }, c)))), tbody)),
      h("div", { class: "actions" }, prev, next, pageInfo)));
}

function row(l) {
  const st = l.status === "error" ? h("span", { class: "status-error" }, l.error_type || "error") : h("span", { class: "status-success" }, "success");
  return h("tr", { dataset: { id: l.id } },
    h("td", {}, fmtTime(l.timestamp)), h("td", {}, l.user_id), h("td", {}, l.model), h("td", {}, st),
    h("td", { class: "num" }, fmtInt(l.input_tokens)), h("td", { class: "num" }, fmtInt(l.output_tokens)),
    h("td", { class: "num" }, fmtUSD(l.cost_usd)), h("td", { class: "num" }, fmtMs(l.latency_ms)),
    h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Details of request ${l.id}`, dataset: { detail: l.id }, onclick: () => openDetails(l.id) }, "Details")));
}

/** Opens the drawer on request id and fills it from the details route. */
export async function openDetails(id) {
  const dlg = document.getElementById("drawer"), body = document.getElementById("drawer-body");
  document.getElementById("drawer-title").textContent = `Request ${id}`;
  replace(body, h("p", { class: "muted" }, "Loading…"));
  if (!dlg.open) dlg.showModal();
  try {
    const d = (await get(`/api/account/request-logs/${encodeURIComponent(id)}/details`)).request;
    replace(body, details(d));
    body.dataset.id = id;
  } catch (e) {
    replace(body, errorLine(e));
  }
}

function details(d) {
  const u = d.usage || {}, pr = d.price || {}, t = d.timings || {};
  const n = (v) => (v == null ? "—" : fmtInt(v));
  const usage = kv([
    ["Input tokens", n(u.input_tokens), { id: "detail-input-tokens" }],
    ["Cached (read)", n(u.cached_tokens)],
    ["Cache write", n(u.cache_write_tokens)],
    u.cache_write_1h_tokens != null ? ["Cache write (1 h)", n(u.cache_write_1h_tokens)] : null,
    ["Output tokens", n(u.output_tokens), { id: "detail-output-tokens" }],
    ["Reasoning", n(u.reasoning_tokens)],
    u.audio_seconds != null ? ["Audio seconds", String(u.audio_seconds)] : null,
    u.web_search_requests != null ? ["Web searches", n(u.web_search_requests)] : null,
    ["Usage source", u.source || ""],
    u.service_tier ? ["Service tier", u.service_tier] : null,
    u.provider_cost_usd != null ? ["Provider's cost", fmtUSDExact(u.provider_cost_usd)] : null,
  ]);
  const parts = pr.parts || [];
  const price = pr.priced
    ? [table([
      { key: "name", label: "Part" },
      { key: "q", label: "Quantity", num: true, fmt: (p) => (p.tokens != null ? fmtInt(p.tokens) + " tok" : p.seconds != null ? p.seconds + " s" : p.requests != null ? fmtInt(p.requests) + " req" : "") },
      { key: "rate", label: "Rate", num: true, fmt: (p) => (p.rate_usd_per_million != null ? `$${p.rate_usd_per_million}/M` : p.rate_usd_per_second != null ? `$${p.rate_usd_per_second}/s` : p.rate_usd_per_request != null ? `$${p.rate_usd_per_request}/req` : "") },
      { key: "cost_usd", label: "Cost", num: true, fmt: (p) => fmtUSDExact(p.cost_usd) },
    ], parts, { label: "Price breakdown" }),
    kv([["Catalog entry", pr.catalog_key || ""], ["Total", h("strong", {}, fmtUSDExact(pr.total_usd)), { id: "detail-cost" }]])]
    : h("p", { class: "muted", id: "detail-cost" }, "Not priced: the catalog has no price for this model.");
  const headers = d.headers ? [h("h3", {}, "Request headers"), kv(Object.entries(d.headers.request || {})), h("h3", {}, "Response headers"), kv(Object.entries(d.headers.response || {}))] : null;
  const bodies = d.bodies ? [h("h3", {}, "Request body"), h("pre", { class: "body" }, d.bodies.request || ""), h("h3", {}, "Response body"), h("pre", { class: "body" }, d.bodies.response || "")] : null;
  return h("div", {},
    kv([["Time", fmtTime(d.timestamp)], ["Member", d.user_id], ["Model", d.model], ["Status", `${d.status}${d.error_type ? " · " + d.error_type : ""} (HTTP ${d.http_status})`],
      ["Category", d.category], ["Department", d.department], ["Billing", d.billing_mode], ["Upstream", d.upstream || d.connection_id],
      d.provider_request_id ? ["Provider request id", d.provider_request_id] : null,
      d.error_message ? ["Error", d.error_message] : null]),
    h("section", {}, h("h3", {}, "Usage"), usage),
    h("section", {}, h("h3", {}, "Price"), price),
    h("section", {}, h("h3", {}, "Timings"), kv([["Latency", fmtMs(t.latency_ms)], ["Time to first byte", fmtMs(t.ttft_ms)], ["Stream", d.stream ? "yes" : "no"],
      ["Request bytes", fmtInt(d.request_bytes)], ["Response bytes", fmtInt(d.response_bytes)]])),
    headers ? h("section", {}, headers) : null,
    bodies ? h("section", {}, bodies) : null);
}
