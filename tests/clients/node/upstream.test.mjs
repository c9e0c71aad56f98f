// Serverless upstream with the official client, in JSON and in MessagePack: a real HTTP
// upstream (started here) checks X-ASRS-Signature the way the Functions extension does and
// records every call; the client's invocations, streams and connection events reach it with
// every header right, and its answers (or failures) reach the client.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { decode } from "@msgpack/msgpack";
import { JsonHubProtocol, MessageType } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

import {
  ACCESS_KEY,
  HUB,
  HOST,
  connectClient,
  describe as describeRes,
  enc,
  pollUntil,
  rest,
  sleep,
  startServer,
  stopClient,
  waitFor,
  withDiagnostics,
} from "./harness.mjs";

const TEST_OPTS = { timeout: 30_000 };

/** True when any `sha256=` entry is HMAC-SHA256(key, connectionId), compared case-insensitively. */
function signatureValid(header, connectionId) {
  const expected = createHmac("sha256", ACCESS_KEY).update(connectionId).digest("hex");
  return (header ?? "")
    .split(",")
    .map((part) => part.trim())
    .some((part) => part.toLowerCase() === `sha256=${expected}`);
}

/** A recording upstream on 127.0.0.1. */
class Upstream {
  constructor() {
    this.calls = [];
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, HOST, resolve));
    this.port = this.server.address().port;
    return this;
  }

  stop() {
    this.server.closeAllConnections?.();
    return new Promise((resolve) => this.server.close(resolve));
  }

  handle(req, res) {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const h = req.headers;
      const msgpack = h["content-type"] === "application/x-msgpack";
      const call = {
        path: req.url,
        hub: h["x-asrs-hub"],
        category: h["x-asrs-category"],
        event: h["x-asrs-event"],
        connectionId: h["x-asrs-connection-id"],
        userId: h["x-asrs-user-id"],
        claims: h["x-asrs-user-claims"],
        query: h["x-asrs-client-query"],
        contentType: h["content-type"],
        signatureOk: signatureValid(h["x-asrs-signature"], h["x-asrs-connection-id"] ?? ""),
        message: body.length === 0 ? undefined : msgpack ? decode(body) : JSON.parse(body.toString("utf8")),
      };
      this.calls.push(call);
      if (!call.signatureOk) {
        res.writeHead(401);
        res.end();
        return;
      }
      if (call.category !== "messages") {
        res.writeHead(200);
        res.end();
        return;
      }
      // [type, headers, invocationId, target, args] in MessagePack; an object in JSON.
      const m = call.message;
      const invocationId = msgpack ? m[2] : m.invocationId;
      const args = msgpack ? m[4] : m.arguments;
      switch (call.event) {
        case "add": {
          const protocol = msgpack ? new MessagePackHubProtocol() : new JsonHubProtocol();
          const framed = protocol.writeMessage({ type: MessageType.Completion, invocationId, result: args[0] + args[1], headers: {} });
          res.writeHead(200, { "content-type": msgpack ? "application/x-msgpack" : "application/json" });
          res.end(typeof framed === "string" ? framed : Buffer.from(framed));
          return;
        }
        case "fail":
          res.writeHead(500);
          res.end();
          return;
        case "slow":
          await sleep(2_500);
          res.writeHead(204);
          res.end();
          return;
        default:
          res.writeHead(204);
          res.end();
      }
    });
  }

  find(predicate) {
    return this.calls.find(predicate);
  }

  waitFor(predicate, what) {
    return pollUntil(() => this.find(predicate), 5_000, what);
  }
}

