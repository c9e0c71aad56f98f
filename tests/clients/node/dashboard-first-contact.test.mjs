// What a newcomer sees of the dashboard in headless Chromium (Debian's /usr/bin/chromium via
// playwright-core): a login view with only the login card and no error, a favicon, words
// instead of "(s)" plurals, a trace that replays what happened before the page opened (with
// payloads, memberships and REST calls with their status) and can be filtered, paused and
// exported, and the API reference at /swagger/ whose "Try it" reaches a real client.
// Screenshots go to target/artifacts/.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
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
  launchChromium,
  rest,
  sleep,
  startServer,
  stopClient,
  withDiagnostics,
} from "./harness.mjs";

const TEST_OPTS = { timeout: 90_000 };
const UI_WAIT = { timeout: 10_000 };
const ARTIFACTS = path.join(REPO_ROOT, "target", "artifacts");
const METHODS = ["get", "put", "post", "delete", "head", "patch", "options"];

describe("dashboard first contact in headless Chromium", () => {
  let server;
  let browser;
  let context;
  let page;
  const clients = [];
  const problems = [];
  const ctx = () => ({ server, clients });

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
    page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
    page.on("response", (res) => {
      // 401s are how the page learns it must log in; anything else failing is a bug.
      if (res.status() >= 400 && res.status() !== 401) problems.push(`${res.status()} ${res.url()}`);
    });
  });

  after(async () => {
    for (const client of clients) await stopClient(client);
    await browser?.close();
    await server?.stop();
  });

  const visibleOutside = (selector) =>
    page.evaluate((selector) => {
      const keep = document.querySelector(selector);
      const title = document.querySelector("header h1");
      return [...document.body.querySelectorAll("*")]
        .filter((node) => !keep.contains(node) && !node.contains(keep) && !node.contains(title) && node.closest("header h1") === null)
        .filter((node) => node.getClientRects().length > 0 && getComputedStyle(node).visibility !== "hidden")
        .map((node) => node.id || node.tagName.toLowerCase());
    }, selector);

  test("the login view shows only the login card, with no error, and a favicon", TEST_OPTS, withDiagnostics(ctx, async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.waitForSelector("#login", { state: "visible", ...UI_WAIT });
    // The page has asked for its state and got its 401 by now.
    await page.waitForFunction(() => document.activeElement?.id === "key", null, UI_WAIT);
    assert.deepEqual(await visibleOutside("#login"), [], "only the login card (and the title) are visible");
    assert.equal(await page.textContent("#login-error"), "", "no error before a login attempt");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-login.png"), fullPage: true });

    const icon = await fetch(`${server.baseUrl}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("content-type"), "image/svg+xml");
    assert.equal(await page.getAttribute('link[rel="icon"]', "href"), "/dashboard/favicon.svg");
    assert.deepEqual(problems, []);
  }));

  test("the trace replays its backlog with payloads, memberships and REST statuses", TEST_OPTS, withDiagnostics(ctx, async () => {
    // Everything here happens before the page logs in.
    const alice = await connectClient(server, "alice");
    const bob = await connectClient(server, "bob");
    clients.push(alice, bob);
    const aliceId = alice.connection.connectionId;
    // The client forgets its id once stopped.
    const bobId = bob.connection.connectionId;
    const joined = await rest(server, "PUT", apiPath(`/groups/testers/connections/${enc(aliceId)}`), { query: [API_VERSION] });
    assert.equal(joined.status, 200, describeRes(joined));
    const big = "x".repeat(3000);
    await alice.connection.send("hello", "short words", big);
    const sent = await rest(server, "POST", apiPath("/groups/testers/:send"), {
      query: [API_VERSION],
      body: { target: "newMessage", arguments: ["to the testers", 7] },
    });
    assert.equal(sent.status, 202, describeRes(sent));
    const missing = await rest(server, "GET", apiPath("/connections/nobody"), { query: [API_VERSION] });
    assert.equal(missing.status, 404, describeRes(missing));
    await stopClient(bob);

    await page.fill("#key", server.accessKey);
    await page.click("#login-form button");
    await page.waitForSelector("#app", { state: "visible", ...UI_WAIT });
    const line = (type, text) =>
      page.waitForFunction(
        ([type, text]) => [...document.querySelectorAll(`#trace li[data-type="${type}"]`)].some((li) => li.textContent.includes(text)),
        [type, text],
        UI_WAIT,
      );
    await line("connected", `${aliceId} connected over WebSockets (json) as user alice`);
    await line("membership", `${aliceId} joined group testers`);
    await line("invocation", `${aliceId} invoked hello`);
    await line("sent", "REST send of newMessage to group testers: 1 recipient");
    await line("rest", `PUT /api/hubs/chat/groups/testers/connections/${aliceId} → 200`);
    await line("rest", "GET /api/hubs/chat/connections/nobody → 404");
    await line("disconnected", `${bobId} disconnected`);

    // Payloads: a preview, expandable; the long one says it was cut.
    const invocation = page.locator('#trace li[data-type="invocation"]').first();
    assert.match(await invocation.locator(".payload summary").textContent(), /^\["short words","xxx/);
    assert.equal(await invocation.locator(".payload pre").isVisible(), false);
    await invocation.locator(".payload summary").click();
    assert.equal(await invocation.locator(".payload pre").isVisible(), true);
    assert.match(await invocation.locator(".payload pre").textContent(), /cut: the server keeps the first 2 KB/);
    const sentPayload = await page.locator('#trace li[data-type="sent"] .payload summary').first().textContent();
    assert.equal(sentPayload, '["to the testers",7]');

    // DISCONNECTED stays inside its column.
    const kind = await page.$eval('#trace li[data-type="disconnected"] .kind', (node) => {
      const what = node.nextElementSibling.getBoundingClientRect();
      return { fits: node.scrollWidth <= node.clientWidth, right: node.getBoundingClientRect().right, next: what.left };
    });
    assert.ok(kind.fits && kind.right <= kind.next, JSON.stringify(kind));

    // No "(s)" anywhere, and counts read as words.
    await page.waitForFunction(() => document.getElementById("hubs").textContent.includes("1 connection, 1 user, 1 group"), null, UI_WAIT);
    assert.ok(!(await page.textContent("body")).includes("(s)"));

    // Filters: kind, user (also the user's invocations), group, connection, hub.
    const shownTypes = () => page.$$eval("#trace li", (lis) => lis.map((li) => li.dataset.type));
    await page.selectOption("#trace-kind", "rest");
    assert.ok((await shownTypes()).every((t) => t === "rest") && (await shownTypes()).length >= 3);
    await page.selectOption("#trace-kind", "");
    await page.fill("#trace-user", "alice");
    assert.deepEqual(new Set(await shownTypes()), new Set(["connected", "membership", "invocation"]));
    await page.fill("#trace-user", "");
    await page.fill("#trace-group", "testers");
    assert.deepEqual(new Set(await shownTypes()), new Set(["membership", "sent"]));
    await page.fill("#trace-group", "");
    await page.fill("#trace-connection", bobId);
    assert.deepEqual(new Set(await shownTypes()), new Set(["connected", "disconnected"]));
    await page.fill("#trace-connection", "");
    await page.selectOption("#trace-hub", "chat");
    const all = (await shownTypes()).length;
    assert.ok(all >= 8, `${all} lines for hub chat`);

    // Pause holds new lines back and counts them; resume shows them.
    await page.click("#trace-pause");
    const again = await rest(server, "POST", apiPath("/:send"), { query: [API_VERSION], body: { target: "paused", arguments: [] } });
    assert.equal(again.status, 202);
    await page.waitForFunction(() => document.getElementById("trace-pause").textContent.startsWith("Resume (2 new)"), null, UI_WAIT);
    assert.equal((await shownTypes()).length, all);
    await page.click("#trace-pause");
    await line("sent", "REST send of paused to everyone");

    // Export: the kept lines that match the filter, one JSON object per line.
    await page.selectOption("#trace-kind", "sent");
    const [download] = await Promise.all([page.waitForEvent("download", UI_WAIT), page.click("#trace-export")]);
    const exported = readFileSync(await download.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(exported.map((e) => e.target), ["newMessage", "paused"]);
    assert.deepEqual(exported[0].arguments, { text: '["to the testers",7]', truncated: false });
    await page.selectOption("#trace-kind", "");

    // The send form's "Name / id" appears only for a user, group or connection.
    assert.equal(await page.isVisible("#send-who-label"), false);
    await page.selectOption("#send-scope", "user");
    assert.equal(await page.isVisible("#send-who-label"), true);
    await page.selectOption("#send-scope", "hub");

    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-trace.png"), fullPage: true });
    assert.deepEqual(problems, []);
  }));

  test("the API reference renders every operation and Try it reaches a client", TEST_OPTS, withDiagnostics(ctx, async () => {
    assert.equal(await page.getAttribute('header a[href="/swagger/"]', "target"), "_blank", "linked from the dashboard");
    const plain = await fetch(`${server.baseUrl}/swagger`);
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get("content-type"), /^text\/html/);

    await page.goto(`${server.baseUrl}/swagger/`);
    for (const name of ["v1-preview", "v1", "latest"]) {
      const doc = await (await fetch(`${server.baseUrl}/swagger/${name}.json`)).json();
      const expected = Object.entries(doc.paths).flatMap(([p, item]) => METHODS.filter((m) => item[m]).map((m) => `${m} ${p}`));
      await page.click(`[data-document="${name}"]`);
      await page.waitForFunction((name) => document.getElementById("operations").dataset.document === name, name, UI_WAIT);
      const rendered = await page.$$eval("#operations details.op", (ops) => ops.map((op) => `${op.dataset.method} ${op.dataset.path}`));
      assert.deepEqual(rendered, expected, name);
      await page.screenshot({ path: path.join(ARTIFACTS, `api-reference-${name}.png`), fullPage: false });
    }

    // Try it: a broadcast from the page, signed for the dashboard session, reaches a client.
    const listener = await connectClient(server, "carol");
    clients.push(listener);
    const inbox = new Inbox(listener.connection, "newMessage");
    const op = page.locator('details.op[data-operation-id="Broadcast"]');
    await op.locator("summary").click();
    await op.locator('[data-name="hub"]').fill("chat");
    await op.locator("textarea.request-body").fill('{"target":"newMessage","arguments":["from the API reference"]}');
    await op.locator('button[type="submit"]').click();
    await page.waitForFunction(() => document.querySelector('details.op[data-operation-id="Broadcast"] pre.response')?.dataset.status === "202", null, UI_WAIT);
    const [message] = await inbox.waitForCount(1, 10_000, "the API reference's broadcast");
    assert.deepEqual(message, ["from the API reference"]);
    await page.screenshot({ path: path.join(ARTIFACTS, "api-reference-try-it.png"), fullPage: false });

    // A call the server refuses shows its answer, not a page error.
    const health = page.locator('details.op[data-operation-id="HealthCheck"]');
    await health.locator("summary").click();
    await health.locator('button[type="submit"]').click();
    await page.waitForFunction(() => document.querySelector('details.op[data-operation-id="HealthCheck"] pre.response')?.dataset.status === "200", null, UI_WAIT);
    assert.deepEqual(problems, []);
    await sleep(0);
  }));
});
