// Shared helpers for the real-client compatibility tests.
//
// Starts the signalr-emulator binary on a free port, mints tokens the way the
// Azure SDKs do, calls the v1 REST API, and builds official @microsoft/signalr
// connections. Every wait in here is bounded.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  HttpTransportType,
  HubConnectionBuilder,
  HubConnectionState,
  LogLevel,
} from "@microsoft/signalr";
import jwt from "jsonwebtoken";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..", "..", "..");

export const ACCESS_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
export const HUB = "chat";
// Never "localhost": Node may resolve it to ::1.
export const HOST = "127.0.0.1";

const STARTUP_TIMEOUT_MS = 20_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const CONNECTION_STRING_RE =
  /Endpoint=(https?):\/\/localhost;Port=(\d+);AccessKey=([^;\s]+);Version=1\.0;/;
const LOG_TAIL_CHARS = 20_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves with the promise's value, or rejects after `ms` with a message
 * naming what we were waiting for.
 */
export function waitFor(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() =>
    clearTimeout(timer),
  );
}

/** Polls `check` (sync or async) until it returns a truthy value. */
export async function pollUntil(check, ms, what, intervalMs = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}

export function emulatorBinary() {
  return (
    process.env.SIGNALR_EMULATOR_BIN ||
    path.join(REPO_ROOT, "target", "debug", "signalr-emulator")
  );
}

/** A running emulator process with its captured output. */
export class Server {
  constructor(child, port, accessKey) {
    this.child = child;
    this.port = port;
    this.accessKey = accessKey;
    this.baseUrl = `http://${HOST}:${port}`;
    this.hubUrl = `${this.baseUrl}/client/?hub=${HUB}`;
    this.stdout = "";
    this.stderr = "";
    this.exited = null; // {code, signal} once it exits
  }

  /** The captured stdout/stderr, trimmed to the tail, for failure reports. */
  logs() {
    const tail = (s) =>
      s.length > LOG_TAIL_CHARS ? `...${s.slice(-LOG_TAIL_CHARS)}` : s;
    const status = this.exited
      ? `exited code=${this.exited.code} signal=${this.exited.signal}`
      : "running";
    return (
      `----- signalr-emulator (pid ${this.child.pid}, port ${this.port}, ${status}) stdout -----\n` +
      `${tail(this.stdout)}\n` +
      `----- signalr-emulator stderr -----\n${tail(this.stderr)}\n` +
      `----- end of signalr-emulator output -----\n`
    );
  }

  async stop() {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    try {
      await waitFor(exited, SHUTDOWN_TIMEOUT_MS, "the emulator to exit after SIGTERM");
    } catch (err) {
      this.child.kill("SIGKILL");
      await waitFor(exited, 5_000, "the emulator to exit after SIGKILL");
      throw err;
    }
  }
}

const liveChildren = new Set();
process.on("exit", () => {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/**
 * Starts `signalr-emulator start --port 0` and resolves once the banner's
 * connection string tells us the port.
 */
export async function startServer(extraArgs = []) {
  const bin = emulatorBinary();
  if (!existsSync(bin)) {
    throw new Error(
      `signalr-emulator binary not found at ${bin}; build it first (cargo build) or set SIGNALR_EMULATOR_BIN`,
    );
  }
  const child = spawn(bin, ["start", "--port", "0", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    // Debug logs only show up when a test fails (see Server.logs()).
    env: { RUST_LOG: "signalr_emulator=debug", ...process.env, NO_COLOR: "1" },
  });
  liveChildren.add(child);
  const server = new Server(child, null, null);
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    server.stderr += chunk;
  });
  child.on("exit", (code, signal) => {
    server.exited = { code, signal };
    liveChildren.delete(child);
  });

  const banner = new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      server.stdout += chunk;
      const m = CONNECTION_STRING_RE.exec(server.stdout);
      if (m) resolve({ scheme: m[1], port: Number(m[2]), key: m[3] });
    });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(
        new Error(
          `signalr-emulator exited before printing its connection string (code=${code}, signal=${signal})`,
        ),
      ),
    );
  });

  try {
    const { scheme, port, key } = await waitFor(
      banner,
      STARTUP_TIMEOUT_MS,
      "the emulator banner with `Endpoint=http(s)://localhost;Port=<PORT>;AccessKey=...`",
    );
    server.port = port;
    server.accessKey = key;
    server.baseUrl = `${scheme}://${HOST}:${port}`;
    server.hubUrl = `${server.baseUrl}/client/?hub=${HUB}`;
    return server;
  } catch (err) {
    process.stderr.write(server.logs());
    if (!server.exited) child.kill("SIGKILL");
    throw err;
  }
}

/** HS256 token signed with the UTF-8 bytes of the access key, exp = now + 1 h. */
export function mintToken(claims, key = ACCESS_KEY) {
  return jwt.sign(claims, key, { algorithm: "HS256", expiresIn: "1h" });
}

/** A client token as the Azure SDK issues it (aud without the port). */
export function clientToken(userId, hub = HUB) {
  return mintToken({ aud: `http://localhost/client/?hub=${hub}`, nameid: userId });
}

