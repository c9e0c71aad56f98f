// Official @microsoft/signalr clients across two cluster nodes, no sticky sessions: every
// client negotiates on node A and then runs its transport on node B (the WebSocket, the SSE
// stream, the long polls); its POST sends and polls alternate between A and B, so A forwards
// half of them to B. Numbered broadcasts, sent through both nodes, reach each client exactly
// once. The cluster harness starts its own redis-server (free port, persistence off).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { DefaultHttpClient, HttpTransportType, HubConnectionBuilder } from "@microsoft/signalr";
import EventSource from "eventsource";
import WebSocket from "ws";

import { BufferLogger, clientToken, hubPath, rest, waitFor } from "../harness.mjs";
import { startCluster } from "./harness.mjs";

const BROADCASTS = 40;
const DELIVERY_MS = 10_000;

/** Sends negotiate to A and every other request alternately to B and A. */
class SplitHttpClient extends DefaultHttpClient {
  constructor(a, b) {
    super(new BufferLogger("http"));
    this.a = a;
    this.b = b;
    this.count = 0;
    this.byNode = { a: 0, b: 0 };
  }

  send(request) {
    if (!request.url.includes("/negotiate")) {
      const toB = this.count++ % 2 === 0;
      this.byNode[toB ? "b" : "a"]++;
      if (toB) request.url = request.url.replace(this.a.baseUrl, this.b.baseUrl);
    }
    return super.send(request);
  }
}

/** `//host:port` of a node, the part of its http:// and ws:// URLs that names it. */
const authority = (node) => node.baseUrl.slice(node.baseUrl.indexOf("//"));

/** A transport constructor whose connections go to node B whatever URL they are given. */
const toNodeB = (Base, a, b) =>
  class extends Base {
    constructor(url, ...options) {
      super(url.replace(authority(a), authority(b)), ...options);
    }
  };

describe("cluster: negotiate on node A, transport on node B, for every transport", () => {
  let cluster;
  let a;
  let b;

  before(async () => {
    cluster = await startCluster(2);
    [a, b] = cluster.nodes;
  });

  after(async () => {
    await cluster?.stop();
  });

  for (const transport of [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling]) {
    test(`${HttpTransportType[transport]}: each numbered broadcast arrives once`, { timeout: 40_000 }, async (t) => {
      const httpClient = new SplitHttpClient(a, b);
      const logger = new BufferLogger(HttpTransportType[transport]);
      const connection = new HubConnectionBuilder()
        .withUrl(a.hubUrl, {
          transport,
          httpClient,
          accessTokenFactory: () => clientToken("edge-user"),
          WebSocket: toNodeB(WebSocket, a, b),
          EventSource: toNodeB(EventSource, a, b),
        })
        .configureLogging(logger)
        .build();
      const seen = [];
      let resolveAll;
      const all = new Promise((resolve) => (resolveAll = resolve));
      connection.on("seq", (n) => {
        seen.push(n);
        if (seen.length === BROADCASTS) resolveAll();
      });
      try {
        await waitFor(connection.start(), 10_000, "connection.start()");
        // Through both nodes' REST APIs: local delivery on one, the cluster to the other.
        for (let n = 0; n < BROADCASTS; n++) {
          const node = n % 2 === 0 ? a : b;
          const res = await rest(node, "POST", hubPath(), { body: { target: "seq", arguments: [n] } });
          assert.equal(res.status, 202);
        }
        await waitFor(all, DELIVERY_MS, `${BROADCASTS} broadcasts`);
        // Late duplicates would arrive within this quiet period.
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Each once; the sends through one node in order (two nodes' sends are not ordered
        // with each other: each delivers locally at once and publishes to the other).
        assert.deepEqual([...seen].sort((x, y) => x - y), [...Array(BROADCASTS).keys()], `no duplicate, no gap: ${seen}`);
        for (const parity of [0, 1]) {
          const throughOne = seen.filter((n) => n % 2 === parity);
          assert.deepEqual(throughOne, [...throughOne].sort((x, y) => x - y), `one node's sends in order: ${seen}`);
        }
        if (transport !== HttpTransportType.WebSockets) {
          assert.ok(httpClient.byNode.a > 0 && httpClient.byNode.b > 0, `requests went to both nodes: ${JSON.stringify(httpClient.byNode)}`);
        }
      } catch (err) {
        t.diagnostic(logger.dump());
        t.diagnostic(a.logs() + b.logs());
        throw err;
      } finally {
        await connection.stop().catch(() => {});
      }
    });
  }
});
