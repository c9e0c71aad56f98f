// Scale-out with official @microsoft/signalr clients: two emulator nodes share one Redis; the
// client connects to node A, the REST calls go to node B (and the other way round), and every
// message reaches exactly the clients it is meant for, exactly once: broadcast, group (the
// membership itself changed on the other node), user and connection sends, and a run of
// sequence-numbered broadcasts with no duplicate and no gap.

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
  stopClient,
} from "../harness.mjs";
import { startCluster } from "./harness.mjs";

const DELIVERY_MS = 10_000;
// How long a client keeps listening after the last expected message: a duplicate or a message
// meant for someone else would show up within it.
const QUIET_MS = 500;
const SEQUENCE_LENGTH = 300;
const SEQUENCE_IN_FLIGHT = 8;
const TEST_OPTS = { timeout: 60_000 };

describe("cluster: @microsoft/signalr on node A, REST on node B", () => {
  let cluster;
  let a;
  let b;
  let onA; // a client of node A
  let onB; // a client of node B
  const inboxes = new Map();

  const inbox = (client, target) => {
    const key = `${client.userId}:${target}`;
    if (!inboxes.has(key)) inboxes.set(key, new Inbox(client.connection, target));
    return inboxes.get(key);
  };

  /** Runs a test body; on failure prints every node's and client's log first. */
  const diagnosed = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (err) {
      let report = `\n===== diagnostics for failed test "${t.name}" =====\n`;
      for (const c of [onA, onB]) if (c) report += `----- client ${c.userId} -----\n${c.logger.dump()}\n`;
      if (cluster) report += cluster.logs();
      process.stderr.write(report);
      throw err;
    }
  };

  async function accepted(node, method, path, body) {
    const res = await rest(node, method, path, { body });
    assert.ok(res.status >= 200 && res.status < 300, describeRes(res));
    return res;
  }

  before(async () => {
    cluster = await startCluster(2);
    [a, b] = cluster.nodes;
    onA = await connectClient(a, "alice");
    onB = await connectClient(b, "bob");
  });

  after(async () => {
    await Promise.allSettled([stopClient(onA), stopClient(onB)]);
    await cluster?.stop();
  });

  test("a broadcast sent to node B reaches the clients of both nodes once", TEST_OPTS, diagnosed(async () => {
    const alice = inbox(onA, "broadcast");
    const bob = inbox(onB, "broadcast");
    await accepted(b, "POST", hubPath(), { target: "broadcast", arguments: ["to everyone", 1] });
    assert.deepEqual(await alice.waitForCount(1, DELIVERY_MS, "the broadcast on node A"), [["to everyone", 1]]);
    assert.deepEqual(await bob.waitForCount(1, DELIVERY_MS, "the broadcast on node B"), [["to everyone", 1]]);
    await sleep(QUIET_MS);
    assert.equal(alice.messages.length, 1, "node A's client got the broadcast more than once");
    assert.equal(bob.messages.length, 1, "node B's client got the broadcast more than once");
  }));

  test("node B adds node A's connection to a group, and a group send on B reaches it alone", TEST_OPTS, diagnosed(async () => {
    const id = enc(onA.connection.connectionId);
    await accepted(b, "PUT", hubPath(`/groups/across/connections/${id}`));
    const alice = inbox(onA, "group");
    const bob = inbox(onB, "group");
    await accepted(b, "POST", hubPath("/groups/across"), { target: "group", arguments: ["to the group"] });
    assert.deepEqual(await alice.waitForCount(1, DELIVERY_MS, "the group send on node A"), [["to the group"]]);
    await sleep(QUIET_MS);
    assert.equal(bob.messages.length, 0, "node B's client is not in the group");

    await accepted(b, "DELETE", hubPath(`/groups/across/connections/${id}`));
    await accepted(b, "POST", hubPath("/groups/across"), { target: "group", arguments: ["after leaving"] });
    await sleep(QUIET_MS);
    assert.equal(alice.messages.length, 1, "node A's client left the group on node B but still got its message");
  }));

  test("a user send on node B reaches the user's connection on node A only", TEST_OPTS, diagnosed(async () => {
    const alice = inbox(onA, "user");
    const bob = inbox(onB, "user");
    await accepted(b, "POST", hubPath("/users/alice"), { target: "user", arguments: ["for alice"] });
    assert.deepEqual(await alice.waitForCount(1, DELIVERY_MS, "the user send on node A"), [["for alice"]]);
    await sleep(QUIET_MS);
    assert.equal(bob.messages.length, 0, "bob got alice's message");
    assert.equal(alice.messages.length, 1, "alice got her message more than once");
  }));

  test("a connection send on node B reaches the connection on node A only", TEST_OPTS, diagnosed(async () => {
    const alice = inbox(onA, "direct");
    const bob = inbox(onB, "direct");
    await accepted(b, "POST", hubPath(`/connections/${enc(onA.connection.connectionId)}`), {
      target: "direct",
      arguments: [{ nested: [1, 2, 3] }],
    });
    assert.deepEqual(await alice.waitForCount(1, DELIVERY_MS, "the connection send on node A"), [[{ nested: [1, 2, 3] }]]);
    await sleep(QUIET_MS);
    assert.equal(bob.messages.length, 0, "bob got a message sent to alice's connection");
  }));

  test(`${SEQUENCE_LENGTH} numbered broadcasts, sent to both nodes in turn, reach each client exactly once`, TEST_OPTS, diagnosed(async () => {
    const alice = inbox(onA, "seq");
    const bob = inbox(onB, "seq");
    const nodes = [b, a];
    let next = 0;
    const sendOne = async () => {
      while (next < SEQUENCE_LENGTH) {
        const seq = next++;
        await accepted(nodes[seq % 2], "POST", hubPath(), { target: "seq", arguments: [seq] });
      }
    };
    await Promise.all(Array.from({ length: SEQUENCE_IN_FLIGHT }, sendOne));
    for (const [name, box] of [["alice (node A)", alice], ["bob (node B)", bob]]) {
      await box.waitForCount(SEQUENCE_LENGTH, DELIVERY_MS, `${SEQUENCE_LENGTH} broadcasts at ${name}`);
    }
    await sleep(QUIET_MS);
    const expected = Array.from({ length: SEQUENCE_LENGTH }, (_, i) => i);
    for (const [name, box] of [["alice (node A)", alice], ["bob (node B)", bob]]) {
      const seqs = box.messages.map(([seq]) => seq);
      const sorted = [...seqs].sort((x, y) => x - y);
      const duplicates = sorted.filter((seq, i) => i > 0 && sorted[i - 1] === seq);
      assert.deepEqual(duplicates, [], `${name} got duplicates`);
      assert.deepEqual(sorted, expected, `${name} did not get every number exactly once`);
    }
  }));
});
