// REST API v1 -> official @microsoft/signalr clients (JSON protocol, WebSockets).
//
// Two users (alice, bob) connect through negotiate (version 1) + WebSockets;
// messages sent through the REST API must reach exactly the intended clients
// with exactly the arguments that were posted.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  Inbox,
  connectClient,
  describe as describeRes,
  enc,
  hubPath,
  rest,
  sleep,
  startServer,
  stopClient,
  withDiagnostics,
} from "./harness.mjs";

const DELIVERY_MS = 5_000;
// After the intended recipient got a message, how long we keep listening on
// the other clients before asserting they got nothing.
const ABSENCE_MS = 300;
const TEST_OPTS = { timeout: 30_000 };

describe("REST v1 delivery to @microsoft/signalr (JSON, WebSockets)", () => {
  let server;
  let alice;
  let bob;
  const inboxes = new Map(); // `${user}:${target}` -> Inbox
  let sentinelSeq = 0;

  const ctx = () => ({ server, clients: [alice, bob] });
  const inbox = (client, target) => {
    const key = `${client.userId}:${target}`;
    if (!inboxes.has(key)) inboxes.set(key, new Inbox(client.connection, target));
    return inboxes.get(key);
  };

  /**
   * Proves that `client` received nothing on `target`: waits ABSENCE_MS, then
   * sends the client a sentinel through its connection and waits for it, so
   * anything queued earlier for that connection has had its chance to arrive.
   */
  async function assertReceivedNothing(client, target, what) {
    await sleep(ABSENCE_MS);
    const seq = ++sentinelSeq;
    const sentinel = inbox(client, "sentinel");
    const before = sentinel.messages.length;
    const res = await rest(
      server,
      "POST",
      hubPath(`/connections/${enc(client.connection.connectionId)}`),
      { body: { target: "sentinel", arguments: [seq] } },
    );
    assert.equal(res.status, 202, `sentinel send: ${describeRes(res)}`);
    const got = await sentinel.waitForCount(
      before + 1,
      DELIVERY_MS,
      `sentinel #${seq} on ${client.userId}`,
    );
    assert.deepEqual(got.at(-1), [seq], `sentinel payload on ${client.userId}`);
    assert.deepEqual(
      inbox(client, target).messages,
      [],
      `${client.userId} must not receive ${what}`,
    );
  }

  before(async () => {
    server = await startServer();
    try {
      alice = await connectClient(server, "alice");
      bob = await connectClient(server, "bob");
    } catch (err) {
      for (const c of [alice, bob]) {
        if (c) process.stderr.write(`----- client ${c.userId} log -----\n${c.logger.dump()}\n`);
      }
      process.stderr.write(server.logs());
      throw err;
    }
    // Register the sentinel handlers up front.
    inbox(alice, "sentinel");
    inbox(bob, "sentinel");
  }, { timeout: 40_000 });

  after(async () => {
    const errors = [];
    for (const c of [alice, bob]) {
      try {
        await stopClient(c);
      } catch (err) {
        errors.push(err);
      }
    }
    if (server) await server.stop();
    if (errors.length) throw errors[0];
  }, { timeout: 30_000 });

  test("connectionId is available after start", TEST_OPTS, withDiagnostics(ctx, async () => {
    assert.match(alice.connection.connectionId, /^\S+$/);
    assert.match(bob.connection.connectionId, /^\S+$/);
    assert.notEqual(alice.connection.connectionId, bob.connection.connectionId);
    for (const c of [alice, bob]) {
      const res = await rest(server, "GET", hubPath(`/connections/${enc(c.connection.connectionId)}`));
      assert.equal(res.status, 200, `GET own connection of ${c.userId}: ${describeRes(res)}`);
    }
  }));

  test("broadcast reaches both clients with the exact arguments", TEST_OPTS, withDiagnostics(ctx, async () => {
    const args = [
      "héllo, wörld ✓ \"quoted\" \n newline",
      42,
      -3.5,
      { a: 1, nested: { b: [1, 2, 3], c: "x" }, empty: {}, nil: null },
      [1, "two", null, true, [3]],
      null,
      false,
    ];
    const a = inbox(alice, "broadcastAll");
    const b = inbox(bob, "broadcastAll");
    const res = await rest(server, "POST", hubPath(), {
      body: { target: "broadcastAll", arguments: args },
    });
    assert.equal(res.status, 202, describeRes(res));
    const [gotA, gotB] = await Promise.all([
      a.waitForCount(1, DELIVERY_MS, "broadcast on alice"),
      b.waitForCount(1, DELIVERY_MS, "broadcast on bob"),
    ]);
    assert.deepEqual(gotA[0], args, "alice's arguments");
    assert.deepEqual(gotB[0], args, "bob's arguments");
    // Exactly once each.
    await sleep(ABSENCE_MS);
    assert.equal(a.messages.length, 1, "alice got the broadcast exactly once");
    assert.equal(b.messages.length, 1, "bob got the broadcast exactly once");
  }));

  test("broadcast with excluded=<alice> reaches bob only", TEST_OPTS, withDiagnostics(ctx, async () => {
    const a = inbox(alice, "broadcastExcluded");
    const b = inbox(bob, "broadcastExcluded");
    const res = await rest(server, "POST", hubPath(), {
      query: [["excluded", alice.connection.connectionId]],
      body: { target: "broadcastExcluded", arguments: ["not for alice"] },
    });
    assert.equal(res.status, 202, describeRes(res));
    const got = await b.waitForCount(1, DELIVERY_MS, "excluded-broadcast on bob");
    assert.deepEqual(got[0], ["not for alice"]);
    await assertReceivedNothing(alice, "broadcastExcluded", "a broadcast that excluded her connection");
  }));

  test("send to user bob reaches only bob", TEST_OPTS, withDiagnostics(ctx, async () => {
    const a = inbox(alice, "toUser");
    const b = inbox(bob, "toUser");
    const res = await rest(server, "POST", hubPath("/users/bob"), {
      body: { target: "toUser", arguments: ["for bob", { n: 1 }] },
    });
    assert.equal(res.status, 202, describeRes(res));
    const got = await b.waitForCount(1, DELIVERY_MS, "user message on bob");
    assert.deepEqual(got[0], ["for bob", { n: 1 }]);
    await assertReceivedNothing(alice, "toUser", "a message sent to user bob");
    assert.equal(a.messages.length, 0);
  }));

  test("send to alice's connection reaches only alice", TEST_OPTS, withDiagnostics(ctx, async () => {
    const a = inbox(alice, "toConnection");
    inbox(bob, "toConnection");
    const res = await rest(
      server,
      "POST",
      hubPath(`/connections/${enc(alice.connection.connectionId)}`),
      { body: { target: "toConnection", arguments: ["for alice's connection", [7, 8]] } },
    );
    assert.equal(res.status, 202, describeRes(res));
    const got = await a.waitForCount(1, DELIVERY_MS, "connection message on alice");
    assert.deepEqual(got[0], ["for alice's connection", [7, 8]]);
    await assertReceivedNothing(bob, "toConnection", "a message sent to alice's connection");
  }));

  test("group g1: add bob, group send reaches only bob; excluded=bob reaches nobody", TEST_OPTS, withDiagnostics(ctx, async () => {
    // Unknown connection -> 404.
    const unknown = await rest(server, "PUT", hubPath("/groups/g1/connections/no-such-connection"));
    assert.equal(unknown.status, 404, `add unknown connection to group: ${describeRes(unknown)}`);

    const add = await rest(
      server,
      "PUT",
      hubPath(`/groups/g1/connections/${enc(bob.connection.connectionId)}`),
    );
    assert.equal(add.status, 200, `add bob to g1: ${describeRes(add)}`);

    const a = inbox(alice, "toGroup");
    const b = inbox(bob, "toGroup");
    const send = await rest(server, "POST", hubPath("/groups/g1"), {
      body: { target: "toGroup", arguments: ["g1 message", 1] },
    });
    assert.equal(send.status, 202, describeRes(send));
    const got = await b.waitForCount(1, DELIVERY_MS, "group message on bob");
    assert.deepEqual(got[0], ["g1 message", 1]);
    await assertReceivedNothing(alice, "toGroup", "a g1 message (she is not in g1)");

    const a2 = inbox(alice, "toGroupExcluded");
    const b2 = inbox(bob, "toGroupExcluded");
    const excluded = await rest(server, "POST", hubPath("/groups/g1"), {
      query: [["excluded", bob.connection.connectionId]],
      body: { target: "toGroupExcluded", arguments: ["g1 without bob"] },
    });
    assert.equal(excluded.status, 202, describeRes(excluded));
    await assertReceivedNothing(bob, "toGroupExcluded", "a g1 message that excluded his connection");
    await assertReceivedNothing(alice, "toGroupExcluded", "a g1 message (she is not in g1)");
    assert.equal(a2.messages.length + b2.messages.length, 0);
    assert.equal(a.messages.length, 0);
  }));
});
