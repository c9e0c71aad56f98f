// ServiceProtocol messages as an app server writes and reads them, from the layouts of
// SERVICE-PROTOCOL.md §2 (and vectors.json for 30–33 and 40). Writers produce the current
// layouts; `parse` turns what the service sends into plain objects named after the fields.

import { decode } from "@msgpack/msgpack";

import { IntKeyMap, encodeArray, readMapPairs } from "./msgpack.mjs";
import { frame } from "./varint.mjs";

export const Type = Object.freeze({
  HandshakeRequest: 1,
  HandshakeResponse: 2,
  Ping: 3,
  OpenConnection: 4,
  CloseConnection: 5,
  ConnectionData: 6,
  MultiConnectionData: 7,
  UserData: 8,
  MultiUserData: 9,
  BroadcastData: 10,
  JoinGroup: 11,
  LeaveGroup: 12,
  GroupBroadcastData: 13,
  MultiGroupBroadcastData: 14,
  ServiceError: 15,
  UserJoinGroup: 16,
  UserLeaveGroup: 17,
  JoinGroupWithAck: 18,
  LeaveGroupWithAck: 19,
  Ack: 20,
  CheckUserInGroupWithAck: 21,
  ServiceEvent: 22,
  CheckGroupExistenceWithAck: 23,
  CheckConnectionExistenceWithAck: 24,
  CheckUserExistenceWithAck: 25,
  UserJoinGroupWithAck: 26,
  UserLeaveGroupWithAck: 27,
  AccessKeyRequest: 28,
  AccessKeyResponse: 29,
  CloseConnectionWithAck: 30,
  CloseConnectionsWithAck: 31,
  CloseUserConnectionsWithAck: 32,
  CloseGroupConnectionsWithAck: 33,
  ClientInvocation: 34,
  ClientCompletion: 35,
  ErrorCompletion: 36,
  ServiceMapping: 37,
  ConnectionReconnect: 38,
  ConnectionFlowControl: 39,
  GroupMemberQuery: 40,
});

export const ConnectionType = Object.freeze({ Default: 0, OnDemand: 1, Weak: 2 });
export const AckStatus = Object.freeze({ Ok: 1, NotFound: 2, Timeout: 3, InternalServerError: 4 });
export const DataMessageType = Object.freeze({
  Unknown: 0,
  Handshake: 1,
  Invocation: 2,
  Other: 3,
  Close: 4,
});
/** Extension map keys. */
export const Ext = Object.freeze({
  TracingId: 1,
  Ttl: 2,
  Protocol: 3,
  Filter: 4,
  DataMessageType: 5,
  IsPartial: 6,
});

/** An extension map from `{tracingId, ttl, protocol, filter, dataMessageType, isPartial}`. */
export function ext({ tracingId, ttl, protocol, filter, dataMessageType, isPartial } = {}) {
  return new IntKeyMap([
    [Ext.TracingId, tracingId],
    [Ext.Ttl, ttl],
    [Ext.Protocol, protocol],
    [Ext.Filter, filter],
    [Ext.DataMessageType, dataMessageType],
    [Ext.IsPartial, isPartial],
  ]);
}

/** A whole framed message (varint prefix + array) ready for the socket. */
export const framed = (elements) => frame(encodeArray(elements));

