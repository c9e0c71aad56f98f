// Default mode over two nodes, from the app server's side: an app-server simulator on each
// node, official @microsoft/signalr clients on each node (JSON over WebSockets on A,
// MessagePack over long polling on B). What the app server on B sends reaches the clients of
// node A as well as its own, exactly once; its group, user-group and existence operations act
// on connections held by node A; a client result asked by one app server of a client owned by
// the other comes back across the nodes; a run of numbered broadcasts from both app servers has
// no duplicate and no gap.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { HttpTransportType } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

import { AckStatus } from "../appserver/index.mjs";
import {
  DELIVERY_MS,
  Inboxes,
  fence,
  startAppServer,
  stopAll,
  withAppDiagnostics,
} from "../default-mode-support.mjs";
import { connectClient } from "../harness.mjs";
import { startCluster } from "./harness.mjs";

const TEST_OPTS = { timeout: 60_000 };
const SEQUENCE_LENGTH = 200;

describe("cluster: app servers on two nodes, @microsoft/signalr clients on both", () => {
  let cluster;
  let onA; // the app server connected to node A
  let onB; // the app server connected to node B
  let alice; // a client of node A (JSON, WebSockets)
  let bob; // a client of node B (MessagePack, long polling)
  let all;
  const inboxes = new Inboxes();
  const id = (c) => c.connection.connectionId;
  const ctx = () => ({ clients: all ?? [], apps: [onA, onB], server: { logs: () => cluster?.logs() ?? "" } });
  let step = 0;

  /** Sends through `send(target, args)`, then a fence from both app servers, and asserts that
   * exactly `expected` got the message, once each. */
  async function expectReceivers(send, expected, what) {
    const target = `step${++step}`;
    const args = [what, step];
    for (const c of all) inboxes.of(c, target);
    await send(target, args);
    for (const c of expected) {
      await inboxes.of(c, target).waitForCount(1, DELIVERY_MS, `${what} at ${c.userId}`);
    }
    await fence(onB, all, inboxes);
    await fence(onA, all, inboxes);
    for (const c of all) {
      const got = inboxes.of(c, target).messages;
      assert.deepEqual(got, expected.includes(c) ? [args] : [], `${what}: what ${c.userId} got`);
    }
  }

  before(async () => {
    cluster = await startCluster(2, { extraArgs: ["--service-mode", "default"] });
    const [a, b] = cluster.nodes;
    onA = await startAppServer(a);
    onB = await startAppServer(b);
    alice = await connectClient(a, "alice");
    bob = await connectClient(b, "bob", {
      protocol: new MessagePackHubProtocol(),
      transport: HttpTransportType.LongPolling,
    });
    all = [alice, bob];
  });

  after(async () => {
    await stopAll(all, [onA, onB]);
    await cluster?.stop();
  });

  test("fan-out from the app server on B reaches the clients of both nodes once", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      await expectReceivers((t, a) => onB.broadcast(t, a), all, "broadcast from B");
      await expectReceivers((t, a) => onB.broadcast(t, a, { excluded: [id(bob)] }), [alice], "broadcast from B except bob");
      await expectReceivers((t, a) => onB.sendToUser("alice", t, a), [alice], "to user alice from B");
      await expectReceivers((t, a) => onB.sendToUsers(["alice", "bob"], t, a), all, "to users alice+bob from B");
      await expectReceivers((t, a) => onB.sendToConnections([id(alice)], t, a), [alice], "to alice's connection from B");
    }));

  test("group and user-group changes from B act on A's client", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      assert.equal((await onB.addToGroup(id(alice), "g1")).status, AckStatus.Ok, "B joins A's client");
      assert.equal((await onB.groupExists("g1")).status, AckStatus.Ok, "B sees the group A holds");
      await expectReceivers((t, a) => onB.sendToGroup("g1", t, a), [alice], "group g1 from B");
      await expectReceivers((t, a) => onB.sendToGroup("g1", t, a, { excludedUserIds: ["alice"] }), [], "g1 except alice");
      assert.equal((await onB.removeFromGroup(id(alice), "g1")).status, AckStatus.Ok);
      await expectReceivers((t, a) => onB.sendToGroup("g1", t, a), [], "g1 after alice left");

      assert.equal((await onB.addUserToGroup("alice", "ug")).status, AckStatus.Ok);
      await expectReceivers((t, a) => onA.sendToGroups(["ug", "none"], t, a), [alice], "user group from A after B's change");
      assert.equal((await onB.checkUserInGroup("alice", "ug")).status, AckStatus.Ok);
      assert.equal((await onB.removeUserFromGroup("alice", "ug")).status, AckStatus.Ok);
      await expectReceivers((t, a) => onB.sendToGroup("ug", t, a), [], "user group after alice left");

      assert.equal((await onB.connectionExists(id(alice))).status, AckStatus.Ok);
      assert.equal((await onB.userExists("alice")).status, AckStatus.Ok);
      assert.equal((await onB.userExists("nobody")).status, AckStatus.NotFound);
    }));

  test("a client result crosses the nodes both ways (the owner routes it back)", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      for (const c of all) c.connection.on("ask", (question) => ({ from: c.userId, answer: `${question}!` }));
      assert.deepEqual(await onA.invokeClient(id(bob), "ask", ["q1"]), { from: "bob", answer: "q1!" },
        "A's app server asks B's client");
      assert.ok(onA.mappings.some((m) => m.connectionId === id(bob)), "A's app server got a ServiceMapping");
      assert.deepEqual(await onB.invokeClient(id(alice), "ask", ["q2"]), { from: "alice", answer: "q2!" },
        "B's app server asks A's client");
      alice.connection.on("fail", () => {
        throw new Error("alice refuses");
      });
      await assert.rejects(onB.invokeClient(id(alice), "fail", []), /alice refuses/);
    }));

  test(`${SEQUENCE_LENGTH} numbered broadcasts from both app servers reach each client once, each sender in order`,
    TEST_OPTS, withAppDiagnostics(ctx, async () => {
      for (const c of all) inboxes.of(c, "seq");
      for (let n = 0; n < SEQUENCE_LENGTH; n++) (n % 2 === 0 ? onA : onB).broadcast("seq", [n]);
      for (const c of all) {
        const got = await inboxes.of(c, "seq").waitForCount(SEQUENCE_LENGTH, DELIVERY_MS * 2, `the run at ${c.userId}`);
        const numbers = got.map(([n]) => Number(n));
        const evens = numbers.filter((n) => n % 2 === 0);
        const odds = numbers.filter((n) => n % 2 === 1);
        assert.deepEqual(evens, Array.from({ length: SEQUENCE_LENGTH / 2 }, (_, i) => 2 * i), `A's run at ${c.userId}`);
        assert.deepEqual(odds, Array.from({ length: SEQUENCE_LENGTH / 2 }, (_, i) => 2 * i + 1), `B's run at ${c.userId}`);
      }
      await fence(onA, all, inboxes);
      for (const c of all) assert.equal(inboxes.of(c, "seq").messages.length, SEQUENCE_LENGTH, `no duplicate at ${c.userId}`);
    }));
});
