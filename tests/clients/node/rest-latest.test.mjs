// REST 2022-06-01+ (`/api/hubs/...`) -> official @microsoft/signalr clients
// (JSON, WebSockets): what each send, close, :execute and :invoke route
// produces, and a client connected with a :generateToken token.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HubConnectionState } from "@microsoft/signalr";

import {
  API_VERSION,
  Inbox,
  apiPath,
  connectClient,
  describe as describeRes,
  enc,
  rest,
  sleep,
  startServer,
  stopClient,
  waitFor,
  withDiagnostics,
} from "./harness.mjs";

const DELIVERY_MS = 5_000;
const ABSENCE_MS = 300;
const TEST_OPTS = { timeout: 30_000 };

/** Starts clients for `users`, printing their logs if one fails to start. */
async function connectAll(server, users) {
  const clients = [];
  try {
    for (const user of users) clients.push(await connectClient(server, user));
  } catch (err) {
    for (const c of clients) process.stderr.write(`----- client ${c.userId} log -----\n${c.logger.dump()}\n`);
    process.stderr.write(server.logs());
    throw err;
  }
  return clients;
}

async function stopAll(server, clients) {
  const errors = [];
  for (const c of clients) {
    try {
      await stopClient(c);
    } catch (err) {
      errors.push(err);
    }
  }
  if (server) await server.stop();
  if (errors.length) throw errors[0];
}

/** Asserts a REST call answered `status`. */
async function call(server, method, path, status, options = {}) {
  const res = await rest(server, method, path, options);
  assert.equal(res.status, status, describeRes(res));
  return res;
}

const send = (server, path, target, args, query = []) =>
  call(server, "POST", path, 202, {
    query: [API_VERSION, ...query],
    body: { target, arguments: args },
  });

