// The Management SDK's persistent transport: a Weak server connection to a serverless hub (in
// the classic and serverless service modes) sends the same fan-out, group and check messages as
// an app server, and they act on the hub's ordinary clients, JSON and MessagePack alike. A Weak
// connection never gets a client of its own.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { HttpTransportType } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

import { AckStatus, ConnectionType } from "./appserver/index.mjs";
import { Inboxes, TEST_OPTS, fence, startAppServer, stopAll, withAppDiagnostics } from "./default-mode-support.mjs";
import { connectClient, startServer, waitFor } from "./harness.mjs";

const DELIVERY_MS = 5_000;

for (const mode of ["classic", "serverless"]) {
  describe(`Weak (Management SDK) connections on a serverless hub, --service-mode ${mode}`, () => {
    let server;
    let sdk;
    let json;
    let mp;
    let lp;
    const inboxes = new Inboxes();
    const ctx = () => ({ server, clients: [json, mp, lp], apps: [sdk] });
    const id = (c) => c.connection.connectionId;

    before(async () => {
      server = await startServer(["--service-mode", mode]);
      sdk = await startAppServer(server, { connectionCount: 1, connectionType: ConnectionType.Weak });
      json = await connectClient(server, "wendy");
      mp = await connectClient(server, "walt", { protocol: new MessagePackHubProtocol() });
      lp = await connectClient(server, "walt", { transport: HttpTransportType.LongPolling });
      lp.userId = "walt#lp";
    });

    after(() => stopAll([json, mp, lp], [sdk], server));

    async function expect(send, expected, what) {
      const target = `w-${what.replaceAll(" ", "-")}`;
      for (const c of [json, mp, lp]) inboxes.of(c, target);
      await send(target, [what, 42]);
      await fence(sdk, [json, mp, lp], inboxes);
      for (const c of [json, mp, lp]) {
        const got = inboxes.of(c, target).messages;
        assert.deepEqual(got, expected.includes(c) ? [[what, 42]] : [], `${what} at ${c.userId}`);
      }
    }

    test("fan-out, groups, user groups and checks act on the hub's clients", TEST_OPTS,
      withAppDiagnostics(ctx, async () => {
        assert.equal(sdk.clients.size, 0, "a Weak connection gets no OpenConnection");
        await expect((t, a) => sdk.broadcast(t, a), [json, mp, lp], "broadcast");
        await expect((t, a) => sdk.broadcast(t, a, { excluded: [id(json)] }), [mp, lp], "broadcast except");
        await expect((t, a) => sdk.sendToUser("walt", t, a), [mp, lp], "user walt");
        await expect((t, a) => sdk.sendToConnections([id(json), id(lp)], t, a), [json, lp], "two connections");
        assert.equal((await sdk.addToGroup(id(mp), "weak-g")).status, AckStatus.Ok);
        assert.equal((await sdk.addUserToGroup("wendy", "weak-g", { ttl: 60 })).status, AckStatus.Ok);
        await expect((t, a) => sdk.sendToGroup("weak-g", t, a), [json, mp], "group");
        assert.equal((await sdk.checkUserInGroup("wendy", "weak-g")).status, AckStatus.Ok);
        assert.equal((await sdk.userExists("walt")).status, AckStatus.Ok);
        assert.equal((await sdk.connectionExists("ghost")).status, AckStatus.NotFound);
        assert.equal((await sdk.removeUserFromGroup("wendy", null)).status, AckStatus.Ok);
        await expect((t, a) => sdk.sendToGroup("weak-g", t, a), [mp], "group after wendy left");
        sdk.closeConnection(id(lp), "closed by the sdk");
        assert.match(String(await waitFor(lp.closed, DELIVERY_MS, "the close")), /closed by the sdk/);
      }));

    test("client results: a ClientInvocation from a Weak connection is answered by the client's handler", TEST_OPTS,
      withAppDiagnostics(ctx, async () => {
        for (const c of [json, mp]) c.connection.on("weakAsk", (question) => `${c.userId} answers ${question}`);
        assert.equal(await sdk.invokeClient(id(json), "weakAsk", ["q1"], { timeoutMs: DELIVERY_MS }), "wendy answers q1");
        assert.equal(await sdk.invokeClient(id(mp), "weakAsk", ["q2"], { timeoutMs: DELIVERY_MS }), "walt answers q2");
        // A client that leaves before it answers fails the call instead of leaving it pending.
        const quiet = await connectClient(server, "quinn");
        let asked;
        const called = new Promise((resolve) => { asked = resolve; });
        quiet.connection.on("weakAsk", () => { asked(); return new Promise(() => {}); });
        const pending = sdk.invokeClient(id(quiet), "weakAsk", ["q3"], { timeoutMs: DELIVERY_MS });
        await waitFor(called, DELIVERY_MS, "the invocation at the client");
        await quiet.connection.stop();
        await assert.rejects(pending, /closed before it answered/);
      }));
  });
}
