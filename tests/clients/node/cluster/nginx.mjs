// Debian's nginx running docker/cluster/nginx.conf for real in front of local nodes: the file is
// used as it is, except that its upstream servers become the nodes' 127.0.0.1 ports and it
// listens on a free 127.0.0.1 port. A main configuration of our own wraps it (no daemon, logs
// and temporary files in a scratch folder), as the nginx image's nginx.conf does.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { HOST, REPO_ROOT, pollUntil, waitFor } from "../harness.mjs";
import { freePort } from "./harness.mjs";

export const NGINX_SITE = path.join(REPO_ROOT, "docker", "cluster", "nginx.conf");
const STARTUP_TIMEOUT_MS = 10_000;

const live = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** The `server host:port;` lines of the site file's upstream block. */
export function upstreamServers(site) {
  return [...site.matchAll(/^\s*server\s+([^\s;]+);/gm)].map((m) => m[1]);
}

/** The site file with its upstream servers replaced by `targets` and its listen port by `port`. */
export function localSite(site, targets, port) {
  const servers = upstreamServers(site);
  if (servers.length !== targets.length) {
    throw new Error(`${NGINX_SITE} names ${servers.length} upstream servers; ${targets.length} nodes were started`);
  }
  let i = 0;
  const rewritten = site
    .replace(/^(\s*server\s+)[^\s;]+;/gm, (_, head) => `${head}${targets[i++]};`)
    .replace(/^(\s*listen\s+)\d+;/m, (_, head) => `${head}${HOST}:${port};`);
  if (!rewritten.includes(`listen ${HOST}:${port};`)) throw new Error(`${NGINX_SITE} has no \`listen PORT;\` line`);
  return rewritten;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts nginx on a free port in front of `nodes` (servers of the harness) with the compose
 * example's site file. Resolves to {baseUrl, port, stop(), logs()}.
 */
export async function startNginx(nodes) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "signalr-nginx-"));
  const port = await freePort();
  const site = localSite(
    readFileSync(NGINX_SITE, "utf8"),
    nodes.map((node) => `${HOST}:${node.port}`),
    port,
  );
  writeFileSync(path.join(dir, "site.conf"), site);
  const temp = (name) => path.join(dir, name);
  writeFileSync(
    path.join(dir, "nginx.conf"),
    [
      "daemon off;",
      "worker_processes 1;",
      `pid ${temp("nginx.pid")};`,
      "error_log stderr warn;",
      "events { worker_connections 1024; }",
      "http {",
      "  access_log off;",
      `  client_body_temp_path ${temp("body")};`,
      `  proxy_temp_path ${temp("proxy")};`,
      `  fastcgi_temp_path ${temp("fastcgi")};`,
      `  uwsgi_temp_path ${temp("uwsgi")};`,
      `  scgi_temp_path ${temp("scgi")};`,
      `  include ${temp("site.conf")};`,
      "}",
      "",
    ].join("\n"),
  );
  const bin = process.env.NGINX_BIN ?? "/usr/sbin/nginx";
  const child = spawn(bin, ["-p", dir, "-c", path.join(dir, "nginx.conf")], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let output = "";
  let exited = null;
  child.stdout.setEncoding("utf8").on("data", (c) => (output += c));
  child.stderr.setEncoding("utf8").on("data", (c) => (output += c));
  const gone = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve();
    }),
  );
  child.once("error", (err) => {
    exited = { code: `cannot start ${bin} (install Debian's nginx): ${err.message}`, signal: null };
  });
  const logs = () => `----- nginx (port ${port}) -----\n${output}\n`;
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      await waitFor(gone, 5_000, "nginx to exit").catch(() => child.kill("SIGKILL"));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollUntil(async () => {
      if (exited) throw new Error(`nginx exited (code=${exited.code})\n${logs()}`);
      return portOpen(port);
    }, STARTUP_TIMEOUT_MS, `nginx to listen on ${port}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, baseUrl: `http://${HOST}:${port}`, stop, logs };
}