/** A port nothing listens on. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function settings(templates) {
  return JSON.stringify({ UpstreamSettings: { Templates: templates } }, null, 2);
}

const template = (port, extra = {}) => ({
  UrlTemplate: `http://${HOST}:${port}/runtime/webhooks/signalr/{hub}/{category}/{event}`,
  HubPattern: "*",
  CategoryPattern: "*",
  EventPattern: "*",
  ...extra,
});

describe("serverless upstream with @microsoft/signalr", () => {
  let server;
  let upstream;
  let other;
  let dir;
  let settingsFile;
  let unreachablePort;
  const clients = [];
  const ctx = () => ({ server, clients });

  before(async () => {
    upstream = await new Upstream().start();
    other = await new Upstream().start();
    unreachablePort = await closedPort();
    dir = await mkdtemp(path.join(os.tmpdir(), "signalr-upstream-"));
    settingsFile = path.join(dir, "settings.json");
    await writeFile(settingsFile, settings([
      template(unreachablePort, { EventPattern: "unreachable" }),
      template(upstream.port),
    ]));
    server = await startServer(["-c", dir, "--upstream-timeout", "1"]);
  });

  after(async () => {
    for (const c of clients) await stopClient(c);
    await server?.stop();
    await upstream?.stop();
    await other?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const [name, protocol] of [["json", undefined], ["messagepack", new MessagePackHubProtocol()]]) {
    describe(`${name} protocol`, () => {
      let client;
      let id;
      const user = `upstream-${name}`;

      before(async () => {
        client = await connectClient(server, user, { protocol, url: `${server.hubUrl}&tenant=t-${name}` });
        clients.push(client);
        id = client.connection.connectionId;
      });

      test("connected arrives with every header right", TEST_OPTS, withDiagnostics(ctx, async () => {
        const call = await upstream.waitFor((c) => c.connectionId === id && c.event === "connected", "connected");
        assert.equal(call.path, `/runtime/webhooks/signalr/${HUB}/connections/connected`);
        assert.equal(call.hub, HUB);
        assert.equal(call.category, "connections");
        assert.equal(call.userId, user);
        assert.ok(call.signatureOk, "X-ASRS-Signature verifies");
        assert.match(call.claims, new RegExp(`nameid: ${user}`));
        assert.match(call.claims, /aud: http:\/\/localhost\/client\/\?hub=chat/);
        assert.match(call.query, /^\?/);
        assert.match(call.query, new RegExp(`tenant=t-${name}`));
        assert.match(call.query, /hub=chat/);
        assert.equal(call.contentType, "application/json");
        assert.deepEqual(call.message, { type: 10 });
      }));

      test("invoke returns the upstream's result", TEST_OPTS, withDiagnostics(ctx, async () => {
        assert.equal(await waitFor(client.connection.invoke("add", 2, 3), 5_000, "invoke add"), 5);
        const call = upstream.find((c) => c.connectionId === id && c.event === "add");
        assert.equal(call.category, "messages");
        assert.equal(call.contentType, name === "json" ? "application/json" : "application/x-msgpack");
        if (name === "json") {
          assert.equal(call.message.type, 1);
          assert.equal(call.message.target, "add");
          assert.deepEqual(call.message.arguments, [2, 3]);
        } else {
          assert.equal(call.message[0], 1);
          assert.equal(call.message[3], "add");
          assert.deepEqual(call.message[4], [2, 3]);
        }
      }));

      test("upstream failures give the exact Completion errors", TEST_OPTS, withDiagnostics(ctx, async () => {
        await assert.rejects(client.connection.invoke("fail"), { message: /Invocation failed, status code 500$/ });
        await assert.rejects(client.connection.invoke("slow"), { message: /Invocation failed, the upstream did not answer within 1 s\.$/ });
        await assert.rejects(client.connection.invoke("unreachable"), { message: /Invocation failed, error: .+/ });
        const sendOnly = client.connection.send("fire", 1);
        await waitFor(sendOnly, 5_000, "send");
        await upstream.waitFor((c) => c.connectionId === id && c.event === "fire", "the send reaches the upstream");
      }));

      test("a stream gets items pushed through the REST stream routes, then completes", TEST_OPTS, withDiagnostics(ctx, async () => {
        const items = [];
        const done = new Promise((resolve, reject) => {
          client.connection.stream("counter", 3).subscribe({
            next: (item) => items.push(item),
            complete: resolve,
            error: reject,
          });
        });
        const call = await upstream.waitFor((c) => c.connectionId === id && c.event === "counter", "the stream invocation");
        const streamId = name === "json" ? call.message.invocationId : call.message[2];
        assert.equal(name === "json" ? call.message.type : call.message[0], 4, "a StreamInvocation");
        const base = `/api/hubs/${HUB}/connections/${enc(id)}/streams/${enc(streamId)}`;
        for (const [n, last] of [[1, false], [2, false], [3, true]]) {
          const res = await rest(server, "POST", `${base}/:send`, { query: last ? [["completed", "true"]] : [], body: { n } });
          assert.equal(res.status, 202, describeRes(res));
        }
        await waitFor(done, 5_000, "the stream to complete");
        assert.deepEqual(items, [{ n: 1 }, { n: 2 }, { n: 3 }]);
      }));

      test("cancelling a stream reaches the upstream", TEST_OPTS, withDiagnostics(ctx, async () => {
        const subscription = client.connection.stream("ticker").subscribe({ next() {}, complete() {}, error() {} });
        const call = await upstream.waitFor((c) => c.connectionId === id && c.event === "ticker", "the ticker stream");
        const streamId = name === "json" ? call.message.invocationId : call.message[2];
        subscription.dispose();
        const cancel = await upstream.waitFor(
          (c) => c.connectionId === id && c.event === "ticker" && (name === "json" ? c.message.type === 5 : c.message[0] === 5),
          "the CancelInvocation",
        );
        assert.equal(name === "json" ? cancel.message.invocationId : cancel.message[2], streamId);
      }));

      test("disconnected arrives when the client stops", TEST_OPTS, withDiagnostics(ctx, async () => {
        await stopClient(client);
        const call = await upstream.waitFor((c) => c.connectionId === id && c.event === "disconnected", "disconnected");
        assert.equal(call.category, "connections");
        assert.ok(call.signatureOk);
        assert.equal(call.message.type, 11);
      }));
    });
  }

  test("editing settings.json redirects the next event to the new URL", TEST_OPTS, withDiagnostics(ctx, async () => {
    await writeFile(settingsFile, settings([template(other.port)]));
    await pollUntil(async () => {
      const probe = await connectClient(server, "after-reload");
      clients.push(probe);
      const probeId = probe.connection.connectionId;
      // Its connected event went to the old upstream or, once the reload is in, the new one.
      const connected = (c) => c.connectionId === probeId && c.event === "connected";
      await pollUntil(() => upstream.find(connected) || other.find(connected), 5_000, "the probe's connected event");
      await stopClient(probe);
      return other.find(connected);
    }, 10_000, "a connected event at the new upstream", 500);
    assert.match(server.stderr, new RegExp(`127.0.0.1:${other.port}`), "the reloaded templates are logged");
  }));
});
