// Official @microsoft/signalr clients (JSON and MessagePack; WebSockets, Server-Sent Events and
// long polling) connecting to a default-mode hub whose hub runs in the app-server simulator:
// start() completes once the app server answered the client's handshake, invocations reach the
// hub and their answers come back, the hub's broadcasts arrive, both sides can end the
// connection, and the simulator's bytes reach the client whatever way they are cut into frames.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { HttpTransportType } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

import WebSocket from "ws";

import { Targets, WriteMode } from "./appserver/index.mjs";
import {
  DELIVERY_MS,
  Inboxes,
  TEST_OPTS,
  startAppServer,
  stopAll,
  withAppDiagnostics,
} from "./default-mode-support.mjs";
import { HUB, clientToken, connectClient, startServer, stopClient, waitFor } from "./harness.mjs";

/**
 * A bare JSON client over WebSockets (negotiate, connect, handshake) that records every
 * message the service writes, so a test can see exactly what arrives, duplicates included.
 */
async function rawJsonClient(server, user) {
  const token = clientToken(user);
  const negotiated = await waitFor(
    fetch(`${server.baseUrl}/client/negotiate?hub=${HUB}&negotiateVersion=1`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    }).then((r) => r.json()),
    5_000,
    "negotiate",
  );
  const url = `${server.baseUrl.replace("http", "ws")}/client/?hub=${HUB}&id=${negotiated.connectionToken}`;
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
  const records = [];
  const closed = new Promise((resolve) => ws.on("close", resolve));
  let text = "";
  ws.on("message", (data) => {
    text += data.toString("utf8");
    const parts = text.split("\u001e");
    text = parts.pop();
    records.push(...parts.map((p) => JSON.parse(p)));
  });
  await waitFor(new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  }), 5_000, "the raw client's WebSocket");
  ws.send('{"protocol":"json","version":1}\u001e');
  return { ws, records, closed, connectionId: negotiated.connectionId };
}

// SSE carries text only, so MessagePack runs over WebSockets and long polling.
const CELLS = [
  { transport: "WebSockets", protocol: "json" },
  { transport: "ServerSentEvents", protocol: "json" },
  { transport: "LongPolling", protocol: "json" },
  { transport: "WebSockets", protocol: "messagepack" },
  { transport: "LongPolling", protocol: "messagepack" },
];

const connectCell = (server, user, cell) =>
  connectClient(server, user, {
    transport: HttpTransportType[cell.transport],
    protocol: cell.protocol === "messagepack" ? new MessagePackHubProtocol() : undefined,
  });

describe("@microsoft/signalr through a default-mode hub", () => {
  let server;
  let app;
  const clients = [];
  const inboxes = new Inboxes();
  const ctx = () => ({ server, clients, apps: [app] });

  before(async () => {
    server = await startServer(["--service-mode", "default"]);
    app = await startAppServer(server, { connectionCount: 2 });
  });

  after(() => stopAll(clients, [app], server));

  for (const cell of CELLS) {
    const name = `${cell.transport} + ${cell.protocol}`;
    test(`${name}: handshake answered by the app server, invoke, broadcast, close`, TEST_OPTS,
      withAppDiagnostics(ctx, async () => {
        const user = `u-${cell.transport}-${cell.protocol}`;
        const client = await connectCell(server, user, cell);
        clients.push(client);
        const id = client.connection.connectionId;

        // start() resolved, so the app server has seen the client and answered its handshake.
        const relayed = app.clients.get(id);
        assert.ok(relayed, `the app server got OpenConnection for ${id}`);
        assert.equal(relayed.protocol, cell.protocol, "OpenConnection ext 3 names the client's protocol");
        assert.deepEqual(relayed.handshake, { protocol: cell.protocol, version: 1 });
        assert.equal(relayed.userId, user);

        const value = { text: "héllo ✓", list: [1, 2.5, null, true], nested: { deep: ["x"] } };
        assert.deepEqual(await client.connection.invoke("echo", value), value);
        const big = "z".repeat(100_000);
        assert.equal(await client.connection.invoke("echo", big), big, "a 100 kB answer arrives whole");

        const who = await client.connection.invoke("whoami");
        assert.equal(who.connectionId, id);
        assert.equal(who.userId, user);
        assert.equal(who.protocol, cell.protocol);

        await assert.rejects(client.connection.invoke("noSuchMethod"), /Method 'noSuchMethod' does not exist/);

        const inbox = inboxes.of(client, Targets.broadcast);
        await client.connection.invoke("broadcast", `from ${user}`);
        const got = await inbox.waitForCount(1, DELIVERY_MS);
        assert.deepEqual(got[0], [user, `from ${user}`]);

        // The client ends the connection: the app server is told.
        await stopClient(client);
        const gone = await app.waitForClientClosed(id);
        assert.equal(gone.connectionId, id);
      }));

    test(`${name}: the app server ends the connection and the client sees its Close`, TEST_OPTS,
      withAppDiagnostics(ctx, async () => {
        const client = await connectCell(server, `closed-${cell.transport}-${cell.protocol}`, cell);
        clients.push(client);
        const relayed = app.clients.get(client.connection.connectionId);
        app.closeRelayedClient(relayed, "the hub says goodbye");
        const err = await waitFor(client.closed, DELIVERY_MS, "onclose");
        assert.match(String(err), /the hub says goodbye/);
      }));
  }
});

