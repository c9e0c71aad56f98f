// Varint length-prefix framing (SignalR's BinaryMessageFormatter): 7-bit groups, little-endian,
// at most 5 bytes. The ServiceProtocol frames every message this way, and so does the
// MessagePack hub protocol. WebSocket frame boundaries carry no meaning (SERVICE-PROTOCOL.md §1),
// so FrameReader reads a byte stream: one push may hold half a message or several.

const MAX_PREFIX_BYTES = 5;
const MAX_MESSAGE_BYTES = 0x7fffffff;

/** The varint prefix for a message of `length` bytes. */
export function varint(length) {
  if (!Number.isInteger(length) || length < 0 || length > MAX_MESSAGE_BYTES) {
    throw new RangeError(`cannot frame a message of ${length} bytes`);
  }
  const out = [];
  let rest = length;
  do {
    let byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return Uint8Array.from(out);
}

/** `body` with its varint length prefix. */
export function frame(body) {
  const prefix = varint(body.length);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/** Concatenates byte arrays. */
export function concatBytes(parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Reassembles varint-framed messages from arbitrary chunks. `push` returns the bodies of every
 * message completed by this chunk (possibly none), in order.
 */
export class FrameReader {
  constructor(maxMessageBytes = 16 * 1024 * 1024) {
    this.maxMessageBytes = maxMessageBytes;
    this.pending = new Uint8Array(0);
  }

  push(chunk) {
    this.pending = this.pending.length ? concatBytes([this.pending, chunk]) : Uint8Array.from(chunk);
    const bodies = [];
    let offset = 0;
    for (;;) {
      const header = readPrefix(this.pending, offset);
      if (!header) break;
      if (header.length > this.maxMessageBytes) {
        throw new RangeError(`a framed message announces ${header.length} bytes, over the limit`);
      }
      const start = offset + header.prefixBytes;
      if (this.pending.length - start < header.length) break;
      bodies.push(this.pending.subarray(start, start + header.length));
      offset = start + header.length;
    }
    this.pending = this.pending.subarray(offset);
    return bodies;
  }

  /** Bytes received that do not yet form a whole message. */
  get buffered() {
    return this.pending.length;
  }
}

function readPrefix(bytes, offset) {
  let length = 0;
  for (let i = 0; i < MAX_PREFIX_BYTES; i++) {
    if (offset + i >= bytes.length) return null;
    const byte = bytes[offset + i];
    length += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { length, prefixBytes: i + 1 };
  }
  throw new RangeError("a varint length prefix runs over 5 bytes");
}
