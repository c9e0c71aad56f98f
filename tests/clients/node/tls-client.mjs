// Run by tls.test.mjs in a child process, because Node reads NODE_EXTRA_CA_CERTS only at
// start: connects the official @microsoft/signalr client to an https emulator over every
// transport, sends each connection a REST message, and prints one JSON line per transport
// ({transport, connectionId, received} or {transport, error}).
//
// Usage: node tls-client.mjs <baseUrl> [transport...]

import { HttpTransportType } from "@microsoft/signalr";
import {
  Inbox,
  connectClient,
  enc,
  hubPath,
  rest,
  stopClient,
  waitFor,
} from "./harness.mjs";

const [baseUrl, ...transports] = process.argv.slice(2);
const server = { baseUrl, hubUrl: `${baseUrl}/client/?hub=chat` };

for (const transport of transports) {
  let client;
  try {
    client = await connectClient(server, `tls-${transport}`, {
      transport: HttpTransportType[transport],
    });
    const inbox = new Inbox(client.connection, "overTls");
    const id = client.connection.connectionId;
    const res = await rest(server, "POST", hubPath(`/connections/${enc(id)}`), {
      body: { target: "overTls", arguments: [transport] },
    });
    if (res.status !== 202) throw new Error(`REST send answered ${res.status} ${res.text}`);
    const [received] = await inbox.waitForCount(1, 10_000);
    console.log(JSON.stringify({ transport, connectionId: id, received }));
  } catch (err) {
    // The client's error says only "fetch failed": a plain request shows the root cause
    // (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE), which the test checks.
    const probe = await fetch(`${baseUrl}/api/v1/health`).then(
      (r) => `health answered ${r.status}`,
      (e) => e.cause?.code ?? e.cause?.message ?? e.message,
    );
    console.log(JSON.stringify({ transport, error: `${err.message} (${probe})` }));
  } finally {
    if (client) await waitFor(stopClient(client), 5_000, "stop").catch(() => {});
  }
}
process.exit(0);
