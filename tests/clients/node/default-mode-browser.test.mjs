// The browser build of @microsoft/signalr in headless Chromium (Debian's, via the harness)
// through a default-mode hub: a page from another origin connects over WebSockets, its token in
// `access_token`, invokes the simulated app server's hub and receives the hub's broadcast.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { Targets } from "./appserver/index.mjs";
import { startAppServer, withAppDiagnostics } from "./default-mode-support.mjs";
import { HOST, clientToken, launchChromium, startServer } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const TEST_OPTS = { timeout: 60_000 };

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>default mode in a browser</title>
<script src="/signalr.js"></script></head><body>
<script>
  window.received = [];
  window.run = async (url, token) => {
    const connection = new signalR.HubConnectionBuilder()
      .withUrl(url, { transport: signalR.HttpTransportType.WebSockets, accessTokenFactory: () => token })
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    connection.on("${Targets.broadcast}", (...args) => window.received.push(args));
    await connection.start();
    const echoed = await connection.invoke("echo", { from: "chromium", n: 3 });
    await connection.invoke("broadcast", "hello from the browser");
    window.connection = connection;
    return { connectionId: connection.connectionId, echoed };
  };
</script></body></html>`;

async function startPageServer() {
  const bundle = await readFile(path.join(here, "node_modules/@microsoft/signalr/dist/browser/signalr.js"));
  const server = http.createServer((req, res) => {
    const js = req.url === "/signalr.js";
    res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
    res.end(js ? bundle : PAGE);
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  return { url: `http://${HOST}:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

describe("the browser client through a default-mode hub", () => {
  let server;
  let app;
  let pages;
  let browser;
  const consoleLines = [];
  const ctx = () => ({ server, clients: [], apps: [app] });

  before(async () => {
    server = await startServer(["--service-mode", "default"]);
    app = await startAppServer(server, { connectionCount: 1 });
    pages = await startPageServer();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await app?.stop();
    await server?.stop();
  });

  test("connects over WebSockets, invokes the app server's hub, gets its broadcast", TEST_OPTS,
    withAppDiagnostics(ctx, async () => {
      const page = await browser.newPage();
      const sockets = [];
      page.on("websocket", (ws) => sockets.push(ws.url()));
      page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
      await page.goto(pages.url);
      let result;
      try {
        result = await page.evaluate(([url, token]) => window.run(url, token), [server.hubUrl, clientToken("chromium")]);
      } catch (err) {
        throw new Error(`${err.message}\nbrowser console:\n${consoleLines.join("\n")}`);
      }
      assert.deepEqual(result.echoed, { from: "chromium", n: 3 });
      assert.ok(app.clients.has(result.connectionId), "the app server hosts the browser's connection");
      await page.waitForFunction(() => window.received.length > 0, null, { timeout: 5_000 });
      assert.deepEqual(await page.evaluate(() => window.received[0]), ["chromium", "hello from the browser"]);
      assert.ok(sockets.some((u) => /[?&]access_token=/.test(u)), `token in the WebSocket URL: ${sockets}`);
      await page.evaluate(() => window.connection.stop());
      await page.close();
    }));
});
