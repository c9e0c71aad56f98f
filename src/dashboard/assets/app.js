// The signalr-emulator dashboard: polls /dashboard/api/state, follows the live trace over
// Server-Sent Events, and sends test messages through the real REST API with a short-lived
// token the server signs for exactly that path. Plain DOM, no framework, no build step; every
// user-supplied string goes in through textContent.
"use strict";

const MAX_TRACE_LINES = 500;
const POLL_MS = 2000;
const REFRESH_DEBOUNCE_MS = 150;

const $ = (id) => document.getElementById(id);
let events = null;
let refreshTimer = null;
let dropped = 0;
let latest = { hubs: [] };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

async function api(path, init) {
  const response = await fetch(path, { credentials: "same-origin", ...init });
  if (response.status === 401) {
    showLogin((await response.json().catch(() => ({}))).message);
    throw new Error("unauthorized");
  }
  return response;
}

function showLogin(message) {
  if (events) { events.close(); events = null; }
  setLive(false);
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("key").focus();
}

function setLive(live) {
  $("live").textContent = live ? "live" : "offline";
  $("live").className = "pill " + (live ? "live" : "idle");
}

async function refresh() {
  const response = await api("/dashboard/api/state", { cache: "no-store" });
  if (!response.ok) return;
  latest = await response.json();
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = latest.auth === "off";
  const cs = $("connection-string");
  if (cs.value !== latest.connectionString) cs.value = latest.connectionString;
  renderHubs(latest.hubs);
  fillSuggestions();
  if (!events) follow();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), REFRESH_DEBOUNCE_MS);
}

function pick(hub, scope, who) {
  $("send-hub").value = hub;
  $("send-scope").value = scope;
  $("send-who").value = who ?? "";
  updateScope();
}

function renderHubs(hubs) {
  $("hub-count").textContent = `${hubs.length} hub(s)`;
  const container = $("hubs");
  if (hubs.length === 0) {
    container.replaceChildren(el("p", { class: "muted" }, "No hub yet: connect a client or call the REST API."));
    return;
  }
  container.replaceChildren(...hubs.map(renderHub));
}

