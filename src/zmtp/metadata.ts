// Metadata properties (READY, and PLAIN/CURVE INITIATE): name-length(1) name value-length(4) value.
// Names are case-insensitive on receipt; we always send the canonical case because libzmq compares
// "Socket-Type" and "Identity" case-sensitively.

import { ascii, asciiText, readU32, writeU32 } from "./bytes.js";
import { ZmtpError, protocolError } from "./errors.js";

export type Property = readonly [name: string, value: Uint8Array];

/** Peer metadata keyed by lower-cased property name. */
export type Metadata = Map<string, Uint8Array>;

const PROPERTY_NAME = /^[A-Za-z0-9_.+-]{1,255}$/;

export function encodeMetadata(props: readonly Property[]): Uint8Array {
  let size = 0;
  const names = props.map(([name]) => {
    if (!PROPERTY_NAME.test(name)) throw new TypeError(`invalid metadata property name ${JSON.stringify(name)}`);
    return ascii(name);
  });
  props.forEach(([, value], i) => (size += 1 + names[i]!.length + 4 + value.length));
  const out = new Uint8Array(size);
  let off = 0;
  props.forEach(([, value], i) => {
    const name = names[i]!;
    out[off++] = name.length;
    out.set(name, off);
    off += name.length;
    writeU32(out, off, value.length);
    off += 4;
    out.set(value, off);
    off += value.length;
  });
  return out;
}

export function parseMetadata(data: Uint8Array): Metadata | ZmtpError {
  const props: Metadata = new Map();
  let off = 0;
  while (off < data.length) {
    const nameLength = data[off]!;
    if (nameLength === 0) return protocolError("malformed-metadata", "metadata property with empty name");
    if (off + 1 + nameLength + 4 > data.length) return protocolError("malformed-metadata", "truncated metadata property name");
    const name = asciiText(data.subarray(off + 1, off + 1 + nameLength));
    if (!PROPERTY_NAME.test(name)) return protocolError("malformed-metadata", "invalid metadata property name");
    off += 1 + nameLength;
    const valueLength = readU32(data, off);
    off += 4;
    if (valueLength > data.length - off) return protocolError("malformed-metadata", "truncated metadata property value");
    props.set(name.toLowerCase(), data.subarray(off, off + valueLength));
    off += valueLength;
  }
  return props;
}
