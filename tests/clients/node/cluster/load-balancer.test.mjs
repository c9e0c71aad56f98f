// The README's compose example, minus Docker: Debian's nginx runs docker/cluster/nginx.conf in
// front of three nodes sharing one Redis, the way docker/cluster/compose.yaml wires them.
// Official clients and REST calls only know nginx's address; round robin spreads them over the
// nodes, and every numbered broadcast reaches every client exactly once. The compose file's
// SIGNALR_EMULATOR_* variables must all be options of the binary, and its nodes must be the
// upstream servers of the nginx file.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { HttpTransportType, HubConnectionBuilder } from "@microsoft/signalr";

import {
  BufferLogger,
  HUB,
  Inbox,
  REPO_ROOT,
  clientToken,
  describe as describeRes,
  emulatorBinary,
  hubPath,
  rest,
  sleep,
  waitFor,
} from "../harness.mjs";
import { startCluster } from "./harness.mjs";
import { NGINX_SITE, startNginx, upstreamServers } from "./nginx.mjs";

const COMPOSE = path.join(REPO_ROOT, "docker", "cluster", "compose.yaml");
const CLIENTS = 6;
const BROADCASTS = 60;
const DELIVERY_MS = 10_000;
const QUIET_MS = 500;

/** The live client connections of `hub` a node's /metrics reports (its own connections). */
async function localConnections(node) {
  const text = await waitFor(fetch(`${node.baseUrl}/metrics`).then((r) => r.text()), 5_000, "/metrics");
  const line = new RegExp(`^signalr_connections\\{[^}]*hub="${HUB}"[^}]*\\} (\\d+)`, "gm");
  return [...text.matchAll(line)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe("cluster: docker/cluster/nginx.conf (Debian's nginx) in front of three nodes", () => {
  let cluster;
  let nginx;
  const clients = [];

  before(async () => {
    cluster = await startCluster(3);
    nginx = await startNginx(cluster.nodes);
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.connection.stop()));
    await nginx?.stop();
    await cluster?.stop();
  });

  test("clients and REST calls through nginx land on every node, and each broadcast reaches each client once", { timeout: 60_000 }, async (t) => {
    try {
      for (let i = 0; i < CLIENTS; i++) {
        const user = `lb-user-${i}`;
        const logger = new BufferLogger(user);
        // Straight to the WebSocket: a negotiate and its connection landing on two different
        // nodes is the cluster's client forwarding, tested on its own.
        const connection = new HubConnectionBuilder()
          .withUrl(`${nginx.baseUrl}/client/?hub=${HUB}`, {
            transport: HttpTransportType.WebSockets,
            skipNegotiation: true,
            accessTokenFactory: () => clientToken(user),
          })
          .configureLogging(logger)
          .build();
        const inbox = new Inbox(connection, "seq");
        await waitFor(connection.start(), 10_000, `${user} to connect through nginx`);
        clients.push({ connection, logger, inbox, userId: user });
      }
      const perNode = await Promise.all(cluster.nodes.map(localConnections));
      assert.equal(perNode.reduce((a, b) => a + b, 0), CLIENTS, `connections per node: ${perNode}`);
      assert.ok(perNode.filter((n) => n > 0).length >= 2, `round robin used one node only: ${perNode}`);

      const lb = { baseUrl: nginx.baseUrl };
      for (let seq = 0; seq < BROADCASTS; seq++) {
        const res = await rest(lb, "POST", hubPath(), { body: { target: "seq", arguments: [seq] } });
        assert.equal(res.status, 202, describeRes(res));
      }
      for (const c of clients) await c.inbox.waitForCount(BROADCASTS, DELIVERY_MS, `${BROADCASTS} broadcasts at ${c.userId}`);
      await sleep(QUIET_MS);
      const expected = Array.from({ length: BROADCASTS }, (_, i) => i);
      for (const c of clients) {
        const seqs = c.inbox.messages.map(([seq]) => seq).sort((x, y) => x - y);
        assert.deepEqual(seqs, expected, `${c.userId} did not get every broadcast exactly once`);
      }
    } catch (err) {
      process.stderr.write(
        `\n===== diagnostics for failed test "${t.name}" =====\n` +
          clients.map((c) => `----- ${c.userId} -----\n${c.logger.dump()}\n`).join("") +
          (nginx ? nginx.logs() : "") +
          (cluster ? cluster.logs() : ""),
      );
      throw err;
    }
  });

  test("the compose file's nodes are nginx's upstream servers, and its variables are options", () => {
    const compose = readFileSync(COMPOSE, "utf8");
    const advertised = [...compose.matchAll(/SIGNALR_EMULATOR_CLUSTER_ADVERTISE: http:\/\/([^\s/]+)/g)].map((m) => m[1]);
    assert.deepEqual(upstreamServers(readFileSync(NGINX_SITE, "utf8")), advertised);
    assert.match(compose, /\.\/nginx\.conf:\/etc\/nginx\/conf\.d\/default\.conf/);
    const help = execFileSync(emulatorBinary(), ["start", "--help"], { encoding: "utf8" });
    const names = new Set(compose.match(/SIGNALR_EMULATOR_[A-Z_]+/g));
    assert.ok(names.has("SIGNALR_EMULATOR_REDIS"), `found ${[...names].join(", ")}`);
    for (const name of names) assert.ok(help.includes(name), `${name} is not an option of signalr-emulator start`);
  });
});