function renderHub(hub) {
  const rows = hub.connections.map((c) =>
    el("tr", { "data-connection": c.id },
      el("td", { class: "id clickable", title: "send to this connection", onclick: () => pick(hub.name, "connection", c.id) }, c.id),
      el("td", {}, c.transport),
      el("td", {}, c.protocol),
      el("td", {}, c.userId ?? el("span", { class: "muted" }, "anonymous")),
      el("td", {}, c.groups.length ? c.groups.join(", ") : el("span", { class: "muted" }, "none")),
      el("td", { class: "mono" }, `${c.received} / ${c.sent}`),
    ));
  const table = hub.connections.length
    ? el("table", {},
      el("thead", {}, el("tr", {},
        ...["Connection", "Transport", "Protocol", "User", "Groups", "In / out"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows))
    : el("p", { class: "muted" }, "No connections.");
  const tags = (kind, items) => items.length
    ? el("div", { class: "tags" }, el("span", { class: "muted" }, kind === "user" ? "Users:" : "Groups:"),
      ...items.map((item) => el("span", { class: "tag", title: `send to this ${kind}`, onclick: () => pick(hub.name, kind, item.name) },
        el("b", {}, item.name), ` ${item.connections}`)))
    : null;
  const servers = hub.servers.length
    ? el("table", { class: "servers" },
      el("thead", {}, el("tr", {},
        ...["Server connection", "Server id", "Type", "Clients", "In / out"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...hub.servers.map((s) => el("tr", { "data-server-connection": s.id },
        el("td", { class: "id" }, s.id),
        el("td", {}, s.serverId),
        el("td", {}, s.kind),
        el("td", { class: "mono" }, String(s.clients)),
        el("td", { class: "mono" }, `${s.received} / ${s.sent}`)))))
    : null;
  return el("div", { class: "hub", "data-hub": hub.name },
    el("div", { class: "hub-head" },
      el("h3", { class: "clickable", onclick: () => pick(hub.name, "hub") }, hub.name),
      el("span", { class: `tag mode ${hub.mode}`, title: "default: clients are relayed to app servers; serverless: REST and upstream" }, `${hub.mode} mode`),
      el("span", { class: "muted" }, `${hub.connections.length} connection(s), ${hub.users.length} user(s), ${hub.groups.length} group(s), ${hub.servers.length} app-server connection(s)`)),
    servers, table, tags("user", hub.users), tags("group", hub.groups));
}

function describe(event) {
  const who = event.connectionId ?? "";
  switch (event.type) {
    case "connected":
      return `${who} connected over ${event.transport} (${event.protocol})${event.userId ? ` as user ${event.userId}` : ""}`;
    case "disconnected":
      return `${who} disconnected: ${event.reason}`;
    case "invocation":
      return `${who} invoked ${event.target}`;
    case "sent":
      return `REST send of ${event.target} to ${event.to}: ${event.recipients} recipient(s)`;
    case "closed":
      return `REST close of ${event.to}: ${event.count} connection(s)${event.reason ? ` (reason: ${event.reason})` : ""}`;
    case "serverConnected":
      return `app server ${event.serverId} connected (${event.serverKind} connection ${event.serverConnection})`;
    case "serverDisconnected":
      return `app-server connection ${event.serverConnection} closed: ${event.reason}`;
    case "serverMessage":
      return `app-server connection ${event.serverConnection} sent ${event.message}`;
    default:
      return JSON.stringify(event);
  }
}

function addTrace(event) {
  const time = new Date(event.atMs).toISOString().slice(11, 23);
  const line = el("li", { "data-type": event.type },
    el("span", { class: "time" }, time),
    el("span", { class: `kind ${event.type}` }, event.type),
    el("span", {}, el("span", { class: "muted" }, `${event.hub} · `), describe(event)));
  const list = $("trace");
  list.prepend(line);
  while (list.children.length > MAX_TRACE_LINES) list.lastElementChild.remove();
}

function follow() {
  events = new EventSource("/dashboard/api/events");
  events.onopen = () => setLive(true);
  events.addEventListener("trace", (message) => {
    addTrace(JSON.parse(message.data));
    scheduleRefresh();
  });
  events.addEventListener("dropped", (message) => {
    dropped += Number(message.data);
    const notice = $("dropped");
    notice.hidden = false;
    notice.textContent = `${dropped} trace line(s) were dropped because this page fell behind; connections are never slowed down for the dashboard.`;
  });
  events.onerror = () => {
    setLive(false);
    // A closed stream (e.g. the session expired) is not retried by the browser: check why.
    if (events && events.readyState === EventSource.CLOSED) {
      events = null;
      setTimeout(() => refresh().catch(() => {}), 1000);
    }
  };
}

function fillSuggestions() {
  $("hub-names").replaceChildren(...latest.hubs.map((h) => el("option", { value: h.name })));
  if (!$("send-hub").value && latest.hubs.length) $("send-hub").value = latest.hubs[0].name;
  const hub = latest.hubs.find((h) => h.name === $("send-hub").value.toLowerCase());
  const scope = $("send-scope").value;
  const names = !hub ? [] : scope === "user" ? hub.users.map((u) => u.name)
    : scope === "group" ? hub.groups.map((g) => g.name)
      : scope === "connection" ? hub.connections.map((c) => c.id) : [];
  $("who-names").replaceChildren(...names.map((name) => el("option", { value: name })));
}

function updateScope() {
  const scope = $("send-scope").value;
  $("send-who-label").hidden = scope === "hub";
  $("send-who").required = scope !== "hub";
  fillSuggestions();
}

function restPath(hub, scope, who) {
  const e = encodeURIComponent;
  const base = `/api/hubs/${e(hub)}`;
  switch (scope) {
    case "user": return `${base}/users/${e(who)}/:send`;
    case "group": return `${base}/groups/${e(who)}/:send`;
    case "connection": return `${base}/connections/${e(who)}/:send`;
    default: return `${base}/:send`;
  }
}

async function send(form) {
  const result = $("send-result");
  let args;
  try {
    args = JSON.parse(form.arguments.value);
    if (!Array.isArray(args)) throw new Error("not an array");
  } catch (err) {
    result.textContent = `Arguments must be a JSON array (${err.message}).`;
    result.className = "error";
    return;
  }
  const path = restPath(form.hub.value.trim(), form.scope.value, form.who.value.trim());
  const grant = await api("/dashboard/api/rest-token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ path }),
  });
  if (!grant.ok) {
    result.textContent = (await grant.json()).message;
    result.className = "error";
    return;
  }
  const { token } = await grant.json();
  const response = await fetch(`${path}?api-version=2024-12-01`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ target: form.target.value.trim(), arguments: args }),
  });
  const detail = response.ok ? "" : ` ${(await response.text()).slice(0, 300)}`;
  result.textContent = `POST ${path} → ${response.status}${detail}`;
  result.className = response.ok ? "muted" : "error";
}

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  send(event.target).catch((err) => {
    $("send-result").textContent = `Failed: ${err.message}`;
    $("send-result").className = "error";
  });
});
$("send-scope").addEventListener("change", updateScope);
$("send-hub").addEventListener("change", fillSuggestions);
$("clear-trace").addEventListener("click", () => $("trace").replaceChildren());
$("copy").addEventListener("click", async () => {
  const input = $("connection-string");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1500);
});
$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/dashboard/login", {
    method: "POST",
    credentials: "same-origin",
    body: new URLSearchParams({ key: $("key").value }),
  });
  if (!response.ok) {
    $("login-error").textContent = (await response.json().catch(() => ({}))).message ?? `Login failed (${response.status}).`;
    return;
  }
  $("key").value = "";
  refresh().catch(() => {});
});
$("logout").addEventListener("click", async () => {
  await fetch("/dashboard/logout", { method: "POST", credentials: "same-origin" });
  showLogin("Logged out.");
});

updateScope();
refresh().catch(() => {});
setInterval(() => { if (!$("app").hidden) refresh().catch(() => {}); }, POLL_MS);
