// The app-server simulator (./appserver) checked on its own, before it is trusted as evidence:
// its writers reproduce Microsoft's golden vectors byte for byte (ServiceProtocolFacts.cs, as
// transcribed in the project's reference vectors.json), its stream reader reassembles messages
// split at every byte offset, and its OpenConnection reader keeps repeated claim types.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { FrameReader, Type, frame, parse, write } from "./appserver/index.mjs";
import { concatBytes } from "./appserver/varint.mjs";

const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const unframed = (bytes) => {
  const bodies = new FrameReader().push(bytes);
  assert.equal(bodies.length, 1);
  return Buffer.from(bodies[0]).toString("hex");
};
const json = Uint8Array.of(6, 7, 1, 2, 3, 4, 5);
const msgpack = Uint8Array.of(7, 1, 2, 3, 4, 5, 6);
const payloads = { json, messagepack: msgpack };

// [vector name in vectors.json, what the simulator writes, the vector's unframed bytes]
const VECTORS = [
  ["HandshakeRequest", write.handshakeRequest(), "97010100a00080c2"],
  [
    "HandshakeRequestWithProperty",
    write.handshakeRequest({ connectionType: 1, target: "abc" }),
    "97010101a36162630080c2",
  ],
  [
    "HandshakeRequestWithStatefulReconnects",
    write.handshakeRequest({ allowStatefulReconnects: true }),
    "97010100a00080c3",
  ],
  ["Ping+", write.ping("a", "b"), "9303a161a162"],
  ["CloseConnectionWithError", write.closeConnection("conn4", "Error message."), "9505a5636f6e6e34ae4572726f72206d6573736167652e8080"],
  [
    "ConnectionData_WithTypeAndPartial",
    write.connectionData("conn6", Uint8Array.of(1, 2, 3, 4, 5, 6, 7), { dataMessageType: 2, isPartial: true }),
    "9406a5636f6e6e36c4070102030405060782050206c3",
  ],
  [
    "UserData",
    write.userData("user1", payloads),
    "9408a5757365723182a46a736f6ec40706070102030405ab6d6573736167657061636bc4070701020304050680",
  ],
  [
    "MultiUserData",
    write.multiUserData(["user1", "user2"], payloads),
    "940992a57573657231a5757365723282a46a736f6ec40706070102030405ab6d6573736167657061636bc4070701020304050680",
  ],
  [
    "BroadcastExcept",
    write.broadcastData(["conn7", "conn8", "conn9"], payloads),
    "940a93a5636f6e6e37a5636f6e6e38a5636f6e6e3982a46a736f6ec40706070102030405ab6d6573736167657061636bc4070701020304050680",
  ],
  [
    "GroupBroadcastExceptUser",
    write.groupBroadcastData("group3", payloads, {
      excludedConnectionIds: ["conn12", "conn13"],
      excludedUserIds: ["user1", "user2"],
      callerUserId: "user3",
    }),
    "970da667726f75703392a6636f6e6e3132a6636f6e6e313382a46a736f6ec40706070102030405ab6d6573736167657061636bc407070102030405068092a57573657231a57573657232a57573657233",
  ],
  [
    "GroupBroadcastWithTracingId",
    write.groupBroadcastData("group3", { json, messagepack: Uint8Array.of(7, 1, 2, 3, 4, 5, 6) }, {
      extension: { tracingId: 1234 },
    }),
    "970da667726f7570339082a46a736f6ec40706070102030405ab6d6573736167657061636bc407070102030405068101cd04d290c0",
  ],
  ["UserJoinGroupWithTtl", write.userJoinGroup("conn10", "group1", { ttl: 100 }), "9410a6636f6e6e3130a667726f757031810264"],
  ["JoinGroupWithAck", write.joinGroupWithAck("conn14", "group1", 1), "9512a6636f6e6e3134a667726f7570310180"],
  [
    "UserJoinGroupWithAckWithTracingId",
    write.userJoinGroupWithAck("conn14", "group1", 1, { tracingId: 1234, ttl: 666 }),
    "951aa6636f6e6e3134a667726f757031018201cd04d202cd029a",
  ],
  [
    "CheckUserInGroupWithAckWithMessage",
    write.checkUserInGroupWithAck("user", "group", 3, { tracingId: 1234 }),
    "9515a475736572a567726f7570038101cd04d2",
  ],
  ["CheckUserExistenceWithAckMessage", write.checkUserExistenceWithAck("uid", 4, { tracingId: 23 }), "9419a375696404810117"],
  [
    "CloseUserConnectionsWithAckMessage_WithOptional",
    write.closeUserConnectionsWithAck("conn1", "detail", 1, [], { tracingId: 1 }),
    "9620a5636f6e6e31a664657461696c0190810101",
  ],
  [
    "CloseConnectionsWithAckMessage_WithOptional",
    write.closeConnectionsWithAck(null, 1, ["connId"], { tracingId: 1 }),
    "951fc00191a6636f6e6e4964810101",
  ],
  [
    "ClientCompletionMessage",
    write.clientCompletion("invocationId", "conn1", "server1", "json", Uint8Array.of(2, 3, 4, 5, 6, 7, 1), {
      protocol: "json",
    }),
    "9723ac696e766f636174696f6e4964a5636f6e6e31a773657276657231a46a736f6ec407020304050607018103a46a736f6e",
  ],
  [
    "GroupMemberQueryMessage",
    write.groupMemberQuery("group", 1, 10, "token", { tracingId: 1234 }),
    "96288101cd04d2a567726f7570010aa5746f6b656e",
  ],
  ["AccessKeyRequestMessageWithKid", write.accessKeyRequest("token", "kid"), "941ca5746f6b656ea36b696480"],
];

describe("the app-server simulator itself", () => {
  for (const [name, written, expected] of VECTORS) {
    test(`writes the ${name} vector byte for byte`, () => {
      assert.equal(unframed(written), expected);
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
