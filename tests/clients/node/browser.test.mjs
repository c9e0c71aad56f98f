// The browser build of @microsoft/signalr in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core): a page served from another origin connects over WebSockets (the
// token travels as `access_token` in the URL, as browsers must), Server-Sent Events and long
// polling, and receives REST messages. CORS must allow the cross-origin, credentialed calls.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";


import {
  HOST,
  clientToken,
  describe as describeRes,
  enc,
  hubPath,
  rest,
  startServer,
  withDiagnostics,
  launchChromium,
} from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const TEST_OPTS = { timeout: 60_000 };

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>signalr-emulator browser test</title>
<script src="/signalr.js"></script></head>
<body><h1>browser client</h1><pre id="log"></pre>
<script>
  window.received = [];
  window.connectWith = async (url, token, transport) => {
    const connection = new signalR.HubConnectionBuilder()
      .withUrl(url, { transport: signalR.HttpTransportType[transport], accessTokenFactory: () => token })
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    connection.on("fromRest", (...args) => {
      window.received.push({ transport, args });
      document.getElementById("log").textContent += transport + ": " + JSON.stringify(args) + "\\n";
    });
    await connection.start();
    window.connection = connection;
    return connection.connectionId;
  };
</script></body></html>`;

/** Serves the test page and the browser bundle from its own origin (another port). */
async function startPageServer() {
  const bundle = await readFile(path.join(here, "node_modules/@microsoft/signalr/dist/browser/signalr.js"));
  const server = http.createServer((req, res) => {
    if (req.url === "/signalr.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(bundle);
    } else {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(PAGE);
    }
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  return { url: `http://${HOST}:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

describe("browser build of @microsoft/signalr in headless Chromium", () => {
  let server;
  let pages;
  let browser;
  let page;
  const webSocketUrls = [];
  const consoleLines = [];
  const ctx = () => ({ server, clients: [] });

  before(async () => {
    server = await startServer();
    pages = await startPageServer();
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("websocket", (ws) => webSocketUrls.push(ws.url()));
    page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    await page.goto(pages.url);
  });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await server?.stop();
  });

  for (const transport of ["WebSockets", "ServerSentEvents", "LongPolling"]) {
    test(`${transport}: connects cross-origin and receives REST messages`, TEST_OPTS, withDiagnostics(ctx, async () => {
      const token = clientToken(`browser-${transport}`);
      let connectionId;
      try {
        connectionId = await page.evaluate(
          ([url, token, transport]) => window.connectWith(url, token, transport),
          [server.hubUrl, token, transport],
        );
      } catch (err) {
        throw new Error(`${err.message}\nbrowser console:\n${consoleLines.join("\n")}`);
      }
      assert.notEqual(page.url().split("/")[2], server.baseUrl.split("/")[2], "the page is on another origin");
      const res = await rest(server, "POST", hubPath(`/connections/${enc(connectionId)}`), {
        body: { target: "fromRest", arguments: [transport, { ok: true }] },
      });
      assert.equal(res.status, 202, describeRes(res));
      await page.waitForFunction((t) => window.received.some((r) => r.transport === t), transport, { timeout: 5_000 });
      const received = await page.evaluate(() => window.received);
      assert.deepEqual(received.at(-1).args, [transport, { ok: true }]);
      if (transport === "WebSockets") {
        const wsUrl = webSocketUrls.find((u) => u.includes(connectionId) || u.includes("access_token"));
        assert.ok(wsUrl, `a WebSocket was opened: ${webSocketUrls.join(", ")}`);
        assert.match(wsUrl, /[?&]access_token=/, "browsers send the token in the query string");
      }
      await page.evaluate(() => window.connection.stop());
    }));
  }

  test("screenshot of the page after the messages", TEST_OPTS, async () => {
    const file = path.join(here, "..", "..", "..", "target", "browser-client.png");
    await page.screenshot({ path: file });
    const text = await page.textContent("#log");
    for (const transport of ["WebSockets", "ServerSentEvents", "LongPolling"]) assert.match(text, new RegExp(transport));
  });
});
