// Every transport with the official @microsoft/signalr client: REST broadcast, user and group
// sends arrive, a client invoke gets its Completion, a server-side close is seen, and an idle
// connection survives past the client's 30 s server timeout thanks to keep-alive pings.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { HttpTransportType } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

import {
  Inbox,
  connectClient,
  describe as describeRes,
  enc,
  hubPath,
  pollUntil,
  rest,
  sleep,
  startServer,
  stopClient,
  waitFor,
  withDiagnostics,
} from "./harness.mjs";

const DELIVERY_MS = 5_000;
const TEST_OPTS = { timeout: 30_000 };

// SSE carries text only, so MessagePack runs over WebSockets and long polling.
const CELLS = [
  { name: "WebSockets", transport: HttpTransportType.WebSockets, protocol: "json" },
  { name: "ServerSentEvents", transport: HttpTransportType.ServerSentEvents, protocol: "json" },
  { name: "LongPolling", transport: HttpTransportType.LongPolling, protocol: "json" },
  { name: "WebSockets", transport: HttpTransportType.WebSockets, protocol: "messagepack" },
  { name: "LongPolling", transport: HttpTransportType.LongPolling, protocol: "messagepack" },
];

for (const cell of CELLS) {
  describe(`${cell.name} + ${cell.protocol} with @microsoft/signalr`, () => {
    let server;
    let client;
    const ctx = () => ({ server, clients: [client] });
    const user = `user-${cell.name}-${cell.protocol}`;

    before(async () => {
      server = await startServer();
      const protocol = cell.protocol === "messagepack" ? new MessagePackHubProtocol() : undefined;
      client = await connectClient(server, user, { transport: cell.transport, protocol });
      await pollUntil(() => server.stderr.includes(`protocol="${cell.protocol}"`), 5_000, "the server to log the protocol");
    });

    after(async () => {
      await stopClient(client);
      await server?.stop();
    });

    test("broadcast, user and group sends arrive", TEST_OPTS, withDiagnostics(ctx, async () => {
      const inbox = new Inbox(client.connection, "news");
      let res = await rest(server, "POST", hubPath(), { body: { target: "news", arguments: ["all", 1] } });
      assert.equal(res.status, 202, describeRes(res));
      res = await rest(server, "POST", hubPath(`/users/${enc(user)}`), { body: { target: "news", arguments: ["user", { n: 2 }] } });
      assert.equal(res.status, 202, describeRes(res));
      const id = client.connection.connectionId;
      res = await rest(server, "PUT", hubPath(`/groups/g/connections/${enc(id)}`));
      assert.equal(res.status, 200, describeRes(res));
      res = await rest(server, "POST", hubPath("/groups/g"), {
        body: { target: "news", arguments: ["group", null, -7, 2.5, [true, "ü"], { deep: { x: [1, null] } }] },
      });
      assert.equal(res.status, 202, describeRes(res));
      const got = await inbox.waitForCount(3, DELIVERY_MS);
      assert.deepEqual(got, [
        ["all", 1],
        ["user", { n: 2 }],
        ["group", null, -7, 2.5, [true, "ü"], { deep: { x: [1, null] } }],
      ]);
    }));

    test("invoke gets a Completion (an error: no upstream configured)", TEST_OPTS, withDiagnostics(ctx, async () => {
      await assert.rejects(
        waitFor(client.connection.invoke("Echo", "x"), DELIVERY_MS, "invoke"),
        (err) => err.message.includes("No upstream is configured for hub 'chat'"),
      );
    }));

    test("a server-side close is seen with its reason", TEST_OPTS, withDiagnostics(ctx, async () => {
      const id = client.connection.connectionId;
      const res = await rest(server, "DELETE", hubPath(`/connections/${enc(id)}`), { query: [["reason", "maintenance"]] });
      assert.equal(res.status, 202, describeRes(res));
      const error = await waitFor(client.closed, DELIVERY_MS, "onclose");
      assert.ok(error, "onclose gets an error");
      assert.match(error.message, /maintenance/);
    }));
  });
}

describe("keep-alive", () => {
  let server;
  let client;
  const ctx = () => ({ server, clients: [client] });

  before(async () => {
    server = await startServer();
    client = await connectClient(server, "idle");
  });

  after(async () => {
    await stopClient(client);
    await server?.stop();
  });

  test("an idle WebSocket connection stays open past 35 s", { timeout: 60_000 }, withDiagnostics(ctx, async () => {
    let closedEarly = false;
    client.closed.then(() => {
      closedEarly = true;
    });
    // The pause is the assertion: the client's 30 s server timeout would fire within it.
    await sleep(36_000);
    assert.equal(closedEarly, false, "the client's 30 s server timeout did not fire");
    assert.equal(client.connection.state, "Connected");
    const inbox = new Inbox(client.connection, "still");
    const res = await rest(server, "POST", hubPath(), { body: { target: "still", arguments: ["here"] } });
    assert.equal(res.status, 202, describeRes(res));
    assert.deepEqual(await inbox.waitForCount(1, DELIVERY_MS), [["here"]]);
  }));
});
