// The dashboard of a cluster in headless Chromium: two real nodes over a real redis-server, an
// official @microsoft/signalr client on each; node A's dashboard lists both nodes (URL, lease,
// connection count) and shows which node holds each connection, and drops node B (and its
// connection) once B has shut down, with a screenshot in target/dashboard-cluster.png. A single
// node's dashboard shows no cluster card.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import path from "node:path";

import { REPO_ROOT, connectClient, launchChromium, startServer, stopClient } from "../harness.mjs";
import { startCluster } from "./harness.mjs";

const TEST_OPTS = { timeout: 60_000 };
const UI_WAIT = { timeout: 15_000 };

/** Logs `page` in to `node`'s dashboard and waits until it is live. */
async function openDashboard(page, node) {
  await page.goto(`${node.baseUrl}/`);
  await page.waitForSelector("#login-form", { state: "visible", ...UI_WAIT });
  await page.fill("#key", node.accessKey);
  await page.click("#login-form button");
  await page.waitForSelector("#app", { state: "visible", ...UI_WAIT });
}

describe("cluster: the dashboard shows the nodes and which node holds each connection", () => {
  let cluster;
  let single;
  let browser;
  let page;
  let onA;
  let onB;
  const consoleLines = [];

  before(async () => {
    cluster = await startCluster(2);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  });

  after(async () => {
    await stopClient(onA);
    await stopClient(onB);
    await browser?.close();
    await cluster?.stop();
    await single?.stop();
  });

  const diagnosed = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const html = page ? await page.content().catch(() => "") : "";
      process.stderr.write(`\n===== ${t.name} =====\n${consoleLines.join("\n")}\n${html.slice(0, 5_000)}\n${cluster?.logs() ?? ""}`);
      throw err;
    }
  };

  test("node A lists both nodes and the holder of each connection", TEST_OPTS, diagnosed(async () => {
    const [a, b] = cluster.nodes;
    onA = await connectClient(a, "alice");
    onB = await connectClient(b, "bob");
    const idA = onA.connection.connectionId;
    const idB = onB.connection.connectionId;

    await openDashboard(page, a);
    await page.waitForSelector("#nodes-panel", { state: "visible", ...UI_WAIT });
    // The page polls; B's connection is listed once B's mirror reached Redis.
    await page.waitForSelector(`#hubs tr[data-connection="${idB}"]`, UI_WAIT);

    const nodes = await page.$$eval("#nodes tbody tr", (rows) => rows.map((row) => ({
      id: row.dataset.node,
      cells: [...row.cells].map((cell) => cell.textContent),
    })));
    assert.equal(nodes.length, 2, JSON.stringify(nodes));
    const [nodeA, nodeB] = nodes;
    assert.match(nodeA.cells[0], /this node/);
    assert.deepEqual(nodeA.cells.slice(1), [a.baseUrl, "held", "1"]);
    assert.deepEqual(nodeB.cells.slice(1), [b.baseUrl, "current", "1"]);
    assert.equal(await page.textContent("#node-count"), "2 nodes");

    const holder = (id) => page.$eval(`#hubs tr[data-connection="${id}"]`, (row) => ({
      node: row.dataset.node,
      cells: [...row.cells].map((cell) => cell.textContent),
    }));
    const rowA = await holder(idA);
    const rowB = await holder(idB);
    assert.equal(rowA.node, nodeA.id);
    assert.equal(rowB.node, nodeB.id);
    assert.equal(rowA.cells[1], nodeA.id.split("-")[0]);
    assert.equal(rowB.cells[1], nodeB.id.split("-")[0]);
    assert.equal(rowA.cells[2], "WebSockets");
    assert.equal(rowB.cells[4], "bob");
    assert.equal(await page.textContent("#hubs [data-hub] .hub-head .muted"), "2 connections, 2 users, 0 groups, 0 app-server connections");
    assert.deepEqual(await page.$$eval("#hubs [data-hub] .tags .tag b", (tags) => tags.map((t) => t.textContent)), ["alice", "bob"]);
    assert.deepEqual(consoleLines, []);
    await page.screenshot({ path: path.join(REPO_ROOT, "target", "dashboard-cluster.png"), fullPage: true });
  }));

  test("a node that shut down leaves the view with its connections", TEST_OPTS, diagnosed(async () => {
    const b = cluster.nodes[1];
    const idB = onB.connection.connectionId;
    await stopClient(onB);
    onB = null;
    await b.stop();
    await page.waitForFunction(() => document.querySelectorAll("#nodes tbody tr").length === 1, null, UI_WAIT);
    await page.waitForSelector(`#hubs tr[data-connection="${idB}"]`, { state: "detached", ...UI_WAIT });
    assert.equal(await page.textContent("#node-count"), "1 node");
  }));

  test("a single node's dashboard has no cluster card", TEST_OPTS, diagnosed(async () => {
    single = await startServer();
    // A context of its own: the session cookie of node A (same host, same key) would log it in.
    const context = await browser.newContext();
    try {
      const fresh = await context.newPage();
      fresh.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
      await openDashboard(fresh, single);
      await fresh.waitForSelector("#hubs-panel", { state: "visible", ...UI_WAIT });
      assert.equal(await fresh.isHidden("#nodes-panel"), true);
      assert.deepEqual(consoleLines, []);
    } finally {
      await context.close();
    }
  }));
});
