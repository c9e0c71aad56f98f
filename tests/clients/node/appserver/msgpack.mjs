// The two MessagePack shapes @msgpack/msgpack does not produce by itself, built on its encoder
// and decoder: maps with integer keys (the ServiceProtocol extension map, SERVICE-PROTOCOL.md
// §2; the library writes every object key as a string) and maps read as a list of pairs (claims
// may repeat a key, so a JS object would lose some).

import { decodeMulti, encode } from "@msgpack/msgpack";

import { concatBytes } from "./varint.mjs";

/** A map whose keys are written as MessagePack integers, in the given order. */
export class IntKeyMap {
  /** @param {Array<[number, unknown]>} entries */
  constructor(entries = []) {
    this.entries = entries.filter(([, value]) => value !== undefined);
  }
}

function containerHeader(size, fix, code16, code32) {
  if (size < 16) return Uint8Array.of(fix + size);
  if (size < 0x10000) return Uint8Array.of(code16, size >> 8, size & 0xff);
  return Uint8Array.of(code32, size >>> 24, (size >> 16) & 0xff, (size >> 8) & 0xff, size & 0xff);
}

const arrayHeader = (size) => containerHeader(size, 0x90, 0xdc, 0xdd);
const mapHeader = (size) => containerHeader(size, 0x80, 0xde, 0xdf);

function encodeValue(value) {
  if (value instanceof IntKeyMap) {
    return concatBytes([
      mapHeader(value.entries.length),
      ...value.entries.flatMap(([k, v]) => [encode(k), encodeValue(v)]),
    ]);
  }
  return encode(value);
}

/** Encodes a top-level array whose elements may include IntKeyMaps. */
export function encodeArray(elements) {
  return concatBytes([arrayHeader(elements.length), ...elements.map(encodeValue)]);
}

function mapHeaderAt(bytes, offset) {
  const b = bytes[offset];
  if (b >= 0x80 && b <= 0x8f) return { size: b - 0x80, bytes: 1 };
  if (b === 0xde) return { size: (bytes[offset + 1] << 8) | bytes[offset + 2], bytes: 3 };
  if (b === 0xdf) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4);
    return { size: view.getUint32(0), bytes: 5 };
  }
  if (b === 0xc0) return { size: 0, bytes: 1, nil: true };
  throw new Error(`expected a MessagePack map at byte ${offset}, found 0x${b.toString(16)}`);
}

/**
 * Reads element `index` of the top-level array `bytes` as a list of [key, value] pairs (null
 * for nil). The elements before it are located by re-encoding their decoded values, which is
 * exact for the smallest encodings the ServiceProtocol writers use; a mismatch throws rather
 * than guessing.
 */
export function readMapPairs(bytes, index) {
  const elements = decodeMulti(bytes.subarray(arrayHeaderLength(bytes)));
  let offset = arrayHeaderLength(bytes);
  for (let i = 0; i < index; i++) {
    const { value } = elements.next();
    const encoded = encodeValue(value);
    const actual = bytes.subarray(offset, offset + encoded.length);
    if (!actual.every((b, k) => b === encoded[k])) {
      throw new Error(`element ${i} is not in its smallest MessagePack encoding`);
    }
    offset += encoded.length;
  }
  const header = mapHeaderAt(bytes, offset);
  if (header.nil) return null;
  const values = decodeMulti(bytes.subarray(offset + header.bytes));
  const pairs = [];
  for (let i = 0; i < header.size; i++) {
    pairs.push([values.next().value, values.next().value]);
  }
  return pairs;
}

function arrayHeaderLength(bytes) {
  const b = bytes[0];
  if (b >= 0x90 && b <= 0x9f) return 1;
  if (b === 0xdc) return 3;
  if (b === 0xdd) return 5;
  throw new Error(`a ServiceProtocol message must be a MessagePack array, found 0x${b.toString(16)}`);
}