describe("REST 2022+ sends, :execute, :invoke, :generateToken with @microsoft/signalr", () => {
  let server;
  let alice;
  let bob;
  const ctx = () => ({ server, clients: [alice, bob] });

  before(async () => {
    server = await startServer();
    [alice, bob] = await connectAll(server, ["alice", "bob"]);
  }, { timeout: 40_000 });

  after(() => stopAll(server, [alice, bob]), { timeout: 30_000 });

  test(":send to hub (excluded), user, connection and group", TEST_OPTS, withDiagnostics(ctx, async () => {
    const a = new Inbox(alice.connection, "latest");
    const b = new Inbox(bob.connection, "latest");

    await send(server, apiPath("/:send"), "latest", ["all", { n: 1 }]);
    assert.deepEqual((await a.waitForCount(1, DELIVERY_MS))[0], ["all", { n: 1 }]);
    assert.deepEqual((await b.waitForCount(1, DELIVERY_MS))[0], ["all", { n: 1 }]);

    await send(server, apiPath("/:send"), "latest", ["not alice"], [["excluded", alice.connection.connectionId]]);
    assert.deepEqual((await b.waitForCount(2, DELIVERY_MS))[1], ["not alice"]);

    await send(server, apiPath("/users/alice/:send"), "latest", ["user alice"]);
    assert.deepEqual((await a.waitForCount(2, DELIVERY_MS))[1], ["user alice"]);

    await send(server, apiPath(`/connections/${enc(bob.connection.connectionId)}/:send`), "latest", ["conn bob"]);
    assert.deepEqual((await b.waitForCount(3, DELIVERY_MS))[2], ["conn bob"]);

    await call(server, "PUT", apiPath(`/groups/team/connections/${enc(alice.connection.connectionId)}`), 200);
    await call(server, "PUT", apiPath("/users/bob/groups/team"), 200, { query: [API_VERSION] });
    await send(server, apiPath("/groups/team/:send"), "latest", ["team"]);
    assert.deepEqual((await a.waitForCount(3, DELIVERY_MS))[2], ["team"]);
    assert.deepEqual((await b.waitForCount(4, DELIVERY_MS))[3], ["team"]);
    await send(server, apiPath("/groups/team/:send"), "latest", ["team but bob"], [["excluded", bob.connection.connectionId]]);
    assert.deepEqual((await a.waitForCount(4, DELIVERY_MS))[3], ["team but bob"]);

    // Leaving: bob's membership goes (204), alice's connection leaves (200).
    await call(server, "DELETE", apiPath("/users/bob/groups/team"), 204);
    await call(server, "DELETE", apiPath(`/connections/${enc(alice.connection.connectionId)}/groups`), 200);
    await send(server, apiPath("/groups/team/:send"), "latest", ["nobody"]);
    await sleep(ABSENCE_MS);
    assert.equal(a.messages.length, 4, "alice got exactly the messages meant for her");
    assert.equal(b.messages.length, 4, "bob got exactly the messages meant for him");
  }));

  test(":execute with a filter sends, joins and leaves for the selected connections only", TEST_OPTS, withDiagnostics(ctx, async () => {
    const a = new Inbox(alice.connection, "executed");
    const b = new Inbox(bob.connection, "executed");
    await call(server, "POST", apiPath("/:execute"), 202, {
      query: [API_VERSION, ["filter", "userId eq 'bob'"]],
      body: [
        { type: "JoinGroup", group: "bobs" },
        { type: "SendMessage", message: { target: "executed", arguments: ["bob only"] } },
      ],
    });
    assert.deepEqual((await b.waitForCount(1, DELIVERY_MS))[0], ["bob only"]);
    await send(server, apiPath("/groups/bobs/:send"), "executed", ["via group"]);
    assert.deepEqual((await b.waitForCount(2, DELIVERY_MS))[1], ["via group"]);

    await call(server, "POST", apiPath("/:execute"), 202, {
      query: [["filter", "'bobs' in groups or startswith(userId, 'ali')"]],
      body: [
        { type: "SendMessage", message: { target: "executed", arguments: ["both"] } },
        { type: "LeaveGroup", group: "bobs" },
      ],
    });
    assert.deepEqual((await a.waitForCount(1, DELIVERY_MS))[0], ["both"]);
    assert.deepEqual((await b.waitForCount(3, DELIVERY_MS))[2], ["both"]);
    const check = await rest(server, "HEAD", apiPath("/groups/bobs"));
    assert.equal(check.status, 404, describeRes(check));

    const bad = await rest(server, "POST", apiPath("/:execute"), {
      query: [["filter", "userId eq"]],
      body: [{ type: "SendMessage", message: { target: "executed", arguments: ["never"] } }],
    });
    assert.equal(bad.status, 400, describeRes(bad));
    assert.match(bad.json.message, /position/);
    await sleep(ABSENCE_MS);
    assert.equal(a.messages.length, 1);
    assert.equal(b.messages.length, 3);
  }));

  test(":invoke gets the value the client's handler returns, or its error", TEST_OPTS, withDiagnostics(ctx, async () => {
    alice.connection.on("multiply", (x, y) => x * y);
    alice.connection.on("lookup", async (key) => {
      await sleep(50);
      return { key, found: true, tags: ["a", "b"] };
    });
    alice.connection.on("fail", () => {
      throw new Error("no such thing");
    });
    const path = apiPath(`/connections/${enc(alice.connection.connectionId)}/:invoke`);
    const invoke = (target, args) => rest(server, "POST", path, { query: [API_VERSION], body: { target, arguments: args } });

    const product = await invoke("multiply", [6, 7]);
    assert.equal(product.status, 200, describeRes(product));
    assert.deepEqual(product.json, { result: 42 });

    const lookup = await invoke("lookup", ["k1"]);
    assert.equal(lookup.status, 200, describeRes(lookup));
    assert.deepEqual(lookup.json, { result: { key: "k1", found: true, tags: ["a", "b"] } });

    const failed = await invoke("fail", []);
    assert.equal(failed.status, 502, describeRes(failed));
    assert.equal(failed.json.code, "Error.Invocation.ClientError");
    assert.match(failed.json.message, /no such thing/);

    // No handler: the client itself answers with an error.
    const unhandled = await invoke("nobodyListens", []);
    assert.equal(unhandled.status, 502, describeRes(unhandled));

    const missing = await rest(server, "POST", apiPath("/connections/ghost/:invoke"), { body: { target: "multiply", arguments: [1, 2] } });
    assert.equal(missing.status, 404, describeRes(missing));
    assert.equal(missing.json.code, "Error.Connection.NotExisted");
    assert.equal(alice.connection.state, HubConnectionState.Connected);
  }));

  test("a :generateToken token connects as its user", TEST_OPTS, withDiagnostics(ctx, async () => {
    const res = await call(server, "POST", apiPath("/:generateToken"), 200, {
      query: [API_VERSION, ["userId", "dave"], ["minutesToExpire", "10"]],
    });
    assert.equal(typeof res.json.token, "string");
    const dave = await connectClient(server, "dave", { token: res.json.token });
    try {
      const d = new Inbox(dave.connection, "forDave");
      await send(server, apiPath("/users/dave/:send"), "forDave", ["hello dave"]);
      assert.deepEqual((await d.waitForCount(1, DELIVERY_MS))[0], ["hello dave"]);
    } finally {
      await stopClient(dave);
    }
  }));
});

