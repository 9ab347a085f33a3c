// The dashboard's entry point: sign-in, the time range, the hash router and
// the live feed. Pages live in pages/*.js and export render(main, ctx).
import { get, session, setUnauthorizedHandler } from "./api.js";
import { h, replace, errorLine } from "./dom.js";
import { isoDate } from "./format.js";
import * as overview from "./pages/overview.js";
import * as usage from "./pages/usage.js";
import * as insights from "./pages/insights.js";
import * as logs from "./pages/logs.js";
import * as errors from "./pages/errors.js";
import * as alerts from "./pages/alerts.js";
import * as reports from "./pages/reports.js";

const pages = { overview, usage, insights, logs, errors, alerts, reports };
const $ = (id) => document.getElementById(id);

// ---- time range -----------------------------------------------------------

const range = { kind: "30d", start: "", end: "" };

/** The query parameters of the chosen time range. */
function rangeParams() {
  if (range.kind === "custom") return { start_date: range.start, end_date: range.end };
  return { range: range.kind };
}

/** Whether the chosen range includes today (live events count in it). */
function rangeIncludesToday() {
  return range.kind !== "custom" || range.end >= isoDate(new Date());
}

function setupRange() {
  const sel = $("range"), custom = $("custom-range"), start = $("range-start"), end = $("range-end");
  const today = isoDate(new Date());
  start.max = end.max = today;
  sel.addEventListener("change", () => {
    $("range-error").textContent = "";
    if (sel.value === "custom") {
      custom.hidden = false;
      if (!start.value) { const d = new Date(); d.setDate(d.getDate() - 13); start.value = isoDate(d); }
      if (!end.value) end.value = today;
      start.focus();
      return;
    }
    custom.hidden = true;
    range.kind = sel.value;
    route();
  });
  $("range-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (sel.value !== "custom") return;
    if (!start.value || !end.value || start.value > end.value) {
      $("range-error").textContent = "Choose a start date on or before the end date.";
      return;
    }
    $("range-error").textContent = "";
    Object.assign(range, { kind: "custom", start: start.value, end: end.value });
    route();
  });
}

// ---- live feed ------------------------------------------------------------

const feedListeners = new Set();
let ws = null, wsRetry = 0, wsTimer = 0;

/**
 * Opens the feed with key; resolves to the subscription acknowledgement
 * ({org_id, scope, user_id}), which tells who the key belongs to.
 */
function openFeed(key) {
  return new Promise((resolve, reject) => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const sock = new WebSocket(`${proto}//${location.host}/ws/analytics?token=${encodeURIComponent(key)}`);
    let acked = false;
    sock.addEventListener("open", () => {
      sock.send(JSON.stringify({ type: "subscribe", events: ["request", "error", "cost_update", "limit_warning"] }));
    });
    sock.addEventListener("message", (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (!acked) {
        if (ev.type === "subscribed") { acked = true; wsRetry = 0; setLive(true); resolve({ sock, ack: ev }); }
        else if (ev.type === "subscribe_error") reject(new Error(ev.message));
        return;
      }
      for (const f of [...feedListeners]) f(ev);
    });
    sock.addEventListener("close", () => {
      setLive(false);
      if (!acked) { reject(new Error("the live feed refused the connection")); return; }
      if (ws === sock && session.key) scheduleReconnect();
    });
  });
}

function scheduleReconnect() {
  clearTimeout(wsTimer);
  const delay = Math.min(30000, 1000 * 2 ** wsRetry++);
  wsTimer = setTimeout(async () => {
    try { ws = (await openFeed(session.key)).sock; } catch { if (session.key) scheduleReconnect(); }
  }, delay);
}

function setLive(on) {
  const el = $("live");
  el.dataset.state = on ? "on" : "off";
  el.title = on ? "Live feed connected" : "Live feed disconnected";
}

function onFeed(ev) {
  if (ev.type === "limit_warning") {
    const b = $("banner");
    const who = ev.user_id ? `Member ${ev.user_id}` : "The organisation";
    b.textContent = `${who} has reached ${ev.threshold_pct}% of its monthly limit ($${ev.spend_usd} of $${ev.limit_usd}).`;
    b.hidden = false;
  }
}

// ---- sign-in --------------------------------------------------------------

