// REST DELETE connection -> the official @microsoft/signalr client sees a
// server Close with the given reason, and the connection is gone afterwards.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HubConnectionState } from "@microsoft/signalr";

import {
  Inbox,
  connectClient,
  describe as describeRes,
  enc,
  hubPath,
  pollUntil,
  rest,
  startServer,
  stopClient,
  waitFor,
  withDiagnostics,
} from "./harness.mjs";

const TEST_OPTS = { timeout: 30_000 };

describe("REST v1 close connection with @microsoft/signalr (JSON, WebSockets)", () => {
  let server;
  let alice;
  let bob;
  const ctx = () => ({ server, clients: [alice, bob] });

  before(async () => {
    server = await startServer();
    try {
      alice = await connectClient(server, "alice");
      bob = await connectClient(server, "bob");
    } catch (err) {
      for (const c of [alice, bob]) {
        if (c) process.stderr.write(`----- client ${c.userId} log -----\n${c.logger.dump()}\n`);
      }
      process.stderr.write(server.logs());
      throw err;
    }
  }, { timeout: 40_000 });

  after(async () => {
    const errors = [];
    for (const c of [alice, bob]) {
      try {
        await stopClient(c);
      } catch (err) {
        errors.push(err);
      }
    }
    if (server) await server.stop();
    if (errors.length) throw errors[0];
  }, { timeout: 30_000 });

  test("DELETE connection?reason=bye closes alice with that reason; then GET is 404", TEST_OPTS, withDiagnostics(ctx, async () => {
    const id = alice.connection.connectionId;
    const path = hubPath(`/connections/${enc(id)}`);

    const exists = await rest(server, "GET", path);
    assert.equal(exists.status, 200, `GET alice's connection before close: ${describeRes(exists)}`);

    const del = await rest(server, "DELETE", path, { query: [["reason", "bye"]] });
    assert.equal(del.status, 202, describeRes(del));

    const err = await waitFor(alice.closed, 5_000, "alice's onclose after DELETE");
    assert.ok(err instanceof Error, `onclose must get an Error, got ${String(err)}`);
    assert.match(err.message, /bye/, `onclose error message: ${err.message}`);
    assert.equal(alice.connection.state, HubConnectionState.Disconnected);

    // The connection must disappear from the server (bounded wait: the
    // close is processed asynchronously after the 202).
    let last;
    await pollUntil(async () => {
      last = await rest(server, "GET", path);
      return last.status === 404;
    }, 3_000, "GET of the deleted connection to return 404").catch((e) => {
      throw new Error(`${e.message}; last response: ${last && describeRes(last)}`);
    });

    // Bob is unaffected.
    assert.equal(bob.connection.state, HubConnectionState.Connected);
    const bobExists = await rest(server, "GET", hubPath(`/connections/${enc(bob.connection.connectionId)}`));
    assert.equal(bobExists.status, 200, `GET bob's connection: ${describeRes(bobExists)}`);
    const b = new Inbox(bob.connection, "afterClose");
    const send = await rest(server, "POST", hubPath(), {
      body: { target: "afterClose", arguments: ["still here"] },
    });
    assert.equal(send.status, 202, describeRes(send));
    const got = await b.waitForCount(1, 5_000, "broadcast on bob after alice was closed");
    assert.deepEqual(got[0], ["still here"]);
  }));
});
