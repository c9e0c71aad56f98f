// A minimal app server for signalr-emulator, as an app would run beside Azure SignalR: it reads
// the connection string, answers negotiate with a redirect (url + accessToken) that points
// browsers at the client endpoint, and broadcasts a tick through the REST API every few seconds.
// Node built-ins only, so the compose file needs no build step.
//
//   AZURE_SIGNALR_CONNECTION_STRING="Endpoint=http://signalr;Port=8888;AccessKey=...;ClientEndpoint=http://localhost:8888;Version=1.0;"
//   PORT=3000 TICK_SECONDS=5 HUB=chat node server.mjs

import { createHmac } from "node:crypto";
import http from "node:http";

const settings = parseConnectionString(process.env.AZURE_SIGNALR_CONNECTION_STRING ?? "");
const hub = process.env.HUB ?? "chat";
const port = Number(process.env.PORT ?? 3000);
const tickMs = Number(process.env.TICK_SECONDS ?? 5) * 1000;

/** `Endpoint=...;Port=...;AccessKey=...;ClientEndpoint=...` as the Azure SDKs read it. */
function parseConnectionString(text) {
  const pairs = Object.fromEntries(
    text
      .split(";")
      .filter((part) => part.includes("="))
      .map((part) => {
        const at = part.indexOf("=");
        return [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim()];
      }),
  );
  if (!pairs.endpoint || !pairs.accesskey) {
    throw new Error("AZURE_SIGNALR_CONNECTION_STRING needs Endpoint and AccessKey");
  }
  const withPort = (url, portText) => {
    const u = new URL(url);
    if (portText) u.port = portText;
    return u.origin;
  };
  const server = withPort(pairs.endpoint, pairs.port);
  return {
    server, // what this app calls (the compose network name)
    client: pairs.clientendpoint ? withPort(pairs.clientendpoint) : server, // what browsers call
    key: pairs.accesskey,
  };
}

const base64url = (data) => Buffer.from(data).toString("base64url");

/** An HS256 JWT signed with the UTF-8 bytes of the access key, as the SDKs sign it. */
function sign(claims) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = base64url(JSON.stringify({ iat: now, nbf: now, exp: now + 3600, ...claims }));
  const signature = createHmac("sha256", settings.key).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** The SDK puts the audience without the port. */
const audience = (origin, path) => {
  const u = new URL(origin);
  return `${u.protocol}//${u.hostname}${path}`;
};

async function broadcast(n) {
  const path = `/api/v1/hubs/${hub}`;
  const response = await fetch(`${settings.server}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${sign({ aud: audience(settings.server, path) })}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ target: "tick", arguments: [n, new Date().toISOString()] }),
  });
  console.log(`broadcast tick ${n}: ${response.status}`);
}

const app = http.createServer((req, res) => {
  const url = new URL(req.url, "http://app");
  if (req.method === "OPTIONS") {
    res.writeHead(204, corsHeaders(req));
    res.end();
    return;
  }
  if (url.pathname.endsWith("/negotiate")) {
    const user = url.searchParams.get("user") ?? "anonymous";
    const clientPath = `/client/?hub=${hub}`;
    res.writeHead(200, { "content-type": "application/json", ...corsHeaders(req) });
    res.end(
      JSON.stringify({
        url: `${settings.client}${clientPath}`,
        accessToken: sign({ aud: audience(settings.client, clientPath), nameid: user }),
      }),
    );
    return;
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(`example app: POST /negotiate?user=<name> to get the SignalR URL and token; ticks go to hub '${hub}'\n`);
});

function corsHeaders(req) {
  return {
    "access-control-allow-origin": req.headers.origin ?? "*",
    "access-control-allow-credentials": "true",
    "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
  };
}

app.listen(port, process.env.BIND ?? "0.0.0.0", () => {
  console.log(`example app listening on ${app.address().port}; emulator at ${settings.server}, browsers at ${settings.client}`);
});

let n = 0;
const timer = setInterval(() => broadcast(++n).catch((err) => console.error(`broadcast failed: ${err.message}`)), tickMs);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    clearInterval(timer);
    app.close(() => process.exit(0));
  });
}
