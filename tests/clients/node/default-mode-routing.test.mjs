// How a default-mode hub places clients on app servers and routes what crosses them: clients
// are spread over the server connections, `asrs.s.sn` + `asrs.s.ssticky` pin them to one app
// server, client results travel back to the caller even when another app server owns the
// client (SERVICE-PROTOCOL.md §7), a client that goes away fails its pending invocation, and a
// dropped server connection closes its clients while new ones go to the connections left.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

import { Targets } from "./appserver/index.mjs";
import {
  DELIVERY_MS,
  TEST_OPTS,
  startAppServer,
  stopAll,
  withAppDiagnostics,
} from "./default-mode-support.mjs";
import { HUB, connectClient, mintToken, startServer, stopClient, waitFor } from "./harness.mjs";

const stickyToken = (user, serverName, mode) =>
  mintToken({
    aud: `http://localhost/client/?hub=${HUB}`,
    nameid: user,
    "asrs.s.sn": serverName,
    "asrs.s.ssticky": mode,
  });

/** Which app server (of `apps`) a connected client was relayed to. */
const ownerOf = (apps, client) => apps.find((a) => a.clients.has(client.connection.connectionId));

describe("routing between app servers", () => {
  let server;
  let s1;
  let s2;
  const clients = [];
  const ctx = () => ({ server, clients, apps: [s1, s2] });
  const connect = async (user, options) => {
    const c = await connectClient(server, user, options);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer(["--service-mode", "default"]);
    s1 = await startAppServer(server, { connectionCount: 2 });
    s2 = await startAppServer(server, { connectionCount: 2 });
  });

  after(() => stopAll(clients, [s1, s2], server));

  test("clients are spread over the app servers' connections", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    const spread = [];
    for (let i = 0; i < 16; i++) spread.push(await connect(`spread-${i}`));
    const perConnection = new Map();
    for (const c of spread) {
      const owner = ownerOf([s1, s2], c);
      assert.ok(owner, `${c.userId} was relayed to an app server`);
      const via = owner.clients.get(c.connection.connectionId).service.connectionId;
      perConnection.set(via, (perConnection.get(via) ?? 0) + 1);
    }
    assert.ok(spread.some((c) => ownerOf([s1], c)) && spread.some((c) => ownerOf([s2], c)),
      "both app servers get clients");
    assert.ok(perConnection.size >= 3, `16 clients use at least 3 of the 4 connections: ${[...perConnection.values()]}`);
    for (const c of spread) await stopClient(c);
  }));

  test("asrs.s.ssticky Required and Preferred pin clients to asrs.s.sn", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    for (const mode of ["Required", "Preferred"]) {
      for (let i = 0; i < 6; i++) {
        const c = await connect(`sticky-${mode}-${i}`, { token: stickyToken(`sticky-${mode}-${i}`, s2.serverId, mode) });
        assert.equal(ownerOf([s1, s2], c), s2, `${mode} client ${i} is on ${s2.serverId}`);
        const who = await c.connection.invoke("whoami");
        assert.equal(who.serverId, s2.serverId);
        await stopClient(c);
      }
    }
    // Preferred falls back to any app server when the named one is not connected; Required fails.
    const preferred = await connect("pref-gone", { token: stickyToken("pref-gone", "no-such-server", "Preferred") });
    assert.ok(ownerOf([s1, s2], preferred), "Preferred with an unknown server still connects");
    await stopClient(preferred);
    await assert.rejects(
      connectClient(server, "req-gone", { token: stickyToken("req-gone", "no-such-server", "Required") }),
      /./,
      "Required with an unknown server fails the handshake",
    );
  }));

  test("client results come back to the caller, through a router app server too", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const onS1 = await connect("answers-s1", { token: stickyToken("answers-s1", s1.serverId, "Required") });
      const onS2 = await connect("answers-s2", {
        token: stickyToken("answers-s2", s2.serverId, "Required"),
        protocol: new MessagePackHubProtocol(),
      });
      for (const c of [onS1, onS2]) {
        c.connection.on(Targets.ask, (question) => ({ from: c.userId, answer: `${question}!` }));
      }
      // The caller owns the client.
      assert.deepEqual(await s1.invokeClient(onS1.connection.connectionId, Targets.ask, ["q1"]),
        { from: "answers-s1", answer: "q1!" });
      // s2 owns the client: it routes the completion back to s1 through the service.
      const routed = await s1.invokeClient(onS2.connection.connectionId, Targets.ask, ["q2"]);
      assert.deepEqual(routed, { from: "answers-s2", answer: "q2!" });
      assert.ok(s1.mappings.some((m) => m.connectionId === onS2.connection.connectionId),
        "the caller got a ServiceMapping for the client on another app server");
      assert.equal(s2.routedResults.size, 0, "the router forwarded the completion and forgot it");

      // A client asks the hub, which asks another client (on another app server), which answers.
      assert.deepEqual(await onS1.connection.invoke("invokeClient", onS2.connection.connectionId, "relay"),
        { from: "answers-s2", answer: "relay!" });

      onS1.connection.on("fail", () => {
        throw new Error("the client refuses");
      });
      await assert.rejects(s2.invokeClient(onS1.connection.connectionId, "fail", []), /the client refuses/);
    }));

  test("a client that goes away fails its pending client result (ErrorCompletion)", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const silent = await connect("silent", { token: stickyToken("silent", s2.serverId, "Required") });
      let asked;
      const wasAsked = new Promise((resolve) => {
        asked = resolve;
      });
      silent.connection.on("never", () => {
        asked();
        return new Promise(() => {});
      });
      const pending = s1.invokeClient(silent.connection.connectionId, "never", [], { timeoutMs: 15_000 });
      await waitFor(wasAsked, DELIVERY_MS, "the client to be asked");
      await stopClient(silent);
      await assert.rejects(pending, (err) => !/within 15000 ms/.test(err.message),
        "the caller hears of it from the service before its own timeout");
    }));

  test("a dropped server connection closes its clients; new clients go to the others", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const pinned = [];
      for (let i = 0; i < 6; i++) {
        pinned.push(await connect(`drop-${i}`, { token: stickyToken(`drop-${i}`, s1.serverId, "Required") }));
      }
      const doomed = s1.connections[0];
      const onDoomed = pinned.filter((c) => s1.clients.get(c.connection.connectionId)?.service === doomed);
      const onOther = pinned.filter((c) => !onDoomed.includes(c));
      assert.ok(onDoomed.length > 0 && onOther.length > 0,
        `the pinned clients use both of s1's connections (${onDoomed.length}/${onOther.length})`);

      doomed.terminate();
      for (const c of onDoomed) await waitFor(c.closed, DELIVERY_MS, `${c.userId} to close with its server connection`);
      for (const c of onOther) assert.equal(await c.connection.invoke("echo", c.userId), c.userId, `${c.userId} still works`);

      for (let i = 0; i < 4; i++) {
        const c = await connect(`after-drop-${i}`, { token: stickyToken(`after-drop-${i}`, s1.serverId, "Required") });
        assert.notEqual(s1.clients.get(c.connection.connectionId)?.service, doomed, "not on the dropped connection");
        assert.equal(await c.connection.invoke("echo", i), i);
      }
    }));
});
