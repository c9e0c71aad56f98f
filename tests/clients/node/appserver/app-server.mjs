// A simulated ASP.NET Core app server with AddAzureSignalR(), written from SERVICE-PROTOCOL.md
// and independent of the emulator's own codec: it opens a set of server connections to one hub,
// hosts the hub of ./hub.mjs for the clients the service relays to it (OpenConnection, the
// client's handshake, ConnectionData both ways, CloseConnection), routes client results as the
// SDK does (§7), and offers tests every message an app server or the Management SDK sends.

import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";

import { MessageType } from "@microsoft/signalr";

import {
  ClientStreamReader,
  frameFor,
  frameForAll,
  handshakeResponse,
  parseFramed,
} from "./hub-protocols.mjs";
import { hubMethods } from "./hub.mjs";
import { ConnectionType, DataMessageType, Ext, Type, write } from "./messages.mjs";
import { ServiceConnection } from "./service-connection.mjs";

const CLIENT_RESULT_TIMEOUT_MS = 10_000;
const LOG_LIMIT = 2_000;

/** `{MachineName}_{guid:N}`, as the SDK names a server process. */
export const newServerId = () => `${hostname()}_${randomUUID().replaceAll("-", "")}`;

const USER_ID_CLAIMS = [
  "asrs.s.uid",
  "nameid",
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
  "sub",
];

/** The value of the first claim named `type` in a list of [type, value] pairs. */
export const claimValue = (claims, type) => claims.find(([t]) => t === type)?.[1];

/** A client the service relayed to this app server. */
export class RelayedClient {
  constructor(open, service) {
    this.connectionId = open.connectionId;
    this.claims = open.claims;
    this.headers = open.headers;
    this.queryString = open.queryString;
    this.protocol = open.ext[Ext.Protocol];
    this.open = open;
    this.service = service;
    this.userId = USER_ID_CLAIMS.map((t) => claimValue(open.claims, t)).find((v) => v != null);
    this.reader = new ClientStreamReader();
    this.handshake = null;
    this.partial = [];
    this.invocations = [];
  }
}

export class AppServer extends EventEmitter {
  /**
   * @param {object} o
   * @param {string} o.baseUrl the service, e.g. http://127.0.0.1:1234
   * @param {string} o.accessKey
   * @param {string} o.hub
   * @param {number} [o.connectionCount] server connections to open (the SDK opens 5)
   * @param {number} [o.connectionType] ConnectionType.Default, or Weak for a Management SDK
   * @param {object} [o.connectionOptions] passed to every ServiceConnection
   */
  constructor({
    baseUrl,
    accessKey,
    hub,
    serverId = newServerId(),
    connectionCount = 2,
    connectionType = ConnectionType.Default,
    connectionOptions = {},
  }) {
    super();
    this.setMaxListeners(100);
    this.baseUrl = baseUrl;
    this.accessKey = accessKey;
    this.hub = hub;
    this.serverId = serverId;
    this.connectionCount = connectionCount;
    this.connectionType = connectionType;
    this.connectionOptions = connectionOptions;
    this.connections = [];
    this.clients = new Map();
    this.closedClients = new Map();
    this.methods = { ...hubMethods };
    this.pendingResults = new Map();
    this.routedResults = new Map();
    this.mappings = [];
    this.serviceErrors = [];
    this.log = [];
  }

  /** Opens every server connection; fails if any handshake fails. */
  async start() {
    await Promise.all(Array.from({ length: this.connectionCount }, () => this.addConnection()));
    return this;
  }

  /** Opens one more server connection (e.g. after one was dropped). */
  async addConnection(options = {}) {
    const service = new ServiceConnection({
      baseUrl: this.baseUrl,
      hub: this.hub,
      accessKey: this.accessKey,
      serverId: this.serverId,
      connectionType: this.connectionType,
      ...this.connectionOptions,
      ...options,
    });
    service.on("message", (m) => this.onServiceMessage(service, m));
    service.on("close", (info) => this.onServiceClosed(service, info));
    await service.start();
    this.connections.push(service);
    return service;
  }

