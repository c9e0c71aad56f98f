// The simulated app server's public surface for the tests.

export { AppServer, RelayedClient, claimValue, newServerId, payloads } from "./app-server.mjs";
export { Targets, hubMethods } from "./hub.mjs";
export { PROTOCOLS, frameFor, frameForAll, parseFramed } from "./hub-protocols.mjs";
export { AckStatus, ConnectionType, DataMessageType, Ext, Type, parse, typeName, write } from "./messages.mjs";
export { ServiceConnection, UpgradeRejected, USER_AGENT, WriteMode, nextAckId } from "./service-connection.mjs";
export { serverAudience, serverToken } from "./token.mjs";
export { FrameReader, frame, varint } from "./varint.mjs";
