// The signalr-emulator dashboard: polls /dashboard/api/state, shows the live trace (trace.js),
// and sends test messages through the real REST API with a short-lived token the server signs
// for exactly that path. Plain DOM, no framework, no build step; uses dom.js.
"use strict";

const POLL_MS = 2000;
const REFRESH_DEBOUNCE_MS = 150;

let refreshTimer = null;
let latest = { hubs: [] };
// Whether this page has shown the dashboard: a 401 then means the session ended, which is
// worth saying; before that, the login card needs no error.
let wasIn = false;

async function api(path, init) {
  const response = await fetch(path, { credentials: "same-origin", ...init });
  if (response.status === 401) {
    showLogin(wasIn ? "Your session ended: log in again." : "");
    throw new Error("unauthorized");
  }
  return response;
}

function showLogin(message) {
  dashboardTrace.stop();
  wasIn = false;
  setLive(false);
  $("app").hidden = true;
  $("header-app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
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
  wasIn = true;
  $("login").hidden = true;
  $("app").hidden = false;
  $("header-app").hidden = false;
  $("logout").hidden = latest.auth === "off";
  const cs = $("connection-string");
  if (cs.value !== latest.connectionString) cs.value = latest.connectionString;
  dashboardNodes.render(latest.cluster);
  renderHubs(dashboardNodes.mergeHubs(latest.hubs, latest.cluster));
  fillSuggestions();
  if (!dashboardTrace.following()) follow();
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
  $("hub-count").textContent = plural(hubs.length, "hub");
  const container = $("hubs");
  if (hubs.length === 0) {
    container.replaceChildren(el("p", { class: "muted" }, "No hub yet: connect a client or call the REST API."));
    return;
  }
  container.replaceChildren(...hubs.map(renderHub));
}

function renderHub(hub) {
  // With a cluster, each connection names its node; another node's connection shows what that
  // node's mirror in Redis says (id and user), the rest only its holder knows.
  const clustered = Boolean(latest.cluster);
  const elsewhere = () => el("span", { class: "muted" }, "—");
  const rows = hub.connections.map((c) =>
    el("tr", { "data-connection": c.id, ...(clustered ? { "data-node": c.node } : {}) },
      el("td", { class: "id clickable", title: "send to this connection", onclick: () => pick(hub.name, "connection", c.id) }, c.id),
      clustered ? dashboardNodes.nodeCell(c) : null,
      el("td", {}, c.remote ? elsewhere() : c.transport),
      el("td", {}, c.remote ? elsewhere() : c.protocol),
      el("td", {}, c.userId ?? el("span", { class: "muted" }, "anonymous")),
      el("td", {}, c.remote ? elsewhere() : c.groups.length ? c.groups.join(", ") : el("span", { class: "muted" }, "none")),
      el("td", { class: "mono" }, c.remote ? elsewhere() : `${c.received} / ${c.sent}`),
    ));
  const headings = ["Connection", ...(clustered ? ["Node"] : []), "Transport", "Protocol", "User", "Groups", "In / out"];
  const table = hub.connections.length
    ? el("table", {},
      el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
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
      hub.mode
        ? el("span", { class: `tag mode ${hub.mode}`, title: "default: clients are relayed to app servers; serverless: REST and upstream" }, `${hub.mode} mode`)
        : el("span", { class: "tag mode" }, "on other nodes only"),
      el("span", { class: "muted" }, [plural(hub.connections.length, "connection"), plural(hub.users.length, "user"), plural(hub.groups.length, "group"), plural(hub.servers.length, "app-server connection")].join(", "))),
    servers, table, tags("user", hub.users), tags("group", hub.groups));
}

function follow() {
  dashboardTrace.follow({
    onOpen: () => setLive(true),
    onEvent: scheduleRefresh,
    onClosed: (closed) => {
      setLive(false);
      // A closed stream is not retried by the browser: find out why (e.g. the session ended).
      if (closed) setTimeout(() => refresh().catch(() => {}), 1000);
    },
  });
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
  showLogin("");
});

updateScope();
refresh().catch(() => {});
setInterval(() => { if (!$("app").hidden) refresh().catch(() => {}); }, POLL_MS);
