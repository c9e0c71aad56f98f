// TLS on the service port with real clients: a CA and a localhost certificate made with
// Debian's openssl for this run (nothing checked in that could expire); the official
// @microsoft/signalr client under Node over WSS, Server-Sent Events and long polling with
// the CA trusted through NODE_EXTRA_CA_CERTS (and refused without it); its browser build in
// headless Chromium on an https page, the CA trusted in an NSS database of its own (no
// --ignore-certificate-errors); plain http to the TLS port answered with a clear 400.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  HOST,
  clientToken,
  launchChromium,
  startServer,
  waitFor,
  withDiagnostics,
} from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const TEST_OPTS = { timeout: 90_000 };

/** A CA and a certificate for localhost and 127.0.0.1 it signs, valid for two days. */
function makeCertificates(dir) {
  const run = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run("req", "-x509", ...ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
    "-subj", "/CN=signalr-emulator node test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
  run("req", ...ec, "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=localhost");
  writeFileSync(path.join(dir, "ext.cnf"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  run("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
    "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf");
  return { ca: path.join(dir, "ca.pem"), cert: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem") };
}

/** Runs tls-client.mjs; resolves to its JSON lines. */
function runClient(env, baseUrl, transports) {
  return waitFor(new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, "tls-client.mjs"), baseUrl, ...transports], {
      env, stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("error", reject);
    child.on("exit", (code) => {
      const lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      if (lines.length !== transports.length) reject(new Error(`client exited ${code}: ${out}\n${err}`));
      else resolve(lines);
    });
  }), 60_000, "the TLS client process");
}

describe("TLS on the service port", () => {
  let dir;
  let certs;
  let server;
  const ctx = () => ({ server, clients: [] });

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "signalr-tls-"));
    certs = makeCertificates(dir);
    server = await startServer(["--tls-cert", certs.cert, "--tls-key", certs.key]);
  });

  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the banner names an https endpoint", TEST_OPTS, () => {
    assert.match(server.stdout, /listening on https:\/\/127\.0\.0\.1:\d+/);
    assert.match(server.stdout, /Endpoint=https:\/\/localhost;Port=\d+;/);
    assert.ok(server.baseUrl.startsWith("https://"), server.baseUrl);
  });

  test("@microsoft/signalr over WSS, SSE and long polling with the CA trusted", TEST_OPTS, withDiagnostics(ctx, async () => {
    const transports = ["WebSockets", "ServerSentEvents", "LongPolling"];
    const results = await runClient({ ...process.env, NODE_EXTRA_CA_CERTS: certs.ca }, server.baseUrl, transports);
    for (const [i, transport] of transports.entries()) {
      assert.equal(results[i].transport, transport);
      assert.equal(results[i].error, undefined, `${transport}: ${results[i].error}`);
      assert.deepEqual(results[i].received, [transport]);
    }
  }));

  test("without the CA, the client refuses the certificate", TEST_OPTS, withDiagnostics(ctx, async () => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const [result] = await runClient(env, server.baseUrl, ["WebSockets"]);
    assert.ok(result.error, JSON.stringify(result));
    assert.match(result.error, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  }));

  test("plain http to the TLS port gets a 400 naming https://", TEST_OPTS, withDiagnostics(ctx, async () => {
    const plain = server.baseUrl.replace("https://", "http://");
    const response = await waitFor(fetch(`${plain}/api/v1/health`), 10_000, "plain http answer");
    assert.equal(response.status, 400);
    assert.match(await response.text(), /use https:\/\//);
  }));

  test("the browser build on an https page, the CA trusted in Chromium's NSS database", TEST_OPTS, withDiagnostics(ctx, async () => {
    // Chromium on Linux trusts the NSS database under $HOME/.pki/nssdb: a fresh HOME holds
    // one that trusts this run's CA and nothing else of ours.
    const home = path.join(dir, "home");
    const nssdb = path.join(home, ".pki", "nssdb");
    execFileSync("mkdir", ["-p", nssdb]);
    execFileSync("certutil", ["-d", `sql:${nssdb}`, "-N", "--empty-password"]);
    execFileSync("certutil", ["-d", `sql:${nssdb}`, "-A", "-t", "C,,", "-n", "signalr-emulator test CA", "-i", certs.ca]);

    const bundle = readFileSync(path.join(here, "node_modules/@microsoft/signalr/dist/browser/signalr.js"));
    const page = `<!doctype html><meta charset="utf-8"><script src="/signalr.js"></script>`;
    const pages = https.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (req, res) => {
      res.writeHead(200, { "content-type": req.url === "/signalr.js" ? "text/javascript" : "text/html" });
      res.end(req.url === "/signalr.js" ? bundle : page);
    });
    await new Promise((resolve) => pages.listen(0, HOST, resolve));
    const browser = await launchChromium({ env: { ...process.env, HOME: home } });
    try {
      const tab = await browser.newPage();
      await tab.goto(`https://${HOST}:${pages.address().port}/`);
      assert.equal(await tab.evaluate(() => window.isSecureContext), true);
      const results = await tab.evaluate(async ([url, token]) => {
        const out = [];
        for (const transport of ["WebSockets", "ServerSentEvents", "LongPolling"]) {
          const connection = new signalR.HubConnectionBuilder()
            .withUrl(url, { transport: signalR.HttpTransportType[transport], accessTokenFactory: () => token })
            .build();
          await connection.start();
          out.push({ transport, id: connection.connectionId });
          await connection.stop();
        }
        return out;
      }, [server.hubUrl, clientToken("browser-tls")]);
      assert.deepEqual(results.map((r) => r.transport), ["WebSockets", "ServerSentEvents", "LongPolling"]);
      for (const r of results) assert.ok(r.id, JSON.stringify(r));
    } finally {
      await browser.close();
      await new Promise((r) => pages.close(r));
    }
  }));
});