describe("what a client the app server ends receives", () => {
  let server;
  let app;
  const ctx = () => ({ server, clients: [], apps: [app] });

  before(async () => {
    server = await startServer(["--service-mode", "default"]);
    app = await startAppServer(server, { connectionCount: 1 });
  });

  after(() => stopAll([], [app], server));

  test("the hub's Close, and no Close of the service's own after it", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const raw = await rawJsonClient(server, "raw-closed");
      const relayed = await app.client(raw.connectionId);
      await waitFor(new Promise((resolve) => {
        if (relayed.handshake) resolve();
        else app.once("clientHandshake", resolve);
      }), DELIVERY_MS, "the hub's handshake answer");
      app.closeRelayedClient(relayed, "the hub says goodbye");
      await waitFor(raw.closed, DELIVERY_MS, "the service to close the raw client");
      const closes = raw.records.filter((r) => r.type === 7);
      assert.deepEqual(closes, [{ type: 7, error: "the hub says goodbye", allowReconnect: false }],
        `every Close the client got: ${JSON.stringify(closes)}`);
    }));
});

for (const writeMode of [WriteMode.Split, WriteMode.Batch]) {
  describe(`an app server whose writes are ${writeMode === WriteMode.Split ? "split into 3-byte frames" : "coalesced into one frame"}`, () => {
    let server;
    let app;
    const clients = [];
    const inboxes = new Inboxes();
    const ctx = () => ({ server, clients, apps: [app] });

    before(async () => {
      server = await startServer(["--service-mode", "default"]);
      app = await startAppServer(server, { connectionCount: 1, connectionOptions: { writeMode } });
    });

    after(() => stopAll(clients, [app], server));

    test("is read as a byte stream: handshakes, answers and broadcasts arrive intact", TEST_OPTS,
      withAppDiagnostics(ctx, async () => {
        const json = await connectClient(server, "stream-json");
        const mp = await connectClient(server, "stream-mp", { protocol: new MessagePackHubProtocol() });
        clients.push(json, mp);
        const answers = await Promise.all([
          ...[1, 2, 3].map((n) => json.connection.invoke("echo", `json ${n}`)),
          ...[1, 2, 3].map((n) => mp.connection.invoke("echo", `mp ${n}`)),
        ]);
        assert.deepEqual(answers, ["json 1", "json 2", "json 3", "mp 1", "mp 2", "mp 3"]);
        // Handlers first: a message for a method with no handler is dropped by the client.
        for (const c of [json, mp]) inboxes.of(c, "burst");
        for (let i = 0; i < 5; i++) app.broadcast("burst", [i, "x".repeat(i * 40)]);
        for (const c of [json, mp]) {
          const got = await inboxes.of(c, "burst").waitForCount(5, DELIVERY_MS);
          assert.deepEqual(got.map((args) => args[0]), [0, 1, 2, 3, 4], `burst order at ${c.userId}`);
          assert.equal(got[4][1].length, 160);
        }
      }));
  });
}
