// Helpers shared by the default-mode tests: an app-server simulator attached to a running
// emulator, failure reports that include the simulator's log, and the fence that proves a
// client received nothing more (a broadcast sent after the message under test, on the same
// server connection, is applied after it, so once every client has the fence, anything the
// earlier message would have delivered has arrived).

import { AppServer } from "./appserver/index.mjs";
import { HUB, Inbox, stopClient } from "./harness.mjs";

export const DELIVERY_MS = 5_000;
export const TEST_OPTS = { timeout: 30_000 };

/** Starts a simulated app server with `connectionCount` server connections to `hub`. */
export function startAppServer(server, options = {}) {
  const app = new AppServer({
    baseUrl: server.baseUrl,
    accessKey: server.accessKey,
    hub: HUB,
    ...options,
  });
  return app.start();
}

/**
 * Like harness.withDiagnostics, and also prints each app server's log: `getContext()` returns
 * `{server, clients, apps}`.
 */
export function withAppDiagnostics(getContext, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const { server, clients = [], apps = [] } = getContext();
      let report = `\n===== diagnostics for failed test "${t.name}" =====\n`;
      for (const c of clients) {
        if (c) report += `----- client ${c.userId} log -----\n${c.logger.dump()}\n`;
      }
      for (const a of apps) {
        if (a) report += `----- app server ${a.serverId} log -----\n${a.dump()}\n`;
      }
      if (server) report += server.logs();
      process.stderr.write(report);
      throw err;
    }
  };
}

/** Inboxes per (client, target), created on first use. */
export class Inboxes {
  constructor() {
    this.map = new Map();
  }

  of(client, target) {
    const key = `${client.connection.connectionId}:${target}`;
    if (!this.map.has(key)) this.map.set(key, new Inbox(client.connection, target));
    return this.map.get(key);
  }
}

let fenceSeq = 0;

/**
 * Broadcasts a fence through `app` (on server connection `via`) and waits until every client
 * has it; after that, `target` inboxes hold everything earlier messages delivered.
 */
export async function fence(app, clients, inboxes, via) {
  const seq = ++fenceSeq;
  const counts = clients.map((c) => inboxes.of(c, "fence").messages.length);
  app.broadcast("fence", [seq], { via });
  await Promise.all(
    clients.map((c, i) =>
      inboxes.of(c, "fence").waitForCount(counts[i] + 1, DELIVERY_MS, `fence #${seq} at ${c.userId}`),
    ),
  );
}

export async function stopAll(clients = [], apps = [], server) {
  for (const c of clients) {
    try {
      await stopClient(c);
    } catch {
      // a client that already failed its test
    }
  }
  await Promise.all(apps.filter(Boolean).map((a) => a.stop().catch(() => {})));
  await server?.stop();
}
