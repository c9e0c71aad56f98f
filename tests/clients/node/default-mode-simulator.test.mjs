// The app-server simulator (./appserver) checked on its own, before it is trusted as evidence:
// its writers reproduce every round-trip golden vector of a message an app server or the
// Management SDK sends (Microsoft's ServiceProtocolFacts.cs, tests/fixtures/service-protocol),
// its reader gets the fields of every vector of a message the service sends, its stream reader
// reassembles messages split at every byte offset, and OpenConnection claims keep repeated types.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { FrameReader, Type, frame, parse, write } from "./appserver/index.mjs";
import { concatBytes } from "./appserver/varint.mjs";
import { REPO_ROOT } from "./harness.mjs";

const VECTORS = JSON.parse(
  readFileSync(path.join(REPO_ROOT, "tests", "fixtures", "service-protocol", "vectors.json"), "utf8"),
).vectors;

const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const fromBase64 = (s) => Uint8Array.from(Buffer.from(s, "base64"));
const unframed = (bytes) => {
  const bodies = new FrameReader().push(bytes);
  assert.equal(bodies.length, 1);
  return Buffer.from(bodies[0]).toString("base64");
};
const payloadsOf = (f) =>
  Object.fromEntries(Object.entries(f.payloads ?? {}).map(([k, v]) => [k, fromBase64(v)]));
const extOf = (f) => ({
  tracingId: f.tracingId ?? undefined,
  ttl: f.ttl ?? undefined,
  filter: f.filter ?? undefined,
  protocol: f.protocol ?? undefined,
  // The SDK writes no key for type Unknown (0) or for isPartial false.
  dataMessageType: f.type ? f.type : undefined,
  isPartial: f.isPartial ? true : undefined,
});

/** The simulator's writer for each message type it sends, fed a vector's fields. */
const WRITERS = {
  [Type.HandshakeRequest]: (f) =>
    write.handshakeRequest({
      version: f.version,
      connectionType: f.connectionType,
      target: f.target ?? "",
      migrationLevel: f.migrationLevel,
      allowStatefulReconnects: f.allowStatefulReconnects,
    }),
  [Type.Ping]: (f) => write.ping(...f.messages),
  [Type.CloseConnection]: (f) => write.closeConnection(f.connectionId, f.errorMessage, f.headers, extOf(f)),
  [Type.ConnectionData]: (f) => write.connectionData(f.connectionId, fromBase64(f.payload), extOf(f)),
  [Type.MultiConnectionData]: (f) => write.multiConnectionData(f.connectionList, payloadsOf(f), extOf(f)),
  [Type.UserData]: (f) => write.userData(f.userId, payloadsOf(f), extOf(f)),
  [Type.MultiUserData]: (f) => write.multiUserData(f.userList, payloadsOf(f), extOf(f)),
  [Type.BroadcastData]: (f) => write.broadcastData(f.excludedList ?? [], payloadsOf(f), extOf(f)),
  [Type.JoinGroup]: (f) => write.joinGroup(f.connectionId, f.groupName, extOf(f)),
  [Type.LeaveGroup]: (f) => write.leaveGroup(f.connectionId, f.groupName, extOf(f)),
  [Type.GroupBroadcastData]: (f) =>
    write.groupBroadcastData(f.groupName, payloadsOf(f), {
      excludedConnectionIds: f.excludedList ?? [],
      excludedUserIds: f.excludedUserList ?? [],
      callerUserId: f.callerUserId,
      extension: extOf(f),
    }),
  [Type.MultiGroupBroadcastData]: (f) => write.multiGroupBroadcastData(f.groupList, payloadsOf(f), extOf(f)),
  [Type.UserJoinGroup]: (f) => write.userJoinGroup(f.userId, f.groupName, extOf(f)),
  [Type.UserLeaveGroup]: (f) => write.userLeaveGroup(f.userId, f.groupName, extOf(f)),
  [Type.JoinGroupWithAck]: (f) => write.joinGroupWithAck(f.connectionId, f.groupName, f.ackId, extOf(f)),
  [Type.LeaveGroupWithAck]: (f) => write.leaveGroupWithAck(f.connectionId, f.groupName, f.ackId, extOf(f)),
  [Type.CheckUserInGroupWithAck]: (f) => write.checkUserInGroupWithAck(f.userId, f.groupName, f.ackId, extOf(f)),
  [Type.CheckGroupExistenceWithAck]: (f) => write.checkGroupExistenceWithAck(f.groupName, f.ackId, extOf(f)),
  [Type.CheckConnectionExistenceWithAck]: (f) =>
    write.checkConnectionExistenceWithAck(f.connectionId, f.ackId, extOf(f)),
  [Type.CheckUserExistenceWithAck]: (f) => write.checkUserExistenceWithAck(f.userId, f.ackId, extOf(f)),
  [Type.UserJoinGroupWithAck]: (f) => write.userJoinGroupWithAck(f.userId, f.groupName, f.ackId, extOf(f)),
  [Type.UserLeaveGroupWithAck]: (f) => write.userLeaveGroupWithAck(f.userId, f.groupName, f.ackId, extOf(f)),
  [Type.AccessKeyRequest]: (f) => write.accessKeyRequest(f.token, f.kid, extOf(f)),
  [Type.CloseConnectionWithAck]: (f) => write.closeConnectionWithAck(f.connectionId, f.reason, f.ackId, extOf(f)),
  [Type.CloseConnectionsWithAck]: (f) =>
    write.closeConnectionsWithAck(f.reason, f.ackId, f.excludedList ?? [], extOf(f)),
  [Type.CloseUserConnectionsWithAck]: (f) =>
    write.closeUserConnectionsWithAck(f.userId, f.reason, f.ackId, f.excludedList ?? [], extOf(f)),
  [Type.CloseGroupConnectionsWithAck]: (f) =>
    write.closeGroupConnectionsWithAck(f.groupName, f.reason, f.ackId, f.excludedList ?? [], extOf(f)),
  [Type.ClientInvocation]: (f) =>
    write.clientInvocation(f.invocationId, f.connectionId, f.callerServerId, payloadsOf(f), extOf(f)),
  [Type.ClientCompletion]: (f) =>
    write.clientCompletion(f.invocationId, f.connectionId, f.callerServerId, f.protocol, fromBase64(f.payload), {
      ...extOf(f),
      protocol: f.protocol,
    }),
  [Type.GroupMemberQuery]: (f) => write.groupMemberQuery(f.groupName, f.ackId, f.max, f.continuationToken, extOf(f)),
};

