// The dashboard's live trace: follows /dashboard/api/events (which first replays each hub's
// backlog, then streams), keeps the last events in memory, and shows them filtered by hub,
// connection, user, group and kind, with payload previews that expand, a pause switch and a
// JSON-lines export. Uses dom.js.
"use strict";

const dashboardTrace = (() => {
  const MAX_EVENTS = 2000;
  const MAX_LINES = 500;
  const SUMMARY_CHARS = 100;

  let source = null;
  let events = [];
  let paused = false;
  let unseen = 0;
  let dropped = 0;
  // Connection id → user id, from `connected` events, so a user filter also finds the
  // invocations of that user's connections.
  const users = new Map();

  const filter = () => ({
    hub: $("trace-hub").value,
    connection: $("trace-connection").value.trim(),
    user: $("trace-user").value.trim(),
    group: $("trace-group").value.trim(),
    kind: $("trace-kind").value,
  });

  const addressedTo = (event, kind, name) =>
    event.to === `${kind} ${name}` || (kind === "group" && event.to?.startsWith("groups ") && event.to.slice(7).split(",").includes(name));

  function matches(event, f) {
    if (f.hub && event.hub !== f.hub) return false;
    if (f.kind && event.type !== f.kind) return false;
    if (f.connection && !(event.connectionId ?? "").includes(f.connection)) return false;
    if (f.user) {
      const user = event.userId ?? users.get(event.connectionId);
      if (user !== f.user && !addressedTo(event, "user", f.user)) return false;
    }
    if (f.group && event.group !== f.group && !addressedTo(event, "group", f.group)) return false;
    return true;
  }

  function payload(preview) {
    if (!preview) return null;
    const short = preview.text.length > SUMMARY_CHARS ? `${preview.text.slice(0, SUMMARY_CHARS)}…` : preview.text;
    const full = preview.truncated ? `${preview.text}\n… (cut: the server keeps the first 2 KB)` : preview.text;
    return el("details", { class: "payload" }, el("summary", { class: "mono" }, short), el("pre", {}, full));
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
        return `REST send of ${event.target} to ${event.to}: ${plural(event.recipients, "recipient")}`;
      case "closed":
        return `REST close of ${event.to}: ${plural(event.count, "connection")}${event.reason ? ` (reason: ${event.reason})` : ""}`;
      case "membership": {
        const subject = event.userId ? `user ${event.userId}` : who;
        const where = event.group === null ? "every group" : `group ${event.group}`;
        return `${subject} ${event.change} ${where}`;
      }
      case "rest":
        return `${event.method} ${event.path} → ${event.status}`;
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

  function line(event) {
    const time = new Date(event.atMs).toISOString().slice(11, 23);
    const failed = event.type === "rest" && event.status >= 400;
    return el("li", { "data-type": event.type, "data-hub": event.hub, class: failed ? "failed" : "" },
      el("span", { class: "time" }, time),
      el("span", { class: `kind ${event.type}` }, event.type),
      el("div", { class: "what" },
        el("span", {}, el("span", { class: "muted" }, `${event.hub} · `), describe(event)),
        payload(event.arguments)));
  }

  function render() {
    const f = filter();
    const shown = [];
    for (let i = events.length - 1; i >= 0 && shown.length < MAX_LINES; i--) {
      if (matches(events[i], f)) shown.push(line(events[i]));
    }
    $("trace").replaceChildren(...shown);
    $("trace-empty").hidden = shown.length > 0;
    $("trace-count").textContent = `${plural(events.length, "event")} kept, ${shown.length} shown`;
  }

  function add(event) {
    if (event.type === "connected" && event.userId) users.set(event.connectionId, event.userId);
    events.push(event);
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
    if (!$("trace-hub").querySelector(`option[value="${CSS.escape(event.hub)}"]`)) {
      $("trace-hub").append(el("option", { value: event.hub }, event.hub));
    }
    if (paused) {
      unseen += 1;
      $("trace-pause").textContent = `Resume (${unseen} new)`;
      return;
    }
    if (!matches(event, filter())) return;
    const list = $("trace");
    list.prepend(line(event));
    while (list.children.length > MAX_LINES) list.lastElementChild.remove();
    $("trace-empty").hidden = true;
    $("trace-count").textContent = `${plural(events.length, "event")} kept, ${list.children.length} shown`;
  }

  function setPaused(value) {
    paused = value;
    unseen = 0;
    $("trace-pause").textContent = paused ? "Resume" : "Pause";
    $("trace-pause").setAttribute("aria-pressed", String(paused));
    if (!paused) render();
  }

  function exportLines() {
    const f = filter();
    const text = events.filter((e) => matches(e, f)).map((e) => JSON.stringify(e)).join("\n");
    const url = URL.createObjectURL(new Blob([text ? `${text}\n` : ""], { type: "application/x-ndjson" }));
    const link = el("a", { href: url, download: `signalr-emulator-trace-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  // Opens the stream; the server replays its backlog first, so what this page held is
  // replaced rather than shown twice.
  function follow({ onOpen, onEvent, onClosed }) {
    stop();
    source = new EventSource("/dashboard/api/events");
    source.onopen = () => {
      // A reconnected stream replays the backlog again.
      events = [];
      users.clear();
      render();
      onOpen();
    };
    source.addEventListener("trace", (message) => {
      add(JSON.parse(message.data));
      onEvent();
    });
    source.addEventListener("dropped", (message) => {
      dropped += Number(message.data);
      const notice = $("dropped");
      notice.hidden = false;
      notice.textContent = `${plural(dropped, "trace line")} ${dropped === 1 ? "was" : "were"} dropped because this page fell behind; connections are never slowed down for the dashboard.`;
    });
    source.onerror = () => {
      // A closed stream (e.g. the session expired) is not retried by the browser.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        onClosed(true);
      } else {
        onClosed(false);
      }
    };
  }

  function stop() {
    if (source) { source.close(); source = null; }
  }

  for (const id of ["trace-hub", "trace-kind"]) $(id).addEventListener("change", render);
  for (const id of ["trace-connection", "trace-user", "trace-group"]) $(id).addEventListener("input", render);
  $("trace-pause").addEventListener("click", () => setPaused(!paused));
  $("trace-export").addEventListener("click", exportLines);
  $("clear-trace").addEventListener("click", () => { events = []; render(); });

  return { follow, stop, following: () => source !== null };
})();
