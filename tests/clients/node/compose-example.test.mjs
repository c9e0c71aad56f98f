// What docker/compose.yaml relies on, exercised without a Docker engine: the example app of
// the compose file runs against the emulator binary with a compose-style connection string
// (server endpoint + ClientEndpoint), answers negotiate with a redirect, and its REST
// broadcasts reach an official client that connected through that redirect. The env vars the
// compose file and the Dockerfile set must all be real options of the binary.

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { HubConnectionBuilder, LogLevel } from "@microsoft/signalr";

import { HOST, REPO_ROOT, emulatorBinary, pollUntil, startServer, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const dockerDir = path.join(REPO_ROOT, "docker");

describe("docker/compose.yaml example app against the emulator (no Docker engine)", () => {
  let server;
  let app;
  let appOutput = "";
  let appPort;

  before(async () => {
    server = await startServer();
    const connectionString = `Endpoint=http://${HOST};Port=${server.port};AccessKey=${server.accessKey};ClientEndpoint=http://${HOST}:${server.port};Version=1.0;`;
    app = spawn(process.execPath, [path.join(dockerDir, "example-app", "server.mjs")], {
      env: { ...process.env, AZURE_SIGNALR_CONNECTION_STRING: connectionString, PORT: "0", BIND: HOST, TICK_SECONDS: "0.2", HUB: "chat" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    app.stdout.setEncoding("utf8");
    app.stderr.setEncoding("utf8");
    app.stdout.on("data", (chunk) => (appOutput += chunk));
    app.stderr.on("data", (chunk) => (appOutput += chunk));
    appPort = await pollUntil(() => /listening on (\d+)/.exec(appOutput)?.[1], 10_000, "the example app to listen");
  });

  after(async () => {
    app?.kill("SIGTERM");
    await server?.stop();
  });

  test("a client negotiates through the app and receives its REST broadcasts", { timeout: 30_000 }, async () => {
    const connection = new HubConnectionBuilder()
      .withUrl(`http://${HOST}:${appPort}/?user=compose-user`)
      .configureLogging(LogLevel.Warning)
      .build();
    const tick = new Promise((resolve) => connection.on("tick", (n, at) => resolve({ n, at })));
    await waitFor(connection.start(), 10_000, "start through the app's negotiate redirect");
    const got = await waitFor(tick, 5_000, "a tick broadcast");
    assert.equal(typeof got.n, "number");
    assert.match(got.at, /^\d{4}-\d\d-\d\dT/);
    await pollUntil(() => /broadcast tick \d+: 202/.test(appOutput), 5_000, "the app to log a 202 from the REST API");
    await connection.stop();
  });

  test("every SIGNALR_EMULATOR_* variable of the compose file and Dockerfile is an option", async () => {
    const help = execFileSync(emulatorBinary(), ["start", "--help"], { encoding: "utf8" });
    const files = [await readFile(path.join(dockerDir, "compose.yaml"), "utf8"), await readFile(path.join(dockerDir, "Dockerfile"), "utf8")];
    const names = new Set(files.flatMap((text) => text.match(/SIGNALR_EMULATOR_[A-Z_]+/g) ?? []));
    assert.ok(names.size >= 5, `found ${[...names].join(", ")}`);
    for (const name of names) assert.ok(help.includes(name), `${name} is not an option of signalr-emulator start`);
  });
});