/**
 * Calls the REST API. `pathname` has no query; `query` is a list of
 * [name, value] pairs (repeatable names allowed). Resolves to
 * {status, text, json, request} and never throws on HTTP errors.
 */
export async function rest(server, method, pathname, { query = [], body } = {}) {
  const token = mintToken({ aud: `${server.baseUrl}${pathname}` });
  const qs = new URLSearchParams(query).toString();
  const url = `${server.baseUrl}${pathname}${qs ? `?${qs}` : ""}`;
  const headers = { Authorization: `Bearer ${token}` };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await waitFor(
    fetch(url, { method, headers, body: payload }),
    10_000,
    `${method} ${url}`,
  );
  const text = await waitFor(response.text(), 10_000, `body of ${method} ${url}`);
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    text,
    json,
    request: `${method} ${url}${payload ? ` ${payload}` : ""}`,
  };
}

/** Formats a REST result for assertion messages. */
export function describe(res) {
  return `${res.request} -> ${res.status} ${res.text}`;
}

export const hubPath = (suffix = "") => `/api/v1/hubs/${HUB}${suffix}`;
/** A path of the 2022-06-01+ REST API (`/api/hubs/...`). */
export const apiPath = (suffix = "") => `/api/hubs/${HUB}${suffix}`;
/** The api-version the Management SDK sends; any is accepted. */
export const API_VERSION = ["api-version", "2024-12-01"];
export const enc = encodeURIComponent;

/** Collects the arguments of every invocation of `target` on a connection. */
export class Inbox {
  constructor(connection, target) {
    this.target = target;
    this.messages = [];
    this.waiters = [];
    connection.on(target, (...args) => {
      this.messages.push(args);
      for (const w of [...this.waiters]) {
        if (this.messages.length >= w.count) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(this.messages.slice());
        }
      }
    });
  }

  /** Waits until at least `count` invocations arrived; resolves to all of them. */
  waitForCount(count, ms, what) {
    if (this.messages.length >= count) return Promise.resolve(this.messages.slice());
    const p = new Promise((resolve) => this.waiters.push({ count, resolve }));
    return waitFor(p, ms, what ?? `${count} invocation(s) of "${this.target}"`);
  }
}

/** Buffers the client's own log lines so a failing test can print them. */
export class BufferLogger {
  constructor(name) {
    this.name = name;
    this.lines = [];
  }

  log(level, message) {
    if (level >= LogLevel.Debug) {
      this.lines.push(`${new Date().toISOString()} [${this.name}] ${LogLevel[level]}: ${message}`);
    }
  }

  dump() {
    return this.lines.join("\n");
  }
}

/**
 * Builds and starts a connection for `userId` (JSON over WebSockets unless `transport` /
 * `protocol` say otherwise; `url` overrides the hub URL, e.g. to go through a proxy; `token`
 * replaces the user's own client token; `headers` go with every HTTP request).
 * Resolves to {connection, logger, closed} where `closed` resolves with the
 * error passed to onclose.
 */
export async function connectClient(
  server,
  userId,
  {
    protocol,
    transport = HttpTransportType.WebSockets,
    url,
    statefulReconnect = false,
    token = clientToken(userId),
    headers,
  } = {},
) {
  const logger = new BufferLogger(userId);
  let builder = new HubConnectionBuilder()
    .withUrl(url ?? server.hubUrl, {
      transport,
      skipNegotiation: false,
      accessTokenFactory: () => token,
      headers,
    })
    .configureLogging(logger);
  if (protocol) builder = builder.withHubProtocol(protocol);
  if (statefulReconnect) builder = builder.withStatefulReconnect();
  const connection = builder.build();
  const closed = new Promise((resolve) => connection.onclose((err) => resolve(err)));
  await waitFor(connection.start(), 10_000, `connection.start() for user ${userId}`);
  if (connection.state !== HubConnectionState.Connected) {
    throw new Error(`connection for ${userId} is ${connection.state} after start()`);
  }
  if (!connection.connectionId) {
    throw new Error(`connection for ${userId} has no connectionId after start()`);
  }
  return { connection, logger, closed, userId };
}

export async function stopClient(client) {
  if (!client) return;
  if (client.connection.state === HubConnectionState.Disconnected) return;
  await waitFor(client.connection.stop(), 5_000, `connection.stop() for ${client.userId}`);
}

/**
 * Wraps a test body: on failure, prints the server output and the clients'
 * log lines before rethrowing.
 */
export function withDiagnostics(getContext, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const { server, clients = [] } = getContext();
      let report = `\n===== diagnostics for failed test "${t.name}" =====\n`;
      for (const c of clients) {
        if (c) report += `----- client ${c.userId} log -----\n${c.logger.dump()}\n`;
      }
      if (server) report += server.logs();
      process.stderr.write(report);
      throw err;
    }
  };
}

/**
 * Debian's headless Chromium ($CHROMIUM_PATH, default /usr/bin/chromium; never a downloaded
 * browser), with the flags that keep it off the network this machine does not have.
 */
export function launchChromium({ env } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    // Another HOME gives Chromium another NSS certificate database (see tls.test.mjs).
    ...(env ? { env } : {}),
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