describe("REST 2022+ closes with @microsoft/signalr", () => {
  let server;
  let clients = [];
  const ctx = () => ({ server, clients });

  before(async () => {
    server = await startServer();
  }, { timeout: 40_000 });

  after(() => stopAll(server, clients), { timeout: 30_000 });

  /** Asserts the client's onclose fires with an error naming `reason`. */
  async function expectClosed(client, reason) {
    const err = await waitFor(client.closed, DELIVERY_MS, `onclose of ${client.userId}`);
    assert.ok(err instanceof Error, `onclose of ${client.userId} gets an Error, got ${String(err)}`);
    assert.match(err.message, reason);
    assert.equal(client.connection.state, HubConnectionState.Disconnected);
  }

  test("DELETE connection closes it with the reason (200), then 404", TEST_OPTS, withDiagnostics(ctx, async () => {
    const [erin] = (clients = await connectAll(server, ["erin"]));
    const path = apiPath(`/connections/${enc(erin.connection.connectionId)}`);
    await call(server, "DELETE", path, 200, { query: [API_VERSION, ["reason", "closed by test"]] });
    await expectClosed(erin, /closed by test/);
    const again = await rest(server, "DELETE", path);
    assert.equal(again.status, 404, describeRes(again));
  }));

  test("user, group and hub :closeConnections honour excluded and reason (204)", TEST_OPTS, withDiagnostics(ctx, async () => {
    const [f1, f2, gina, hank] = (clients = await connectAll(server, ["frank", "frank", "gina", "hank"]));
    await call(server, "POST", apiPath("/users/frank/:closeConnections"), 204, {
      query: [["excluded", f2.connection.connectionId], ["reason", "frank out"]],
    });
    await expectClosed(f1, /frank out/);

    await call(server, "PUT", apiPath(`/groups/g/connections/${enc(gina.connection.connectionId)}`), 200);
    await call(server, "PUT", apiPath(`/groups/g/connections/${enc(hank.connection.connectionId)}`), 200);
    await call(server, "POST", apiPath("/groups/g/:closeConnections"), 204, {
      query: [["excluded", hank.connection.connectionId], ["reason", "group out"]],
    });
    await expectClosed(gina, /group out/);

    await call(server, "POST", apiPath("/:closeConnections"), 204, {
      query: [API_VERSION, ["excluded", hank.connection.connectionId], ["reason", "hub out"]],
    });
    await expectClosed(f2, /hub out/);

    // :execute CloseConnection reaches the last one.
    await call(server, "POST", apiPath("/:execute"), 202, {
      query: [["filter", `connectionId eq '${hank.connection.connectionId}'`]],
      body: [{ type: "CloseConnection", reason: "executed out" }],
    });
    await expectClosed(hank, /executed out/);
  }));
});
