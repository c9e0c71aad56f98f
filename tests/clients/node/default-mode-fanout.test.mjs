// Every message an app server (or the Management SDK) sends to address clients, from the
// app-server simulator to official @microsoft/signalr clients of a default-mode hub: each must
// reach exactly the clients it names (and no others), in their own protocol, once. Group and
// user-group changes, existence checks and closes are acknowledged only after they took effect;
// user-group memberships expire after their TTL; REST and app servers share one registry.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { HttpTransportType } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { decode } from "@msgpack/msgpack";

import { AckStatus, ConnectionType } from "./appserver/index.mjs";
import {
  DELIVERY_MS,
  Inboxes,
  TEST_OPTS,
  fence,
  startAppServer,
  stopAll,
  withAppDiagnostics,
} from "./default-mode-support.mjs";
import {
  connectClient,
  describe as describeRes,
  enc,
  hubPath,
  pollUntil,
  rest,
  startServer,
  waitFor,
} from "./harness.mjs";

describe("scope-5 messages from an app server to default-mode clients", () => {
  let server;
  let app;
  let sdk; // a Management SDK: one Weak connection
  let alice; // json, WebSockets
  let alice2; // messagepack, WebSockets (the same user)
  let bob; // messagepack, long polling
  let carol; // json, Server-Sent Events
  let all;
  const extra = [];
  const inboxes = new Inboxes();
  let step = 0;
  const ctx = () => ({ server, clients: [...all, ...extra], apps: [app, sdk] });
  const id = (c) => c.connection.connectionId;

  /**
   * Runs `send(target, args)`, fences, and asserts that exactly `expected` (a subset of `all`)
   * received the message once, with its arguments intact.
   */
  async function expectReceivers(send, expected, what) {
    const target = `step${++step}`;
    const args = [what, step, { nested: [step, "✓"] }];
    // Handlers first: the client drops an invocation of a method it has no handler for.
    for (const c of [...all, ...extra]) inboxes.of(c, target);
    await send(target, args);
    for (const c of expected) {
      await inboxes.of(c, target).waitForCount(1, DELIVERY_MS, `${what} at ${c.userId}`);
    }
    await fence(app, [...all, ...extra], inboxes);
    for (const c of [...all, ...extra]) {
      const got = inboxes.of(c, target).messages;
      if (expected.includes(c)) {
        assert.deepEqual(got, [args], `${what}: ${c.userId} (${id(c)}) gets it exactly once`);
      } else {
        assert.deepEqual(got, [], `${what}: ${c.userId} (${id(c)}) must not get it`);
      }
    }
  }

  before(async () => {
    server = await startServer(["--service-mode", "default"]);
    app = await startAppServer(server, { connectionCount: 2 });
    sdk = await startAppServer(server, { connectionCount: 1, connectionType: ConnectionType.Weak });
    const mp = () => new MessagePackHubProtocol();
    alice = await connectClient(server, "alice");
    alice2 = await connectClient(server, "alice", { protocol: mp() });
    alice2.userId = "alice#2";
    bob = await connectClient(server, "bob", { protocol: mp(), transport: HttpTransportType.LongPolling });
    carol = await connectClient(server, "carol", { transport: HttpTransportType.ServerSentEvents });
    all = [alice, alice2, bob, carol];
  });

  after(() => stopAll([...all, ...extra], [app, sdk], server));

  test("BroadcastData reaches every client, minus the excluded connections", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      await expectReceivers((t, a) => app.broadcast(t, a), all, "broadcast");
      await expectReceivers((t, a) => app.broadcast(t, a, { excluded: [id(bob), id(carol)] }),
        [alice, alice2], "broadcast except bob and carol");
      // Sent on the other server connection: any connection of the hub may address any client.
      await expectReceivers((t, a) => app.broadcast(t, a, { via: 1 }), all, "broadcast on connection #1");
    }));

  test("MultiConnectionData reaches the named connections", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    await expectReceivers((t, a) => app.sendToConnections([id(bob), id(carol)], t, a), [bob, carol], "to bob+carol");
    await expectReceivers((t, a) => app.sendToConnections([id(alice2), "no-such-id"], t, a), [alice2], "to alice#2 and a ghost");
  }));

  test("UserData and MultiUserData reach every connection of the named users", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      await expectReceivers((t, a) => app.sendToUser("alice", t, a), [alice, alice2], "to user alice");
      await expectReceivers((t, a) => app.sendToUsers(["bob", "carol", "nobody"], t, a), [bob, carol], "to users bob+carol");
    }));

  test("JoinGroupWithAck / LeaveGroupWithAck take effect before their Ack", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      for (const c of [alice, bob]) {
        const ack = await app.addToGroup(id(c), "g1");
        assert.equal(ack.status, AckStatus.Ok, `join g1 ack for ${c.userId}`);
      }
      assert.equal((await app.addToGroup(id(carol), "g2")).status, AckStatus.Ok);
      assert.equal((await app.addToGroup(id(bob), "g2")).status, AckStatus.Ok);
      assert.equal((await app.addToGroup("no-such-connection", "g1")).status, AckStatus.NotFound,
        "joining a connection that does not exist is NotFound");

      await expectReceivers((t, a) => app.sendToGroup("g1", t, a), [alice, bob], "group g1");
      await expectReceivers((t, a) => app.sendToGroup("g1", t, a, { excludedConnectionIds: [id(bob)] }), [alice], "g1 except bob's connection");
      await expectReceivers((t, a) => app.sendToGroup("g1", t, a, { excludedUserIds: ["alice"] }), [bob], "g1 except user alice");
      await expectReceivers((t, a) => app.sendToGroups(["g1", "g2", "g-none"], t, a), [alice, bob, carol],
        "groups g1+g2 (bob is in both and gets one copy)");

      assert.equal((await app.removeFromGroup(id(bob), "g1")).status, AckStatus.Ok);
      await expectReceivers((t, a) => app.sendToGroup("g1", t, a), [alice], "g1 after bob left");
      assert.equal((await app.removeFromGroup(id(bob), null)).status, AckStatus.Ok, "leave every group");
      await expectReceivers((t, a) => app.sendToGroups(["g1", "g2"], t, a), [alice, carol], "g1+g2 after bob left all");
    }));

  test("legacy JoinGroup / LeaveGroup (no ack) apply in order on their connection", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      app.joinGroupNoAck(id(carol), "legacy");
      await expectReceivers((t, a) => app.sendToGroup("legacy", t, a), [carol], "legacy group after JoinGroup");
      app.leaveGroupNoAck(id(carol), "legacy");
      await expectReceivers((t, a) => app.sendToGroup("legacy", t, a), [], "legacy group after LeaveGroup");
    }));

  test("UserJoinGroupWithAck applies to every connection of the user, present and future", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      assert.equal((await app.addUserToGroup("alice", "ug")).status, AckStatus.Ok);
      await expectReceivers((t, a) => app.sendToGroup("ug", t, a), [alice, alice2], "user group ug");
      const alice3 = await connectClient(server, "alice");
      alice3.userId = "alice#3";
      extra.push(alice3);
      await expectReceivers((t, a) => app.sendToGroup("ug", t, a), [alice, alice2, alice3], "ug with alice's new connection");
      assert.equal((await app.checkUserInGroup("alice", "ug")).status, AckStatus.Ok);

      assert.equal((await app.removeUserFromGroup("alice", "ug")).status, AckStatus.Ok);
      await expectReceivers((t, a) => app.sendToGroup("ug", t, a), [], "ug after alice left");
      assert.equal((await app.checkUserInGroup("alice", "ug")).status, AckStatus.NotFound);

      for (const g of ["ua", "ub"]) assert.equal((await app.addUserToGroup("bob", g)).status, AckStatus.Ok);
      assert.equal((await app.removeUserFromGroup("bob", null)).status, AckStatus.Ok, "nil group: leave all");
      await expectReceivers((t, a) => app.sendToGroups(["ua", "ub"], t, a), [], "ua+ub after bob left all");

      app.userJoinGroupNoAck("carol", "legacy-user");
      await expectReceivers((t, a) => app.sendToGroup("legacy-user", t, a), [carol], "legacy UserJoinGroup");
      app.userLeaveGroupNoAck("carol", "legacy-user");
      await expectReceivers((t, a) => app.sendToGroup("legacy-user", t, a), [], "legacy UserLeaveGroup");
    }));

  test("a user-group membership with a TTL (ext 2) expires", { timeout: 40_000 },
    withAppDiagnostics(ctx, async () => {
      assert.equal((await app.addUserToGroup("carol", "short", { ttl: 2 })).status, AckStatus.Ok);
      assert.equal((await app.addUserToGroup("bob", "long", { ttl: 600 })).status, AckStatus.Ok);
      assert.equal((await app.checkUserInGroup("carol", "short")).status, AckStatus.Ok);
      await expectReceivers((t, a) => app.sendToGroups(["short", "long"], t, a), [bob, carol], "before the TTL");
      await pollUntil(async () => (await app.checkUserInGroup("carol", "short")).status === AckStatus.NotFound,
        10_000, "carol's 2 s membership to expire", 250);
      await expectReceivers((t, a) => app.sendToGroups(["short", "long"], t, a), [bob], "after carol's TTL");

      app.userJoinGroupNoAck("alice", "legacy-ttl", { ttl: 3 });
      const alices = [...all, ...extra].filter((c) => c.userId.split("#")[0] === "alice");
      await expectReceivers((t, a) => app.sendToGroup("legacy-ttl", t, a), alices, "legacy UserJoinGroup with TTL");
      await pollUntil(async () => (await app.checkUserInGroup("alice", "legacy-ttl")).status === AckStatus.NotFound,
        10_000, "alice's 3 s membership to expire", 250);
    }));

  test("existence checks answer Ok and NotFound", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    assert.equal((await app.addToGroup(id(alice), "exists")).status, AckStatus.Ok);
    const cases = [
      ["connection alice", () => app.connectionExists(id(alice)), AckStatus.Ok],
      ["connection ghost", () => app.connectionExists("ghost"), AckStatus.NotFound],
      ["user bob", () => app.userExists("bob"), AckStatus.Ok],
      ["user nobody", () => app.userExists("nobody"), AckStatus.NotFound],
      ["group exists", () => app.groupExists("exists"), AckStatus.Ok],
      ["group empty", () => app.groupExists("never-joined"), AckStatus.NotFound],
      ["alice in group exists", () => app.checkUserInGroup("alice", "exists"), AckStatus.Ok],
      ["bob in group exists", () => app.checkUserInGroup("bob", "exists"), AckStatus.NotFound],
    ];
    for (const [what, check, expected] of cases) {
      const ack = await check();
      assert.equal(ack.status, expected, `${what}: ack ${JSON.stringify(ack)}`);
    }
    assert.equal((await app.removeFromGroup(id(alice), "exists")).status, AckStatus.Ok);
    assert.equal((await app.groupExists("exists")).status, AckStatus.NotFound, "the group is gone with its last member");
  }));

  test("GroupMemberQuery lists the group's connections and users in the Ack payload", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      for (const c of [alice, bob]) assert.equal((await app.addToGroup(id(c), "listed")).status, AckStatus.Ok);
      const ack = await app.queryGroupMembers("listed", 10);
      assert.equal(ack.status, AckStatus.Ok, JSON.stringify(ack));
      assert.ok(ack.payload instanceof Uint8Array, "the members come as a MessagePack payload");
      const text = JSON.stringify(decode(ack.payload));
      for (const c of [alice, bob]) {
        assert.ok(text.includes(id(c)), `${text} lists ${c.userId}'s connection`);
      }
      assert.ok(!text.includes(id(carol)), `${text} must not list carol`);
      for (const c of [alice, bob]) assert.equal((await app.removeFromGroup(id(c), "listed")).status, AckStatus.Ok);
    }));

  test("REST and the app server share one registry", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    let res = await rest(server, "PUT", hubPath(`/groups/rest-group/connections/${enc(id(carol))}`));
    assert.ok([200, 202].includes(res.status), describeRes(res));
    assert.equal((await app.checkUserInGroup("carol", "rest-group")).status, AckStatus.Ok, "REST join seen by the app server");
    await expectReceivers((t, a) => app.sendToGroup("rest-group", t, a), [carol], "app server to a REST group");

    assert.equal((await app.addToGroup(id(bob), "app-group")).status, AckStatus.Ok);
    res = await rest(server, "HEAD", hubPath("/groups/app-group"));
    assert.equal(res.status, 200, `an app server's group is seen by REST: ${describeRes(res)}`);
    await expectReceivers(async (t, a) => {
      const sent = await rest(server, "POST", hubPath("/groups/app-group"), { body: { target: t, arguments: a } });
      assert.equal(sent.status, 202, describeRes(sent));
    }, [bob], "REST send to the app server's group");
    await expectReceivers(async (t, a) => {
      const sent = await rest(server, "POST", hubPath(), { body: { target: t, arguments: a } });
      assert.equal(sent.status, 202, describeRes(sent));
    }, [...all, ...extra], "REST broadcast to default-mode clients");
  }));

  test("close messages end exactly the named clients, acknowledged", { timeout: 60_000 },
    withAppDiagnostics(ctx, async () => {
      const mk = async (user, opts) => {
        const c = await connectClient(server, user, opts);
        extra.push(c);
        return c;
      };
      const victims = {
        byId: await mk("v-id"),
        byIdAck: await mk("v-id-ack"),
        byUser1: await mk("v-user"),
        byUser2: await mk("v-user", { protocol: new MessagePackHubProtocol() }),
        byGroup: await mk("v-group"),
        excluded: await mk("v-user"),
      };
      victims.byUser2.userId = "v-user#2";
      victims.excluded.userId = "v-user#kept";
      assert.equal((await app.addToGroup(id(victims.byGroup), "doomed")).status, AckStatus.Ok);
      assert.equal((await app.addToGroup(id(alice), "doomed")).status, AckStatus.Ok);

      const closedWith = async (c, what) => String(await waitFor(c.closed, DELIVERY_MS, `${what} to close ${c.userId}`));

      sdk.closeConnection(id(victims.byId), "closed by the management sdk");
      assert.match(await closedWith(victims.byId, "CloseConnection"), /closed by the management sdk/);
      assert.equal((await app.closeConnectionWithAck(id(victims.byIdAck), "ack close")).status, AckStatus.Ok);
      await closedWith(victims.byIdAck, "CloseConnectionWithAck");
      assert.equal((await app.closeConnectionWithAck("ghost", "x")).status, AckStatus.NotFound);

      const userAck = await app.closeUserWithAck("v-user", "user closed", [id(victims.excluded)]);
      assert.equal(userAck.status, AckStatus.Ok);
      await closedWith(victims.byUser1, "CloseUserConnectionsWithAck");
      await closedWith(victims.byUser2, "CloseUserConnectionsWithAck");

      const groupAck = await app.closeGroupWithAck("doomed", "group closed", [id(alice)]);
      assert.equal(groupAck.status, AckStatus.Ok);
      await closedWith(victims.byGroup, "CloseGroupConnectionsWithAck");

      // Everyone else, the excluded connection of v-user included, is still connected.
      for (const v of [victims.byId, victims.byIdAck, victims.byUser1, victims.byUser2, victims.byGroup]) {
        extra.splice(extra.indexOf(v), 1);
      }
      await expectReceivers((t, a) => app.broadcast(t, a), [...all, ...extra], "broadcast after the closes");

      const allAck = await app.closeConnectionsWithAck("hub closed", [id(alice)]);
      assert.equal(allAck.status, AckStatus.Ok);
      for (const c of [alice2, bob, carol, ...extra]) await closedWith(c, "CloseConnectionsWithAck");
      assert.equal((await app.connectionExists(id(alice))).status, AckStatus.Ok, "the excluded alice survives");
    }));
});
