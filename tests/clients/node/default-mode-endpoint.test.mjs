// The `/server/?hub=&cid=` endpoint as the app-server simulator meets it: the SDK's token is
// accepted and every wrong one refused with the precise 401 reason, a handshake version the
// service does not speak gets a HandshakeResponse error and a close, the service keeps the
// connection alive with pings and answers the SDK's own, OpenConnection carries what the SDK
// needs (claims, headers, query, protocol), and bad or unknown input never costs other clients.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { encode } from "@msgpack/msgpack";

import {
  AckStatus,
  ConnectionType,
  ServiceConnection,
  Type,
  UpgradeRejected,
  claimValue,
  frame,
  newServerId,
  serverToken,
  write,
} from "./appserver/index.mjs";
import { DELIVERY_MS, Inboxes, TEST_OPTS, fence, startAppServer, stopAll, withAppDiagnostics } from "./default-mode-support.mjs";
import { ACCESS_KEY, HUB, connectClient, mintToken, startServer, waitFor } from "./harness.mjs";

const NAME_ID_CLAIMS = ["nameid", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"];
const SYSTEM_CLAIMS = ["aud", "exp", "iat", "nbf"];

describe("the /server endpoint", () => {
  let server;
  let app;
  const clients = [];
  const inboxes = new Inboxes();
  const opened = [];
  const ctx = () => ({ server, clients, apps: [app] });

  const connection = (options = {}) =>
    new ServiceConnection({
      baseUrl: server.baseUrl,
      hub: HUB,
      accessKey: server.accessKey,
      serverId: newServerId(),
      ...options,
    });
  /** Opens a server connection that the suite closes at the end. */
  const track = (c) => {
    opened.push(c);
    return c;
  };

  before(async () => {
    server = await startServer(["--service-mode", "default"]);
    app = await startAppServer(server, { connectionCount: 1 });
  });

  after(async () => {
    for (const c of opened) c.terminate();
    await stopAll(clients, [app], server);
  });

  async function refused(options, status, pattern, what) {
    const c = connection(options);
    const err = await c.open().then(
      () => assert.fail(`${what}: the service accepted the server connection`),
      (e) => e,
    );
    assert.ok(err instanceof UpgradeRejected, `${what}: ${err.message}`);
    assert.equal(err.status, status, `${what}: ${err.message}`);
    assert.match(err.body, pattern, what);
  }

  test("refuses wrong tokens with the precise 401 reason", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    const serverId = newServerId();
    const base = { accessKey: ACCESS_KEY, baseUrl: server.baseUrl, hub: HUB, serverId };
    await refused({ token: serverToken({ ...base, key: "not-the-access-key" }) }, 401,
      /InvalidSignature|unknown key/i, "bad signature");
    await refused({ token: serverToken({ ...base, claims: { aud: "http://localhost/client/?hub=chat" } }) }, 401,
      /AudienceMismatch[\s\S]*\/server\/\?hub=chat/, "a client audience");
    await refused({ token: serverToken({ ...base, claims: { aud: "http://localhost/server/?hub=other" } }) }, 401,
      /AudienceMismatch/, "another hub's audience");
    await refused({ token: serverToken({ ...base, lifetimeSeconds: -120, claims: { nbf: Math.floor(Date.now() / 1000) - 300 } }) }, 401,
      /TokenExpired|expired/i, "an expired token");
    await refused({ headers: { Authorization: "" } }, 401, /./, "no token");
  }));

  test("accepts the SDK's token whatever scheme and port its audience names", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const serverId = newServerId();
      for (const aud of [`https://localhost:443/server/?hub=${HUB}`, `http://localhost:9999/server/?hub=${HUB}`]) {
        const token = serverToken({ accessKey: ACCESS_KEY, baseUrl: server.baseUrl, hub: HUB, serverId, claims: { aud } });
        const c = track(connection({ serverId, token }));
        const response = await c.open();
        assert.ok(!response.error, `audience ${aud}: ${response.error}`);
        await c.close();
      }
    }));

  test("answers a handshake version it does not speak with an error, then closes", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const c = connection({ handshake: { version: 2 } });
      const response = await c.open();
      assert.equal(response.type, Type.HandshakeResponse);
      assert.match(response.error ?? "", /version/i, `the error names the version: ${response.error}`);
      const closed = await waitFor(c.closed, DELIVERY_MS, "the service to close after the handshake error");
      assert.ok(closed.code >= 1000, JSON.stringify(closed));
    }));

  test("pings an idle server connection and answers the SDK's pings", { timeout: 45_000 },
    withAppDiagnostics(ctx, async () => {
      const c = track(connection({ keepAlive: false }));
      await c.start();
      // The SDK drops a connection after 30 s of silence, so the service must speak well before.
      const ping = await c.waitForMessage((m) => m.type === Type.Ping && m.pairs.length === 0, 20_000, "a service ping");
      assert.ok(ping);
      assert.equal(c.textFrames, 0, "every frame from the service is binary");

      c.send(write.ping("status", "1"));
      const status = await c.waitForMessage((m) => m.type === Type.Ping && m.pairs[0] === "status", DELIVERY_MS, "the status reply");
      assert.ok(["0", "1"].includes(status.pairs[1]), JSON.stringify(status.pairs));

      c.send(write.ping("servers", ""));
      const servers = await c.waitForMessage((m) => m.type === Type.Ping && m.pairs[0] === "servers", DELIVERY_MS, "the servers reply");
      assert.match(servers.pairs[1], /^\d+:/, JSON.stringify(servers.pairs));
      assert.ok(servers.pairs[1].includes(app.serverId), `${servers.pairs[1]} lists the app server`);

      c.send(write.ping("#clientInHub", "0", "#client", "0"));
      c.send(write.ping("shutdown", "fin:0"));
      const finack = await c.waitForMessage((m) => m.type === Type.Ping && m.pairs[0] === "shutdown", DELIVERY_MS, "finack");
      assert.deepEqual(finack.pairs, ["shutdown", "finack"]);
      // After fin, new clients go elsewhere: to the app server that did not say fin.
      const client = await connectClient(server, "after-fin");
      clients.push(client);
      assert.ok(app.clients.has(client.connection.connectionId), "the new client went to the app server still serving");
      assert.ok(!c.received.some((m) => m.type === Type.OpenConnection), "nothing was routed to the connection that said fin");
    }));

  test("OpenConnection carries the claims, headers, query and protocol", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const token = mintToken({
        aud: `http://localhost/client/?hub=${HUB}`,
        nameid: "olivia",
        role: ["admin", "dev"],
        department: "qa",
      });
      const client = await connectClient(server, "olivia", {
        token,
        url: `${server.hubUrl}&asrs.op=%2Fchat&flavour=mint`,
        headers: { "X-Custom-Header": "custom-value" },
        protocol: new MessagePackHubProtocol(),
      });
      clients.push(client);
      const relayed = await app.client(client.connection.connectionId);
      const { claims, headers, queryString } = relayed.open;

      assert.ok(NAME_ID_CLAIMS.some((t) => claimValue(claims, t) === "olivia"), `user id claim in ${JSON.stringify(claims)}`);
      assert.deepEqual(claims.filter(([t]) => t === "role" || t.endsWith("/role")).map(([, v]) => v), ["admin", "dev"],
        "both role claims are kept");
      assert.equal(claimValue(claims, "department"), "qa");
      for (const t of SYSTEM_CLAIMS) {
        assert.equal(claimValue(claims, t), undefined, `system claim ${t} is removed: ${JSON.stringify(claims)}`);
      }
      const header = (name) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
      assert.deepEqual(header("x-custom-header"), ["custom-value"], `headers ${JSON.stringify(headers)}`);
      assert.ok(header("user-agent")?.length, "the client's User-Agent is passed on");
      assert.ok(queryString.startsWith("?"), `the query string starts with '?': ${queryString}`);
      const query = new URLSearchParams(queryString);
      assert.equal(query.get("flavour"), "mint");
      assert.equal(query.get("asrs.op"), "/chat");
      assert.equal(relayed.protocol, "messagepack");
    }));

  test("asrs.s.uid is the user the app server's UserData addresses", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const token = mintToken({ aud: `http://localhost/client/?hub=${HUB}`, "asrs.s.uid": "uid-7", nameid: "other-name" });
      const client = await connectClient(server, "uid-7", { token });
      clients.push(client);
      const relayed = await app.client(client.connection.connectionId);
      assert.equal(claimValue(relayed.open.claims, "asrs.s.uid") ?? relayed.userId, "uid-7");
      const inbox = inboxes.of(client, "hello");
      app.sendToUser("uid-7", "hello", ["uid"]);
      const got = await inbox.waitForCount(1, DELIVERY_MS);
      assert.deepEqual(got[0], ["uid"]);
    }));

  test("unknown message types are ignored and bad input is refused without harm to others", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const bystander = await connectClient(server, "bystander");
      clients.push(bystander);
      // Weak connections carry no clients, so no client of this suite is routed to them.
      const c = track(connection({ connectionType: ConnectionType.Weak }));
      await c.start();
      c.send(frame(encode([99, "from the future", { 1: 2 }])));
      const ack = await c.request((ackId) => write.checkConnectionExistenceWithAck(bystander.connection.connectionId, ackId));
      assert.equal(ack.status, AckStatus.Ok, "the connection still works after an unknown type");

      const bad = track(connection({ connectionType: ConnectionType.Weak }));
      await bad.start();
      bad.send(frame(encode("not an array")));
      const outcome = await Promise.race([
        bad.waitForMessage((m) => m.type === Type.ServiceError, DELIVERY_MS, "a ServiceError").then((m) => m.error),
        bad.closed.then((info) => info.reason || `close ${info.code}`),
      ]);
      assert.ok(outcome && outcome.length > 3, `a readable reason: ${outcome}`);

      await fence(app, [bystander], inboxes);
      assert.equal(await bystander.connection.invoke("echo", 5), 5, "other clients are unaffected");
    }));

  test("AccessKeyRequest gets the key that signs client tokens", TEST_OPTS, withAppDiagnostics(ctx, async () => {
    const response = await app.requestAccessKey("an-entra-id-token", "kid-7");
    assert.equal(response.type, Type.AccessKeyResponse);
    assert.equal(response.kid, "kid-7");
    assert.ok(!response.errorMessage, `no error: ${response.errorMessage}`);
    const token = mintToken({ aud: `http://localhost/client/?hub=${HUB}`, nameid: "entra" }, response.key);
    const client = await connectClient(server, "entra", { token });
    clients.push(client);
    assert.equal(await client.connection.invoke("echo", "signed with the served key"), "signed with the served key");
  }));
});
