// Runs the README's snippets verbatim, in order, in a scratch folder, against the built server
// on port 8888 (the port the README uses), with `signalr-emulator` on PATH as after
// `cargo install`. Every fenced block in the README carries a marker saying how it is tested:
//
//   <!-- readme-test: run [in DIR][; then the background output has "TEXT"] -->
//   <!-- readme-test: background [in DIR]; ready when the output has "TEXT" -->
//   <!-- readme-test: file PATH -->            (the block is saved as PATH)
//   <!-- readme-test: skip (why) -->           (not runnable here; the reason is required)
//
// so a new block cannot go untested unnoticed.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { REPO_ROOT, emulatorBinary, pollUntil } from "./harness.mjs";

const README = path.join(REPO_ROOT, "README.md");
const PORT = 8888;
const RUN_TIMEOUT_MS = 180_000;

/** Every fenced block of the README with its marker (or `null` when it has none). */
function snippets(text) {
  const blocks = [];
  const lines = text.split("\n");
  let open = null;
  lines.forEach((line, index) => {
    if (!line.startsWith("```")) return;
    if (open === null) open = index;
    else {
      const marker = /^<!-- readme-test: (.+?) -->$/.exec(lines[open - 1] ?? "");
      blocks.push({ line: open + 1, marker: marker?.[1] ?? null, code: lines.slice(open + 1, index).join("\n") });
      open = null;
    }
  });
  return blocks;
}

function parse(marker) {
  const skip = /^skip(?: \((.+)\))?$/.exec(marker);
  if (skip) return { kind: "skip", reason: skip[1] ?? null };
  const [head, ...clauses] = marker.split(";").map((part) => part.trim());
  const [, kind, rest = ""] = /^(\w+)\s*(.*)$/.exec(head);
  const quoted = (prefix) => {
    const clause = clauses.find((c) => c.startsWith(prefix));
    return clause ? /"(.+)"/.exec(clause)[1] : null;
  };
  return {
    kind,
    dir: kind !== "file" && rest.startsWith("in ") ? rest.slice(3) : "",
    file: kind === "file" ? rest : null,
    readyWhen: quoted("ready when"),
    thenBackground: quoted("then the background output has"),
  };
}

function portFree(port) {
  return new Promise((resolve) => {
    const probe = net.createServer().once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

describe("README snippets, verbatim", () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "readme-"));
  const serverDir = mkdtempSync(path.join(os.tmpdir(), "readme-server-"));
  const env = { ...process.env, PATH: `${path.dirname(emulatorBinary())}${path.delimiter}${process.env.PATH}`, NO_COLOR: "1" };
  delete env.SIGNALR_EMULATOR_ACCESS_KEY;
  let server;
  let serverOutput = "";
  const background = [];

  before(async () => {
    assert.ok(await portFree(PORT), `port ${PORT} is in use: the README test needs it free (stop what listens there)`);
    server = spawn(emulatorBinary(), ["start", "-p", String(PORT)], { cwd: serverDir, env, stdio: ["ignore", "pipe", "pipe"] });
    server.stdout.on("data", (chunk) => { serverOutput += chunk; });
    server.stderr.on("data", (chunk) => { serverOutput += chunk; });
    await pollUntil(() => serverOutput.includes("Endpoint="), 15_000, "the server's banner");
  });

  after(() => {
    for (const job of background) {
      try { process.kill(-job.child.pid, "SIGTERM"); } catch { /* already gone */ }
    }
    server?.kill("SIGTERM");
    rmSync(scratch, { recursive: true, force: true });
    rmSync(serverDir, { recursive: true, force: true });
  });

  test("every fenced block says how it is tested", () => {
    for (const block of snippets(readFileSync(README, "utf8"))) {
      assert.ok(block.marker, `README.md:${block.line}: a fenced block without a readme-test marker`);
      const parsed = parse(block.marker);
      assert.ok(["run", "background", "file", "skip"].includes(parsed.kind), `README.md:${block.line}: unknown marker '${block.marker}'`);
      if (parsed.kind === "skip") assert.ok(parsed.reason, `README.md:${block.line}: a skip needs a reason in parentheses`);
    }
  });

  test("the runnable snippets work in a new folder", { timeout: 600_000 }, async () => {
    const blocks = snippets(readFileSync(README, "utf8")).filter((b) => b.marker && parse(b.marker).kind !== "skip");
    assert.ok(blocks.length >= 6, "the README has its runnable snippets");
    for (const block of blocks) {
      const step = parse(block.marker);
      const where = `README.md:${block.line}`;
      if (step.kind === "file") {
        const file = path.join(scratch, step.file);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, `${block.code}\n`);
        continue;
      }
      const cwd = path.join(scratch, step.dir);
      const child = spawn("bash", ["-e", "-o", "pipefail", "-c", block.code], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      const job = { child, output: "", exit: null };
      child.stdout.on("data", (chunk) => { job.output += chunk; });
      child.stderr.on("data", (chunk) => { job.output += chunk; });
      child.on("exit", (code) => { job.exit = code; });
      if (step.kind === "background") {
        background.push(job);
        await pollUntil(() => {
          if (job.exit !== null) throw new Error(`${where} exited (${job.exit}) before it was ready:\n${job.output}`);
          return job.output.includes(step.readyWhen);
        }, 30_000, `${where} to print "${step.readyWhen}"`).catch((err) => {
          throw new Error(`${err.message}\n--- its output ---\n${job.output}`);
        });
        continue;
      }
      await pollUntil(() => job.exit !== null, RUN_TIMEOUT_MS, `${where} to finish`).catch((err) => {
        process.kill(-child.pid, "SIGKILL");
        throw new Error(`${err.message}\n--- its output ---\n${job.output}`);
      });
      assert.equal(job.exit, 0, `${where} failed:\n${block.code}\n--- output ---\n${job.output}\n--- server ---\n${serverOutput}`);
      if (step.thenBackground) {
        const last = background.at(-1);
        await pollUntil(() => last.output.includes(step.thenBackground), 10_000, `the background snippet to print "${step.thenBackground}"`).catch((err) => {
          throw new Error(`${err.message}\n--- background output ---\n${last.output}\n--- server ---\n${serverOutput}`);
        });
      }
    }
  });
});