  note(line) {
    this.log.push(`${new Date().toISOString()} [app ${this.serverId.slice(-6)}] ${line}`);
    if (this.log.length > LOG_LIMIT) this.log.shift();
  }

  /** This app server's log lines, for failure reports. */
  dump() {
    return this.log.join("\n");
  }

  /** Closes every server connection cleanly. */
  async stop() {
    await Promise.all(this.connections.map((c) => c.close()));
  }

  onServiceMessage(service, m) {
    switch (m.type) {
      case Type.OpenConnection:
        return this.onOpenConnection(service, m);
      case Type.ConnectionData:
        return this.onConnectionData(m);
      case Type.CloseConnection:
        return this.onCloseConnection(m);
      case Type.ConnectionReconnect:
        this.note(`ConnectionReconnect ${m.connectionId}`);
        if (this.clients.has(m.connectionId)) this.clients.get(m.connectionId).partial = [];
        return undefined;
      case Type.ClientInvocation:
        this.note(`routed ClientInvocation ${m.invocationId} for ${m.connectionId}`);
        this.routedResults.set(m.invocationId, m);
        return undefined;
      case Type.ClientCompletion:
        return this.onClientCompletion(m);
      case Type.ErrorCompletion:
        return this.settleResult(m.invocationId, (p) => p.reject(new Error(m.error)), "error");
      case Type.ServiceMapping:
        this.mappings.push(m);
        return undefined;
      case Type.ServiceError:
        this.note(`ServiceError ${m.error}`);
        this.serviceErrors.push(m);
        return undefined;
      default:
        return undefined;
    }
  }

  onOpenConnection(service, open) {
    const client = new RelayedClient(open, service);
    this.note(`OpenConnection ${client.connectionId} user=${client.userId} protocol=${client.protocol}`);
    this.clients.set(client.connectionId, client);
    this.emit("clientOpened", client);
  }

  onConnectionData(m) {
    const client = this.clients.get(m.connectionId);
    if (!client) {
      this.note(`ConnectionData for unknown connection ${m.connectionId}`);
      return;
    }
    // Partial data is held until its last piece arrives (SERVICE-PROTOCOL.md §8).
    if (m.ext[Ext.IsPartial]) {
      client.partial.push(m.payload);
      return;
    }
    const pieces = [...client.partial, m.payload];
    client.partial = [];
    for (const piece of pieces) {
      let read;
      try {
        read = client.reader.push(piece);
      } catch (err) {
        this.note(`unreadable data from ${client.connectionId}: ${err.message}`);
        return;
      }
      if (read.handshake) this.answerHandshake(client, read.handshake);
      for (const message of read.messages) this.onHubMessage(client, message);
    }
  }

  answerHandshake(client, request) {
    client.handshake = request;
    const known = String(request.protocol).toLowerCase() === String(client.protocol).toLowerCase();
    const error = known
      ? undefined
      : `The handshake asks for protocol '${request.protocol}' but OpenConnection said '${client.protocol}'.`;
    client.service.send(
      write.connectionData(client.connectionId, handshakeResponse(error), {
        dataMessageType: DataMessageType.Handshake,
      }),
    );
    this.note(`handshake of ${client.connectionId}: ${JSON.stringify(request)}`);
    this.emit("clientHandshake", client);
  }

  onHubMessage(client, message) {
    if (message.type === MessageType.Invocation) {
      client.invocations.push(message);
      this.emit("invocation", client, message);
      this.invokeHubMethod(client, message);
    } else if (message.type === MessageType.Completion) {
      this.onClientResult(client, message);
    }
  }

  async invokeHubMethod(client, message) {
    const method = this.methods[message.target];
    let completion;
    try {
      if (!method) throw new Error(`Method '${message.target}' does not exist.`);
      const result = await method({ app: this, client }, ...message.arguments);
      completion = { type: MessageType.Completion, invocationId: message.invocationId, result };
    } catch (err) {
      completion = {
        type: MessageType.Completion,
        invocationId: message.invocationId,
        error: `An error occurred invoking '${message.target}' on the server. ${err.message}`,
      };
    }
    if (message.invocationId && this.clients.has(client.connectionId) && client.service.isOpen) {
      this.sendToClient(client, completion);
    }
  }

