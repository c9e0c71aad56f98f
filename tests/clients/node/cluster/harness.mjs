// The cluster side of the real-client tests: a private redis-server on a free 127.0.0.1 port
// with persistence off, and N processes of the real signalr-emulator binary sharing it through
// `--redis`, each on its own port. Every wait is bounded, and every process started here is
// killed when the test process exits, whatever happened.

import { spawn } from "node:child_process";
import net from "node:net";

import { HOST, startServer, waitFor } from "../harness.mjs";

const REDIS_STARTUP_TIMEOUT_MS = 10_000;
const REDIS_SHUTDOWN_TIMEOUT_MS = 5_000;

const liveRedis = new Set();
process.on("exit", () => {
  for (const child of liveRedis) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** A port nobody listens on right now (the kernel picks it; we close it again at once). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A running redis-server with its captured output. */
export class Redis {
  constructor(child, port) {
    this.child = child;
    this.port = port;
    this.url = `redis://${HOST}:${port}`;
    this.output = "";
    this.exited = null;
  }

  logs() {
    return `----- redis-server (pid ${this.child.pid}, port ${this.port}) -----\n${this.output.slice(-5_000)}\n`;
  }

  async stop() {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await waitFor(exited, REDIS_SHUTDOWN_TIMEOUT_MS, "redis-server to exit");
  }
}

/**
 * Starts `redis-server` (Debian's package; tests/install-missing.sh installs it) on a free port,
 * bound to 127.0.0.1, with RDB snapshots and the append-only file off, and resolves once it
 * accepts connections.
 */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    process.env.REDIS_SERVER_BIN ?? "redis-server",
    ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", "/tmp"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  liveRedis.add(child);
  const redis = new Redis(child, port);
  const ready = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      redis.output += chunk;
      if (redis.output.includes("Ready to accept connections")) resolve();
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.once("error", (err) =>
      reject(new Error(`cannot start redis-server (install Debian's redis-server): ${err.message}`)),
    );
    child.once("exit", (code, signal) =>
      reject(new Error(`redis-server exited before it was ready (code=${code}, signal=${signal})\n${redis.output}`)),
    );
  });
  child.on("exit", (code, signal) => {
    redis.exited = { code, signal };
    liveRedis.delete(child);
  });
  try {
    await waitFor(ready, REDIS_STARTUP_TIMEOUT_MS, `redis-server on port ${port} to accept connections`);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return redis;
}

/** One Redis and the nodes that share it; `ownsRedis` when the cluster started that Redis. */
export class Cluster {
  constructor(redis, nodes, ownsRedis) {
    this.redis = redis;
    this.nodes = nodes;
    this.ownsRedis = ownsRedis;
  }

  /** Every process's output, for a failing test's report. */
  logs() {
    return this.nodes.map((node) => node.logs()).join("") + this.redis.logs();
  }

  /** Stops every node (SIGTERM, then SIGKILL), then its own Redis; never throws. */
  async stop() {
    await Promise.allSettled(this.nodes.map((node) => node.stop()));
    if (this.ownsRedis) await this.redis.stop().catch(() => {});
  }
}

/**
 * Starts a Redis of its own (or uses `redis`, which it then leaves running) and `count` emulator nodes on it, each on a port
 * of its own, with `--redis-prefix prefix` when given and `extraArgs` after that.
 */
export async function startCluster(count, { redis, prefix, extraArgs = [] } = {}) {
  const ownRedis = redis ?? (await startRedis());
  const args = ["--redis", ownRedis.url, ...(prefix ? ["--redis-prefix", prefix] : []), ...extraArgs];
  const started = await Promise.allSettled(Array.from({ length: count }, () => startServer(args)));
  const nodes = started.filter((s) => s.status === "fulfilled").map((s) => s.value);
  const cluster = new Cluster(ownRedis, nodes, !redis);
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await cluster.stop();
    throw failed.reason;
  }
  return cluster;
}
