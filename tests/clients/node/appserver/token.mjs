// Server tokens as the Azure SignalR SDK mints them (SERVICE-PROTOCOL.md §1): HS256 over the
// UTF-8 bytes of the AccessKey, audience `{scheme}://{host}/server/?hub={hub}` with the port
// dropped, `nameid` = the server id, `iss: azure-signalr`, and a `kid` header the service must
// ignore (the SDK's is a process-random hash code).

import { randomInt } from "node:crypto";

import jwt from "jsonwebtoken";

/** The audience the SDK signs for `hub` on an endpoint whose URL is `baseUrl`. */
export function serverAudience(baseUrl, hub) {
  const url = new URL(baseUrl);
  return `${url.protocol}//${url.hostname}/server/?hub=${hub}`;
}

/**
 * A server token. `claims` overrides or adds claims (e.g. a wrong `aud`), `key` signs it,
 * `lifetimeSeconds` sets `exp` (negative for an expired token).
 */
export function serverToken({
  accessKey,
  baseUrl,
  hub,
  serverId,
  claims = {},
  key = accessKey,
  lifetimeSeconds = 3600,
}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    aud: serverAudience(baseUrl, hub),
    nameid: serverId,
    iss: "azure-signalr",
    nbf: now,
    iat: now,
    exp: now + lifetimeSeconds,
    ...claims,
  };
  return jwt.sign(payload, Buffer.from(key, "utf8"), {
    algorithm: "HS256",
    header: { alg: "HS256", typ: "JWT", kid: String(randomInt(-(2 ** 31), 2 ** 31)) },
  });
}
