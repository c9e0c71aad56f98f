// Stateful reconnect with the official client: the client's TCP connection is cut mid-stream by
// a small proxy; messages sent while the socket was down arrive exactly once, in order.

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import {
  HOST,
  HUB,
  Inbox,
  connectClient,
  describe as describeRes,
  hubPath,
  pollUntil,
  rest,
  sleep,
  startServer,
  stopClient,
  withDiagnostics,
} from "./harness.mjs";

/** A TCP proxy on 127.0.0.1 that can cut every connection through it at once. */
async function startProxy(targetPort) {
  const sockets = new Set();
  const proxy = net.createServer((downstream) => {
    const upstream = net.connect(targetPort, HOST);
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  await new Promise((resolve) => proxy.listen(0, HOST, resolve));
  return {
    port: proxy.address().port,
    /** Drops every proxied connection with a TCP reset: no WebSocket close frame. */
    cut() {
      for (const s of sockets) s.resetAndDestroy();
    },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      proxy.close(resolve);
    }),
  };
}

describe("stateful reconnect with @microsoft/signalr (WebSockets, JSON)", () => {
  let server;
  let proxy;
  let client;
  const ctx = () => ({ server, clients: [client] });

  before(async () => {
    server = await startServer();
    proxy = await startProxy(server.port);
    client = await connectClient(server, "survivor", {
      url: `http://${HOST}:${proxy.port}/client/?hub=${HUB}`,
      statefulReconnect: true,
    });
  });

  after(async () => {
    await stopClient(client);
    await proxy?.close();
    await server?.stop();
  });

  test("messages sent while the socket was cut arrive exactly once, in order", { timeout: 30_000 }, withDiagnostics(ctx, async () => {
    const inbox = new Inbox(client.connection, "seq");
    const send = async (n) => {
      const res = await rest(server, "POST", hubPath("/users/survivor"), { body: { target: "seq", arguments: [n] } });
      assert.equal(res.status, 202, describeRes(res));
    };
    for (let n = 1; n <= 3; n++) await send(n);
    await inbox.waitForCount(3, 5_000);

    proxy.cut();
    for (let n = 4; n <= 10; n++) await send(n);
    await inbox.waitForCount(10, 10_000, "all 10 messages after the reconnect");
    // The server logs the reconnect once its replay is done; later sends use the new socket.
    await pollUntil(() => /client reconnected \(stateful reconnect\)/.test(server.stderr), 5_000, "the server's reconnect log line");
    await pollUntil(() => client.connection.state === "Connected", 5_000, "the client connected again");
    for (let n = 11; n <= 12; n++) await send(n);
    const got = await inbox.waitForCount(12, 5_000);
    // The pause is the assertion: a duplicate would arrive within it.
    await sleep(300);
    assert.deepEqual(inbox.messages.map(([n]) => n), Array.from({ length: 12 }, (_, i) => i + 1));
    assert.equal(got.length, 12);
    assert.equal(client.connection.state, "Connected");
    assert.match(server.stderr, /client reconnected \(stateful reconnect\)/);
  }));
});