/** Writers for every message an app server or the Management SDK sends. */
export const write = {
  handshakeRequest: ({
    version = 1,
    connectionType = ConnectionType.Default,
    target = "",
    migrationLevel = 0,
    allowStatefulReconnects = false,
    extension = {},
  } = {}) =>
    framed([
      Type.HandshakeRequest,
      version,
      connectionType,
      target,
      migrationLevel,
      ext(extension),
      allowStatefulReconnects,
    ]),
  ping: (...pairs) => framed([Type.Ping, ...pairs]),
  closeConnection: (connectionId, error = "", headers = {}, extension = {}) =>
    framed([Type.CloseConnection, connectionId, error, headers, ext(extension)]),
  connectionData: (connectionId, payload, extension = {}) =>
    framed([Type.ConnectionData, connectionId, payload, ext(extension)]),
  multiConnectionData: (connectionIds, payloads, extension = {}) =>
    framed([Type.MultiConnectionData, connectionIds, payloads, ext(extension)]),
  userData: (userId, payloads, extension = {}) =>
    framed([Type.UserData, userId, payloads, ext(extension)]),
  multiUserData: (userIds, payloads, extension = {}) =>
    framed([Type.MultiUserData, userIds, payloads, ext(extension)]),
  broadcastData: (excludedIds, payloads, extension = {}) =>
    framed([Type.BroadcastData, excludedIds, payloads, ext(extension)]),
  joinGroup: (connectionId, group, extension = {}) =>
    framed([Type.JoinGroup, connectionId, group, ext(extension)]),
  leaveGroup: (connectionId, group, extension = {}) =>
    framed([Type.LeaveGroup, connectionId, group, ext(extension)]),
  groupBroadcastData: (
    group,
    payloads,
    { excludedConnectionIds = [], excludedUserIds = [], callerUserId = null, extension = {} } = {},
  ) =>
    framed([
      Type.GroupBroadcastData,
      group,
      excludedConnectionIds,
      payloads,
      ext(extension),
      excludedUserIds,
      callerUserId,
    ]),
  multiGroupBroadcastData: (groups, payloads, extension = {}) =>
    framed([Type.MultiGroupBroadcastData, groups, payloads, ext(extension)]),
  userJoinGroup: (userId, group, extension = {}) =>
    framed([Type.UserJoinGroup, userId, group, ext(extension)]),
  userLeaveGroup: (userId, group, extension = {}) =>
    framed([Type.UserLeaveGroup, userId, group, ext(extension)]),
  joinGroupWithAck: (connectionId, group, ackId, extension = {}) =>
    framed([Type.JoinGroupWithAck, connectionId, group, ackId, ext(extension)]),
  leaveGroupWithAck: (connectionId, group, ackId, extension = {}) =>
    framed([Type.LeaveGroupWithAck, connectionId, group, ackId, ext(extension)]),
  checkUserInGroupWithAck: (userId, group, ackId, extension = {}) =>
    framed([Type.CheckUserInGroupWithAck, userId, group, ackId, ext(extension)]),
  checkGroupExistenceWithAck: (group, ackId, extension = {}) =>
    framed([Type.CheckGroupExistenceWithAck, group, ackId, ext(extension)]),
  checkConnectionExistenceWithAck: (connectionId, ackId, extension = {}) =>
    framed([Type.CheckConnectionExistenceWithAck, connectionId, ackId, ext(extension)]),
  checkUserExistenceWithAck: (userId, ackId, extension = {}) =>
    framed([Type.CheckUserExistenceWithAck, userId, ackId, ext(extension)]),
  userJoinGroupWithAck: (userId, group, ackId, extension = {}) =>
    framed([Type.UserJoinGroupWithAck, userId, group, ackId, ext(extension)]),
  userLeaveGroupWithAck: (userId, group, ackId, extension = {}) =>
    framed([Type.UserLeaveGroupWithAck, userId, group, ackId, ext(extension)]),
  accessKeyRequest: (token, kid, extension = {}) =>
    framed([Type.AccessKeyRequest, token, kid, ext(extension)]),
  closeConnectionWithAck: (connectionId, reason, ackId, extension = {}) =>
    framed([Type.CloseConnectionWithAck, connectionId, reason, ackId, ext(extension)]),
  closeConnectionsWithAck: (reason, ackId, excludedList = [], extension = {}) =>
    framed([Type.CloseConnectionsWithAck, reason, ackId, excludedList, ext(extension)]),
  closeUserConnectionsWithAck: (userId, reason, ackId, excludedList = [], extension = {}) =>
    framed([Type.CloseUserConnectionsWithAck, userId, reason, ackId, excludedList, ext(extension)]),
  closeGroupConnectionsWithAck: (group, reason, ackId, excludedList = [], extension = {}) =>
    framed([Type.CloseGroupConnectionsWithAck, group, reason, ackId, excludedList, ext(extension)]),
  clientInvocation: (invocationId, connectionId, callerServerId, payloads, extension = {}) =>
    framed([Type.ClientInvocation, invocationId, connectionId, callerServerId, payloads, ext(extension)]),
  clientCompletion: (invocationId, connectionId, callerServerId, protocol, payload, extension = {}) =>
    framed([
      Type.ClientCompletion,
      invocationId,
      connectionId,
      callerServerId,
      protocol,
      payload,
      ext(extension),
    ]),
  groupMemberQuery: (group, ackId, max, continuationToken = null, extension = {}) =>
    framed([Type.GroupMemberQuery, ext(extension), group, ackId, max, continuationToken]),
};