  /** Writes one hub message to one relayed client, in its protocol, as ConnectionData. */
  sendToClient(client, message, dataMessageType = DataMessageType.Invocation) {
    client.service.send(
      write.connectionData(client.connectionId, frameFor(client.protocol, message), {
        dataMessageType,
      }),
    );
  }

  onCloseConnection(m) {
    const client = this.clients.get(m.connectionId);
    this.note(`CloseConnection ${m.connectionId} ${m.error ?? ""}`);
    if (!client) return;
    this.clients.delete(m.connectionId);
    this.closedClients.set(m.connectionId, { client, error: m.error });
    this.emit("clientClosed", client, m.error);
  }

  onServiceClosed(service, info) {
    this.note(`server connection ${service.connectionId} closed ${info.code} ${info.reason}`);
    this.connections = this.connections.filter((c) => c !== service);
    // The SDK tears down the logical clients of a connection that ended.
    for (const client of [...this.clients.values()]) {
      if (client.service === service) {
        this.clients.delete(client.connectionId);
        this.emit("clientClosed", client, "server connection closed");
      }
    }
  }

  /** Resolves with the relayed client that satisfies `predicate` (now or within `ms`). */
  waitForClient(predicate, ms = 10_000, event = "clientOpened") {
    const found = [...this.clients.values()].find(predicate);
    if (found && event === "clientOpened") return Promise.resolve(found);
    return waitForEvent(this, event, (c) => predicate(c), ms, `app server event ${event}`);
  }

  /** The relayed client with this connection id, waiting for its OpenConnection if needed. */
  client(connectionId, ms = 10_000) {
    return this.waitForClient((c) => c.connectionId === connectionId, ms);
  }

  /** Resolves once the service told us that `connectionId` went away. */
  waitForClientClosed(connectionId, ms = 10_000) {
    if (this.closedClients.has(connectionId)) {
      return Promise.resolve(this.closedClients.get(connectionId).client);
    }
    return this.waitForClient((c) => c.connectionId === connectionId, ms, "clientClosed");
  }

  // ----- what the app server (or Management SDK) sends -----

  connection(via) {
    if (via instanceof ServiceConnection) return via;
    const service = this.connections[via ?? 0];
    if (!service) throw new Error(`no open server connection #${via ?? 0}`);
    return service;
  }

  send(bytes, via) {
    this.connection(via).send(bytes);
  }

  request(build, via) {
    return this.connection(via).request(build);
  }

  /** Clients.All / AllExcept: BroadcastData. */
  broadcast(target, args, { excluded = [], via, protocols } = {}) {
    this.send(write.broadcastData(excluded, payloads(target, args, protocols)), via);
  }

  /** Clients.Clients(ids): MultiConnectionData (also the SDK's form of one local send). */
  sendToConnections(connectionIds, target, args, { via, protocols } = {}) {
    this.send(write.multiConnectionData(connectionIds, payloads(target, args, protocols)), via);
  }

  /** Clients.User(id): UserData. */
  sendToUser(userId, target, args, { via, protocols } = {}) {
    this.send(write.userData(userId, payloads(target, args, protocols)), via);
  }

  /** Clients.Users(ids): MultiUserData. */
  sendToUsers(userIds, target, args, { via, protocols } = {}) {
    this.send(write.multiUserData(userIds, payloads(target, args, protocols)), via);
  }

  /** Clients.Group / GroupExcept: GroupBroadcastData. */
  sendToGroup(group, target, args, { excludedConnectionIds, excludedUserIds, callerUserId, via, protocols } = {}) {
    this.send(
      write.groupBroadcastData(group, payloads(target, args, protocols), {
        excludedConnectionIds,
        excludedUserIds,
        callerUserId,
      }),
      via,
    );
  }

