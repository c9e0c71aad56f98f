// The three service modes (`--service-mode classic|default|serverless`) with the app-server
// simulator and official clients: classic puts a hub in default mode while an app server is
// connected and leaves other hubs serverless; default refuses clients of a hub without an app
// server, saying so; serverless refuses app servers but accepts the Management SDK's Weak
// connections.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { AppServer, ConnectionType, ServiceConnection, Type, newServerId } from "./appserver/index.mjs";
import { DELIVERY_MS, Inboxes, TEST_OPTS, startAppServer, stopAll, withAppDiagnostics } from "./default-mode-support.mjs";
import {
  HUB,
  clientToken,
  connectClient,
  describe as describeRes,
  rest,
  startServer,
  stopClient,
  waitFor,
} from "./harness.mjs";

const NO_APP_SERVER = /app server/i;

async function restBroadcast(server, target, args, hub = HUB) {
  const res = await rest(server, "POST", `/api/v1/hubs/${hub}`, { body: { target, arguments: args } });
  assert.equal(res.status, 202, describeRes(res));
}

describe("service modes", () => {
  const running = [];
  const ctx = () => running.at(-1) ?? {};
  after(async () => {
    for (const r of running) await stopAll(r.clients, r.apps, r.server);
  });
  const track = (server) => {
    const r = { server, clients: [], apps: [] };
    running.push(r);
    return r;
  };

  test("classic: a hub is in default mode while an app server is connected", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const r = track(await startServer());
      const inboxes = new Inboxes();
      const before = await connectClient(r.server, "early");
      r.clients.push(before);
      // Serverless: no hub runs "echo" (no upstream is configured), so the invocation fails.
      await assert.rejects(before.connection.invoke("echo", 1));

      const app = await startAppServer(r.server, { connectionCount: 1 });
      r.apps.push(app);
      const relayed = await connectClient(r.server, "relayed");
      r.clients.push(relayed);
      assert.equal(await relayed.connection.invoke("echo", "via app"), "via app", "the app server's hub answers");
      assert.ok(app.clients.has(relayed.connection.connectionId));

      // Another hub of the same emulator stays serverless.
      const other = await connectClient(r.server, "other-hub", {
        url: `${r.server.baseUrl}/client/?hub=elsewhere`,
        token: clientToken("other-hub", "elsewhere"),
      });
      r.clients.push(other);
      inboxes.of(other, "news");
      await restBroadcast(r.server, "news", ["serverless"], "elsewhere");
      assert.deepEqual((await inboxes.of(other, "news").waitForCount(1, DELIVERY_MS))[0], ["serverless"]);

      // REST reaches both the serverless-era client and the relayed one.
      for (const c of [before, relayed]) inboxes.of(c, "news");
      await restBroadcast(r.server, "news", ["everyone"]);
      for (const c of [before, relayed]) {
        assert.deepEqual((await inboxes.of(c, "news").waitForCount(1, DELIVERY_MS))[0], ["everyone"]);
      }

      // When the app server leaves, the hub is serverless again.
      await app.stop();
      await waitFor(relayed.closed, DELIVERY_MS, "the relayed client to be closed with its app server");
      const later = await connectClient(r.server, "later");
      r.clients.push(later);
      inboxes.of(later, "news");
      await restBroadcast(r.server, "news", ["serverless again"]);
      assert.deepEqual((await inboxes.of(later, "news").waitForCount(1, DELIVERY_MS))[0], ["serverless again"]);
    }));

  test("default: a client of a hub without an app server fails, saying why", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const r = track(await startServer(["--service-mode", "default"]));
      await assert.rejects(connectClient(r.server, "lonely"), NO_APP_SERVER);

      // A Management SDK (Weak) connection is accepted but carries no clients.
      const weak = await startAppServer(r.server, { connectionCount: 1, connectionType: ConnectionType.Weak });
      r.apps.push(weak);
      await assert.rejects(connectClient(r.server, "still-lonely"), NO_APP_SERVER);

      const app = await startAppServer(r.server, { connectionCount: 1 });
      r.apps.push(app);
      const c = await connectClient(r.server, "welcome");
      r.clients.push(c);
      assert.equal(await c.connection.invoke("echo", "ok"), "ok");
      assert.equal(weak.clients.size, 0, "the Weak connection never gets a client");
      await stopClient(c);
    }));

  test("serverless: app servers are refused, Weak connections accepted", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const r = track(await startServer(["--service-mode", "serverless"]));
      const refused = new ServiceConnection({
        baseUrl: r.server.baseUrl,
        hub: HUB,
        accessKey: r.server.accessKey,
        serverId: newServerId(),
      });
      const response = await refused.open();
      assert.match(response.error ?? "", /serverless/i, `handshake error: ${response.error}`);
      refused.terminate();

      const weak = new AppServer({
        baseUrl: r.server.baseUrl,
        accessKey: r.server.accessKey,
        hub: HUB,
        connectionCount: 1,
        connectionType: ConnectionType.Weak,
      });
      await weak.start();
      r.apps.push(weak);
      const inboxes = new Inboxes();
      const c = await connectClient(r.server, "plain");
      r.clients.push(c);
      inboxes.of(c, "news");
      weak.broadcast("news", ["from weak"]);
      assert.deepEqual((await inboxes.of(c, "news").waitForCount(1, DELIVERY_MS))[0], ["from weak"]);
      assert.equal(weak.clients.size, 0);
    }));

  test("SIGTERM tells the app server and its clients", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const r = track(await startServer(["--service-mode", "default"]));
      const app = await startAppServer(r.server, { connectionCount: 1 });
      r.apps.push(app);
      const c = await connectClient(r.server, "at-shutdown");
      r.clients.push(c);
      const service = app.connections[0];
      const stopping = r.server.stop();
      const err = await waitFor(c.closed, DELIVERY_MS, "the client's Close at shutdown");
      assert.ok(err, "the client is told why");
      const closed = await waitFor(service.closed, DELIVERY_MS, "the server connection to close");
      const told = service.received.find((m) => m.type === Type.ServiceError)?.error || closed.reason;
      assert.match(told ?? "", /shut/i, `the app server hears of the shutdown: ${JSON.stringify(closed)}`);
      await stopping;
    }));
});
