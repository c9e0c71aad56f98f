// Two services share one Redis under different `--redis-prefix`es: each is a cluster of its own.
// A broadcast, a user send and a group send made on one service reach that service's clients on
// its other node, and never the other service's client of the same hub, user and group names.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Inbox, connectClient, describe as describeRes, enc, hubPath, rest, sleep, stopClient } from "../harness.mjs";
import { startCluster, startRedis } from "./harness.mjs";

const DELIVERY_MS = 10_000;

describe("cluster: two services with different prefixes on one Redis", () => {
  let redis;
  let red;
  let blue;
  let onRed;
  let onBlue;

  before(async () => {
    redis = await startRedis();
    red = await startCluster(2, { redis, prefix: "red" });
    blue = await startCluster(1, { redis, prefix: "blue" });
    // The same user on both services, on a node that does not take the REST calls.
    onRed = await connectClient(red.nodes[1], "shared-user");
    onBlue = await connectClient(blue.nodes[0], "shared-user");
  });

  after(async () => {
    await Promise.allSettled([stopClient(onRed), stopClient(onBlue)]);
    await red?.stop();
    await blue?.stop();
    await redis?.stop();
  });

  test("sends on one service never reach the other", { timeout: 60_000 }, async (t) => {
    try {
      const redInbox = new Inbox(onRed.connection, "m");
      const blueInbox = new Inbox(onBlue.connection, "m");
      const ok = async (node, method, path, body) => {
        const res = await rest(node, method, path, { body });
        assert.ok(res.status >= 200 && res.status < 300, describeRes(res));
      };
      const [redRest] = red.nodes;
      await ok(redRest, "PUT", hubPath(`/groups/shared/connections/${enc(onRed.connection.connectionId)}`));
      await ok(blue.nodes[0], "PUT", hubPath(`/groups/shared/connections/${enc(onBlue.connection.connectionId)}`));
      await ok(redRest, "POST", hubPath(), { target: "m", arguments: ["red broadcast"] });
      await ok(redRest, "POST", hubPath("/users/shared-user"), { target: "m", arguments: ["red user"] });
      await ok(redRest, "POST", hubPath("/groups/shared"), { target: "m", arguments: ["red group"] });
      const got = await redInbox.waitForCount(3, DELIVERY_MS, "the red service's three sends");
      assert.deepEqual(got.map(([text]) => text).sort(), ["red broadcast", "red group", "red user"]);

      // The blue client's own service then reaches it: anything red leaked would be in front.
      await sleep(300);
      await ok(blue.nodes[0], "POST", hubPath(), { target: "m", arguments: ["blue broadcast"] });
      assert.deepEqual(await blueInbox.waitForCount(1, DELIVERY_MS, "the blue broadcast"), [["blue broadcast"]]);
      await sleep(300);
      assert.deepEqual(blueInbox.messages, [["blue broadcast"]], "a red send reached the blue service");
      assert.equal(redInbox.messages.length, 3, "the blue broadcast reached the red service");
    } catch (err) {
      process.stderr.write(`\n===== diagnostics for "${t.name}" =====\n${red?.logs() ?? ""}${blue?.logs() ?? ""}`);
      throw err;
    }
  });
});