  /** Clients.Groups(names): MultiGroupBroadcastData. */
  sendToGroups(groups, target, args, { via, protocols } = {}) {
    this.send(write.multiGroupBroadcastData(groups, payloads(target, args, protocols)), via);
  }

  /** Groups.AddToGroupAsync: JoinGroupWithAck; resolves with the Ack. */
  addToGroup(connectionId, group, { via } = {}) {
    return this.request((ackId) => write.joinGroupWithAck(connectionId, group, ackId), via);
  }

  /** Groups.RemoveFromGroupAsync (group null: every group): LeaveGroupWithAck. */
  removeFromGroup(connectionId, group, { via } = {}) {
    return this.request((ackId) => write.leaveGroupWithAck(connectionId, group, ackId), via);
  }

  /** The legacy JoinGroup without an ack. */
  joinGroupNoAck(connectionId, group, { via } = {}) {
    this.send(write.joinGroup(connectionId, group), via);
  }

  /** The legacy LeaveGroup without an ack. */
  leaveGroupNoAck(connectionId, group, { via } = {}) {
    this.send(write.leaveGroup(connectionId, group), via);
  }

  /** UserGroups.AddToGroupAsync (ttl in seconds): UserJoinGroupWithAck. */
  addUserToGroup(userId, group, { ttl, via } = {}) {
    return this.request((ackId) => write.userJoinGroupWithAck(userId, group, ackId, { ttl }), via);
  }

  /** UserGroups.RemoveFromGroupAsync / RemoveFromAllGroupsAsync (group null). */
  removeUserFromGroup(userId, group, { via } = {}) {
    return this.request((ackId) => write.userLeaveGroupWithAck(userId, group, ackId), via);
  }

  /** The legacy UserJoinGroup without an ack (ttl in ext 2). */
  userJoinGroupNoAck(userId, group, { ttl, via } = {}) {
    this.send(write.userJoinGroup(userId, group, { ttl }), via);
  }

  /** The legacy UserLeaveGroup without an ack. */
  userLeaveGroupNoAck(userId, group, { via } = {}) {
    this.send(write.userLeaveGroup(userId, group), via);
  }

  checkUserInGroup(userId, group, { via } = {}) {
    return this.request((ackId) => write.checkUserInGroupWithAck(userId, group, ackId), via);
  }

  groupExists(group, { via } = {}) {
    return this.request((ackId) => write.checkGroupExistenceWithAck(group, ackId), via);
  }

  connectionExists(connectionId, { via } = {}) {
    return this.request((ackId) => write.checkConnectionExistenceWithAck(connectionId, ackId), via);
  }

  userExists(userId, { via } = {}) {
    return this.request((ackId) => write.checkUserExistenceWithAck(userId, ackId), via);
  }

  /** Context.Abort / the Management SDK's CloseConnectionAsync: CloseConnection, no ack. */
  closeConnection(connectionId, reason = "", { via } = {}) {
    this.send(write.closeConnection(connectionId, reason), via);
  }

  /** The app ending one of its own clients: the hub's Close frame, then CloseConnection. */
  closeRelayedClient(client, error) {
    this.sendToClient(client, { type: MessageType.Close, error, allowReconnect: false }, DataMessageType.Close);
    client.service.send(write.closeConnection(client.connectionId, error ?? ""));
  }

  closeConnectionWithAck(connectionId, reason, { via } = {}) {
    return this.request((ackId) => write.closeConnectionWithAck(connectionId, reason, ackId), via);
  }

  closeConnectionsWithAck(reason, excluded = [], { via } = {}) {
    return this.request((ackId) => write.closeConnectionsWithAck(reason, ackId, excluded), via);
  }

  closeUserWithAck(userId, reason, excluded = [], { via } = {}) {
    return this.request((ackId) => write.closeUserConnectionsWithAck(userId, reason, ackId, excluded), via);
  }