async function signIn(key) {
  // A cheap authenticated call first: a bad key gets the API's own message.
  await get("/api/analytics/metrics", {}, key);
  const { sock, ack } = await openFeed(key);
  session.key = key;
  session.org = ack.org_id;
  session.user = ack.user_id;
  session.scope = ack.scope;
  ws = sock;
}

function showSignIn(msg) {
  $("shell").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = msg || "";
  $("signin-key").focus();
}

function signOut(msg) {
  session.key = "";
  clearTimeout(wsTimer);
  if (ws) { const s = ws; ws = null; s.close(); }
  current?.cleanup?.();
  current = null;
  replace($("main"));
  showSignIn(msg);
}

function enterShell() {
  $("signin").hidden = true;
  $("shell").hidden = false;
  $("who").textContent = session.admin ? `${session.org} · admin` : `${session.user} · ${session.org}`;
  for (const li of document.querySelectorAll("[data-admin]")) li.hidden = !session.admin;
  route();
}

function setupSignIn() {
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("signin-key"), btn = $("signin-submit");
    const key = input.value.trim();
    if (!key) { $("signin-error").textContent = "Enter your API key."; return; }
    btn.disabled = true;
    $("signin-error").textContent = "";
    try {
      await signIn(key);
      input.value = "";
      enterShell();
    } catch (err) {
      input.setAttribute("aria-invalid", "true");
      $("signin-error").textContent = err.status === 401 ? "This key is not valid." : err.message;
    } finally {
      btn.disabled = false;
    }
  });
  $("signout").addEventListener("click", () => signOut(""));
  setUnauthorizedHandler(() => signOut("The key is no longer valid; sign in again."));
}

// ---- router ---------------------------------------------------------------

let current = null;
let renderSeq = 0;

async function route() {
  if (!session.key || !session.org) return;
  let name = location.hash.replace(/^#\/?/, "").split("?")[0] || "overview";
  if (!pages[name] || (name === "reports" && !session.admin)) name = "overview";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  current?.cleanup?.();
  const seq = ++renderSeq;
  performance.mark("infermeter:route", { detail: { page: name, seq } });
  const main = $("main");
  main.setAttribute("aria-busy", "true");
  const listeners = [];
  const ctx = {
    range: { ...range },
    rangeParams,
    rangeIncludesToday,
    /** Registers f for feed events while this page is shown. */
    onFeed(f) { listeners.push(f); feedListeners.add(f); },
    /** Whether this render is still the page shown. */
    get stale() { return seq !== renderSeq; },
    setPeriod(p) { $("period").textContent = p ? `${p.start.slice(0, 10)} → ${endDay(p.end)} (${p.timezone})` : ""; },
  };
  current = { cleanup: () => listeners.forEach((f) => feedListeners.delete(f)) };
  document.title = `${document.querySelector(`#nav a[data-page="${name}"]`).textContent} · infermeter`;
  try {
    const node = await pages[name].render(ctx);
    if (seq !== renderSeq) return;
    replace(main, node);
  } catch (err) {
    if (seq !== renderSeq) return;
    replace(main, h("section", { class: "card" }, h("h2", {}, "Cannot load this page"), errorLine(err)));
  } finally {
    if (seq === renderSeq) {
      main.setAttribute("aria-busy", "false");
      main.dataset.page = name;
      main.dataset.ready = String(seq);
      // For measurements (DevTools, the browser test): when each page was shown.
      performance.mark("infermeter:rendered", { detail: { page: name, seq } });
    }
  }
}

function endDay(end) {
  const d = new Date(end.slice(0, 10) + "T00:00:00");
  if (end.slice(11, 19) === "00:00:00") d.setDate(d.getDate() - 1);
  return isoDate(d);
}

// ---- start ----------------------------------------------------------------

async function start() {
  setupRange();
  setupSignIn();
  feedListeners.add(onFeed);
  $("drawer-close").addEventListener("click", () => $("drawer").close());
  window.addEventListener("hashchange", route);
  if (session.key) {
    try {
      await signIn(session.key);
      enterShell();
      return;
    } catch (err) {
      session.key = "";
      showSignIn(err.status === 401 ? "The key is no longer valid; sign in again." : err.message);
      return;
    }
  }
  showSignIn("");
}

start();
