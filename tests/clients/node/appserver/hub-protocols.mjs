// The SignalR hub protocols as the app server's side of a relayed client sees them, through
// @microsoft/signalr's own JsonHubProtocol and MessagePackHubProtocol: reading the client's
// handshake request, reassembling hub messages from bytes that arrive in arbitrary pieces, and
// framing outgoing messages for one protocol or for all of them (the fan-out payload maps).

import { JsonHubProtocol, MessageType, NullLogger } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { encode } from "@msgpack/msgpack";

import { FrameReader, concatBytes, frame } from "./varint.mjs";

const RECORD_SEPARATOR = 0x1e;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The protocols this app server's hub speaks, by the name the ServiceProtocol uses. */
export const PROTOCOLS = Object.freeze({
  json: new JsonHubProtocol(),
  messagepack: new MessagePackHubProtocol(),
});

function protocolNamed(name) {
  const protocol = PROTOCOLS[String(name).toLowerCase()];
  if (!protocol) throw new Error(`this hub does not speak the "${name}" protocol`);
  return protocol;
}

/** One hub message framed for `protocolName`, as bytes. */
export function frameFor(protocolName, message) {
  const protocol = protocolNamed(protocolName);
  if (protocol.name === "messagepack" && message.type === MessageType.Close) {
    // The client library's writer drops a Close's error (it only ever sends [7, nil]); a
    // server writes [7, error, allowReconnect] as ASP.NET Core does.
    return frame(encode([MessageType.Close, message.error ?? null, message.allowReconnect ?? false]));
  }
  const written = protocol.writeMessage(message);
  return typeof written === "string" ? utf8.encode(written) : new Uint8Array(written);
}

/** `{json: bytes, messagepack: bytes}` for one hub message: a fan-out payload map. */
export function frameForAll(message, names = Object.keys(PROTOCOLS)) {
  return Object.fromEntries(names.map((name) => [name, frameFor(name, message)]));
}

/** The handshake response an app server's hub writes (`{}` or `{"error":..}` + 0x1e). */
export function handshakeResponse(error) {
  return utf8.encode(`${JSON.stringify(error ? { error } : {})}\u001e`);
}

/**
 * Reads a relayed client's byte stream: first its JSON handshake request, then hub messages in
 * the negotiated protocol. `push(bytes)` returns `{handshake, messages}`, `handshake` set once.
 */
export class ClientStreamReader {
  constructor() {
    this.handshakeBytes = new Uint8Array(0);
    this.handshake = null;
    this.protocol = null;
    this.jsonText = "";
    this.frames = new FrameReader();
  }

  push(bytes) {
    let handshake = null;
    let rest = bytes;
    if (!this.handshake) {
      this.handshakeBytes = concatBytes([this.handshakeBytes, bytes]);
      const end = this.handshakeBytes.indexOf(RECORD_SEPARATOR);
      if (end < 0) return { handshake: null, messages: [] };
      handshake = JSON.parse(fromUtf8.decode(this.handshakeBytes.subarray(0, end)));
      this.handshake = handshake;
      this.protocol = PROTOCOLS[String(handshake.protocol).toLowerCase()] ?? null;
      rest = this.handshakeBytes.subarray(end + 1);
      this.handshakeBytes = new Uint8Array(0);
    }
    return { handshake, messages: this.protocol ? this.readMessages(rest) : [] };
  }

  readMessages(bytes) {
    if (this.protocol.name === "json") {
      this.jsonText += fromUtf8.decode(bytes, { stream: true });
      const end = this.jsonText.lastIndexOf(String.fromCharCode(RECORD_SEPARATOR));
      if (end < 0) return [];
      const complete = this.jsonText.slice(0, end + 1);
      this.jsonText = this.jsonText.slice(end + 1);
      return this.protocol.parseMessages(complete, NullLogger.instance);
    }
    const bodies = this.frames.push(bytes);
    if (bodies.length === 0) return [];
    const framed = concatBytes(bodies.map(frame));
    return this.protocol.parseMessages(framed.buffer, NullLogger.instance).filter(Boolean);
  }
}

/** Parses a framed hub message (e.g. a routed ClientCompletion's payload) in `protocolName`. */
export function parseFramed(protocolName, bytes) {
  const protocol = protocolNamed(protocolName);
  const input =
    protocol.name === "json"
      ? fromUtf8.decode(bytes)
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return protocol.parseMessages(input, NullLogger.instance).filter(Boolean);
}