  closeGroupWithAck(group, reason, excluded = [], { via } = {}) {
    return this.request((ackId) => write.closeGroupConnectionsWithAck(group, reason, ackId, excluded), via);
  }

  /** GroupMemberQuery: resolves with the Ack (its payload holds the members page). */
  queryGroupMembers(group, max = 100, continuationToken = null, { via } = {}) {
    return this.request((ackId) => write.groupMemberQuery(group, ackId, max, continuationToken), via);
  }

  /** AccessKeyRequest: resolves with the service's AccessKeyResponse. */
  requestAccessKey(token, kid, { via, ms = 10_000 } = {}) {
    const service = this.connection(via);
    const since = service.received.length;
    service.send(write.accessKeyRequest(token, kid));
    return service.waitForMessage(
      (m) => m.type === Type.AccessKeyResponse && service.received.indexOf(m) >= since,
      ms,
      "AccessKeyResponse",
    );
  }

  /**
   * Clients.Client(id).InvokeAsync (.NET 7 client results): ClientInvocation, resolving with the
   * client's result whichever app server the client is bound to.
   */
  invokeClient(connectionId, target, args, { via, timeoutMs = CLIENT_RESULT_TIMEOUT_MS, protocols } = {}) {
    const invocationId = `${this.serverId.slice(-8)}-${randomUUID()}`;
    const message = { type: MessageType.Invocation, invocationId, target, arguments: args };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingResults.delete(invocationId);
        reject(new Error(`no result for client invocation ${invocationId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      this.pendingResults.set(invocationId, {
        connectionId,
        resolve: settle(resolve),
        reject: settle(reject),
      });
      try {
        this.send(
          write.clientInvocation(invocationId, connectionId, this.serverId, frameForAll(message, protocols)),
          via,
        );
      } catch (err) {
        this.pendingResults.delete(invocationId);
        settle(reject)(err);
      }
    });
  }

  settleResult(invocationId, fn, how) {
    const pending = this.pendingResults.get(invocationId);
    this.note(`client result ${invocationId} settled by ${how}${pending ? "" : " (not pending here)"}`);
    if (!pending) return;
    this.pendingResults.delete(invocationId);
    fn(pending);
  }

  /** A client's Completion frame, arriving at the app server that owns the client. */
  onClientResult(client, completion) {
    const id = completion.invocationId;
    const routed = this.routedResults.get(id);
    if (routed) {
      // A router forwards the completion, framed in the client's protocol, under its own id.
      this.routedResults.delete(id);
      client.service.send(
        write.clientCompletion(id, client.connectionId, this.serverId, client.protocol,
          frameFor(client.protocol, completion), { protocol: client.protocol }),
      );
      return;
    }
    if (this.pendingResults.has(id)) {
      // The caller owns the client: an empty ClientCompletion only tells the service to clean up.
      client.service.send(
        write.clientCompletion(id, client.connectionId, this.serverId, client.protocol, new Uint8Array(0), {
          protocol: client.protocol,
        }),
      );
      this.settleResult(id, (p) => completeWith(p, completion), "the client's completion");
    }
  }

  /** A ClientCompletion the service forwarded from the router that owns the client. */
  onClientCompletion(m) {
    if (!m.payload || m.payload.length === 0) return;
    let completion;
    try {
      [completion] = parseFramed(m.protocol, m.payload);
    } catch (err) {
      this.settleResult(m.invocationId, (p) => p.reject(err), "an unreadable completion");
      return;
    }
    this.settleResult(m.invocationId, (p) => completeWith(p, completion), "a routed completion");
  }
}

function completeWith(pending, completion) {
  if (completion.error) pending.reject(new Error(completion.error));
  else pending.resolve(completion.result);
}

/** The fan-out payload map for one invocation of `target`. */
export function payloads(target, args, protocols) {
  return frameForAll({ type: MessageType.Invocation, target, arguments: args }, protocols);
}

function waitForEvent(emitter, event, predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const handler = (value) => {
      if (!predicate(value)) return;
      cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off(event, handler);
    };
    emitter.on(event, handler);
  });
}