const parsers = {
  [Type.HandshakeResponse]: (m) => ({ error: m[1], ext: m[2] ?? {}, connectionId: m[3] }),
  [Type.Ping]: (m) => ({ pairs: m.slice(1) }),
  [Type.OpenConnection]: (m, body) => ({
    connectionId: m[1],
    claims: readMapPairs(body, 2) ?? [],
    headers: m[3] ?? {},
    queryString: m[4],
    ext: m[5] ?? {},
  }),
  [Type.CloseConnection]: (m) => ({
    connectionId: m[1],
    error: m[2],
    headers: m[3] ?? {},
    ext: m[4] ?? {},
  }),
  [Type.ConnectionData]: (m) => ({ connectionId: m[1], payload: m[2], ext: m[3] ?? {} }),
  [Type.ServiceError]: (m) => ({ error: m[1] }),
  [Type.Ack]: (m) => ({
    ackId: m[1],
    status: m[2],
    message: m[3],
    ext: m[4] ?? {},
    payload: m[5] ?? null,
  }),
  [Type.ServiceEvent]: (m) => ({
    objectType: m[1],
    id: m[2],
    kind: m[3],
    message: m[4],
    ext: m[5] ?? {},
  }),
  [Type.AccessKeyResponse]: (m) => ({
    kid: m[1],
    key: m[2],
    errorType: m[3],
    errorMessage: m[4],
    ext: m[5] ?? {},
  }),
  [Type.ClientInvocation]: (m) => ({
    invocationId: m[1],
    connectionId: m[2],
    callerServerId: m[3],
    payloads: m[4] ?? {},
    ext: m[5] ?? {},
  }),
  [Type.ClientCompletion]: (m) => ({
    invocationId: m[1],
    connectionId: m[2],
    callerServerId: m[3],
    protocol: m[4],
    payload: m[5],
    ext: m[6] ?? {},
  }),
  [Type.ErrorCompletion]: (m) => ({
    invocationId: m[1],
    connectionId: m[2],
    callerServerId: m[3],
    error: m[4],
    ext: m[5] ?? {},
  }),
  [Type.ServiceMapping]: (m) => ({
    invocationId: m[1],
    connectionId: m[2],
    instanceId: m[3],
    ext: m[4] ?? {},
  }),
  [Type.ConnectionReconnect]: (m) => ({ connectionId: m[1], ext: m[2] ?? {} }),
  [Type.ConnectionFlowControl]: (m) => ({
    connectionId: m[1],
    connectionType: m[2],
    operation: m[3],
    ext: m[4] ?? {},
  }),
};

/**
 * Parses one unframed message from the service into `{type, ...fields}`; types this app server
 * does not know come back as `{type, unknown: true, fields}` (the SDK ignores them).
 */
export function parse(body) {
  const m = decode(body);
  if (!Array.isArray(m) || m.length === 0 || !Number.isInteger(m[0])) {
    throw new Error("a ServiceProtocol message must be an array starting with its type id");
  }
  const parser = parsers[m[0]];
  if (!parser) return { type: m[0], unknown: true, fields: m.slice(1) };
  return { type: m[0], ...parser(m, body) };
}

/** The name of a message type id, for logs and assertion messages. */
export const typeName = (id) => Object.keys(Type).find((k) => Type[k] === id) ?? `type ${id}`;
