// The live dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): log in with the access key, watch an official @microsoft/signalr client
// connect and invoke a method in the live trace, see its user and group, send it a message from
// the form (through the REST API), and save a screenshot to target/dashboard.png.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";


import {
  API_VERSION,
  Inbox,
  REPO_ROOT,
  apiPath,
  connectClient,
  describe as describeRes,
  enc,
  rest,
  startServer,
  stopClient,
  withDiagnostics,
  launchChromium,
} from "./harness.mjs";

const TEST_OPTS = { timeout: 60_000 };
const UI_WAIT = { timeout: 10_000 };

describe("live dashboard in headless Chromium", () => {
  let server;
  let browser;
  let page;
  let client;
  const consoleLines = [];
  const ctx = () => ({ server, clients: [client] });

  before(async () => {
    server = await startServer();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  });

  after(async () => {
    await stopClient(client);
    await browser?.close();
    await server?.stop();
  });

  test("the JSON endpoints refuse a viewer who has not logged in", TEST_OPTS, async () => {
    for (const route of ["/dashboard/api/state", "/dashboard/api/events"]) {
      const res = await fetch(`${server.baseUrl}${route}`);
      assert.equal(res.status, 401, route);
    }
    const res = await fetch(`${server.baseUrl}/dashboard/login`, {
      method: "POST",
      body: new URLSearchParams({ key: "not-the-key" }),
    });
    assert.equal(res.status, 401);
  });

  test("logs in, watches a client, sends it a message from the form", TEST_OPTS, withDiagnostics(ctx, async () => {
    try {
      await page.goto(`${server.baseUrl}/`);
      await page.waitForSelector("#login-form", { state: "visible", ...UI_WAIT });
      await page.fill("#key", "wrong");
      await page.click("#login-form button");
      await page.waitForFunction(() => document.getElementById("login-error").textContent.includes("not the emulator's access key"), null, UI_WAIT);
      await page.fill("#key", server.accessKey);
      await page.click("#login-form button");
      await page.waitForSelector("#app", { state: "visible", ...UI_WAIT });
      await page.waitForSelector("#live.live", UI_WAIT);
      const connectionString = await page.inputValue("#connection-string");
      assert.match(connectionString, new RegExp(`^Endpoint=http://127\\.0\\.0\\.1;Port=${server.port};AccessKey=${server.accessKey};Version=1\\.0;$`));

      // An official client connects, joins a group by REST and invokes a hub method.
      client = await connectClient(server, "alice");
      const inbox = new Inbox(client.connection, "newMessage");
      const id = client.connection.connectionId;
      const joined = await rest(server, "PUT", apiPath(`/groups/testers/connections/${enc(id)}`), { query: [API_VERSION] });
      assert.equal(joined.status, 200, describeRes(joined));
      await client.connection.send("hello", "from node");

      const traced = (type, text) =>
        page.waitForFunction(
          ([type, text]) => [...document.querySelectorAll(`#trace li[data-type="${type}"]`)].some((li) => li.textContent.includes(text)),
          [type, text],
          UI_WAIT,
        );
      await traced("connected", id);
      await traced("invocation", `${id} invoked hello`);
      const row = `#hubs tr[data-connection="${id}"]`;
      await page.waitForFunction(
        (row) => document.querySelector(row)?.textContent.includes("testers"),
        row,
        UI_WAIT,
      );
      const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
      assert.deepEqual(cells.slice(0, 5), [id, "WebSockets", "json", "alice", "testers"]);

      // The form sends to the user through the REST API; the client receives it.
      await page.fill("#send-hub", "chat");
      await page.selectOption("#send-scope", "user");
      await page.fill("#send-who", "alice");
      await page.fill("#send-target", "newMessage");
      await page.fill("#send-args", '["Hello from the dashboard", 42]');
      await page.click("#send-form button[type=submit]");
      const [message] = await inbox.waitForCount(1, 10_000, "the form's message at the client");
      assert.deepEqual(message, ["Hello from the dashboard", 42]);
      await page.waitForFunction(() => document.getElementById("send-result").textContent.includes("→ 202"), null, UI_WAIT);
      await traced("sent", "REST send of newMessage to user alice: 1 recipient");
      await page.waitForFunction(
        (row) => document.querySelector(row)?.lastElementChild.textContent === "1 / 1",
        row,
        UI_WAIT,
      );

      const file = path.join(REPO_ROOT, "target", "dashboard.png");
      await page.screenshot({ path: file, fullPage: true });
    } catch (err) {
      throw new Error(`${err.message}\nbrowser console:\n${consoleLines.join("\n")}`);
    }
  }));
});
