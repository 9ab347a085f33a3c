// The admin API client: the member key lives in sessionStorage and goes out
// only as a bearer header (and as ?token= on the WebSocket, which cannot
// carry headers).

const KEY = "infermeter.key";

/** An API failure: status and the API's error code and message. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  /** The parameter the message names ("condition: at column 13: ..." → "condition"). */
  get field() {
    const m = /^([a-z_]+)(?:\[\d+\])?:/.exec(this.message);
    return m ? m[1] : "";
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(v) { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); },
  /** org, user and scope ("org" for an admin, "member") once signed in. */
  org: "", user: "", scope: "",
  get admin() { return this.scope === "org"; },
};

let onUnauthorized = () => {};
/** Sets what happens when the API answers 401 (the key was revoked). */
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

async function request(method, path, body, key = session.key) {
  const init = { method, headers: { Authorization: "Bearer " + key, Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, "network", "cannot reach the server: " + e.message);
  }
  return resp;
}

async function decode(resp) {
  let j = null;
  const text = await resp.text();
  try { j = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok || (j && j.success === false)) {
    const err = (j && j.error) || {};
    if (resp.status === 401) onUnauthorized();
    const msg = err.message || (resp.status === 404 ? "this feature is not available on this server (404)" : `HTTP ${resp.status}`);
    throw new APIError(resp.status, err.code || "http_" + resp.status, msg);
  }
  return j;
}

/** GET path with query params (empty values left out); resolves to the JSON answer. */
export async function get(path, params = {}, key) {
  return decode(await request("GET", withQuery(path, params), undefined, key));
}
/** POST a JSON body. */
export async function post(path, body) { return decode(await request("POST", path, body ?? {})); }
/** DELETE a resource. */
export async function del(path) { return decode(await request("DELETE", path)); }

/** Downloads path (a file answer) as name, with the bearer header. */
export async function download(path, params, name) {
  const resp = await request("GET", withQuery(path, params));
  if (!resp.ok) await decode(resp);
  const blob = await resp.blob();
  saveBlob(blob, name);
}

/** Saves blob as a file named name. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? path + "?" + s : path;
}

/** The org path prefix of the signed-in member. */
export function orgPath(rest) { return `/api/organizations/${encodeURIComponent(session.org)}${rest}`; }