/** For each message type the service sends: the fields the simulator reads, as in the vector. */
const READS = {
  [Type.HandshakeResponse]: (m, f) => [m.error ?? "", f.errorMessage ?? ""],
  [Type.OpenConnection]: (m, f) => [
    [m.connectionId, m.claims, m.queryString, m.ext[3] ?? null],
    [f.connectionId, f.claims ?? [], f.queryString ?? "", f.protocol ?? null],
  ],
  [Type.CloseConnection]: (m, f) => [[m.connectionId, m.error], [f.connectionId, f.errorMessage]],
  [Type.ConnectionData]: (m, f) => [Buffer.from(m.payload).toString("base64"), f.payload],
  [Type.ServiceError]: (m, f) => [m.error, f.errorMessage],
  [Type.Ack]: (m, f) => [[m.ackId, m.status, m.message], [f.ackId, f.status, f.message]],
  [Type.ServiceEvent]: (m, f) => [[m.objectType, m.id, m.kind, m.message], [f.type, f.id, f.kind, f.message]],
  [Type.AccessKeyResponse]: (m, f) => [[m.kid, m.key], [f.kid, f.accessKey]],
  [Type.ErrorCompletion]: (m, f) => [[m.invocationId, m.connectionId, m.error], [f.invocationId, f.connectionId, f.error]],
  [Type.ServiceMapping]: (m, f) => [[m.invocationId, m.instanceId], [f.invocationId, f.instanceId]],
  [Type.ConnectionReconnect]: (m, f) => [m.connectionId, f.connectionId],
};

describe("the app-server simulator itself", () => {
  const roundTrips = VECTORS.filter((v) => v.kind === "roundtrip");
  const written = roundTrips.filter((v) => WRITERS[v.messageTypeId]);
  const read = roundTrips.filter((v) => READS[v.messageTypeId]);

  test("covers every message type an app server sends and the service answers with", () => {
    const sent = [1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 21, 23, 24, 25, 26, 27, 28, 30, 31, 32, 33, 34, 35, 40];
    assert.deepEqual([...new Set(written.map((v) => v.messageTypeId))].sort((a, b) => a - b), sent);
    assert.ok(read.length >= 15, `${read.length} service-to-server vectors read`);
  });

  for (const v of written) {
    test(`writes the ${v.name} vector byte for byte`, () => {
      assert.equal(unframed(WRITERS[v.messageTypeId](v.fields)), v.binary);
    });
  }

  for (const v of read) {
    test(`reads the ${v.name} vector`, () => {
      const message = parse(fromBase64(v.binary));
      assert.equal(message.type, v.messageTypeId);
      const [actual, expected] = READS[v.messageTypeId](message, v.fields);
      assert.deepEqual(actual, expected);
    });
  }

  test("reads a stream of messages split at every byte offset", () => {
    const messages = [
      write.ping(),
      write.connectionData("c", new Uint8Array(300).fill(7)),
      write.ping("echo", "x"),
    ];
    const stream = concatBytes(messages);
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const bodies = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      assert.deepEqual(
        bodies.map((b) => Buffer.from(frame(b)).toString("hex")),
        messages.map((m) => Buffer.from(m).toString("hex")),
        `cut at ${cut}`,
      );
      assert.equal(reader.buffered, 0);
    }
  });

  test("reads OpenConnection claims as pairs, keeping a repeated type", () => {
    // OpenConnectionWithClaims, with a second role claim of the same type spliced in by hand.
    const nameIdentifier = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
    const body = hex(
      "9604a5636f6e6e3283d944687474703a2f2f736368656d61732e786d6c736f61702e6f72672f77732f323030352f30352f6964656e746974792f636c61696d732f6e616d656964656e746966696572a57573657231" +
        "a4726f6c65a161a4726f6c65a16280a08103a46a736f6e",
    );
    const open = parse(body);
    assert.equal(open.type, Type.OpenConnection);
    assert.equal(open.connectionId, "conn2");
    assert.deepEqual(open.claims, [
      [nameIdentifier, "user1"],
      ["role", "a"],
      ["role", "b"],
    ]);
    assert.equal(open.ext[3], "json");
  });
});
