// The 64-octet greeting: signature (FF, 8 padding octets, 7F), version, mechanism, as-server, filler.
// We always send all 64 octets at once (libzmq stages its own greeting in 10/1/53 octets and waits
// for ours in between, so a peer that waited for a full greeting first would deadlock with it).

import { ascii, asciiText } from "./bytes.js";
import { ZmtpError, protocolError } from "./errors.js";

export const GREETING_SIZE = 64;
export const VERSION_MAJOR = 3;
export const VERSION_MINOR = 1;

const MECHANISM_OFFSET = 12;
const MECHANISM_SIZE = 20;
const AS_SERVER_OFFSET = 32;
const MECHANISM_NAME = /^[A-Z0-9_.+-]{1,20}$/;

export interface Greeting {
  major: number;
  minor: number;
  mechanism: string;
  asServer: boolean;
}

export function encodeGreeting(mechanism: string, asServer: boolean, minor = VERSION_MINOR): Uint8Array {
  if (!MECHANISM_NAME.test(mechanism)) throw new TypeError(`invalid mechanism name ${JSON.stringify(mechanism)}`);
  const g = new Uint8Array(GREETING_SIZE);
  g[0] = 0xff;
  // Padding: libzmq writes (routing-id length + 1) as a uint64 for ZMTP 1.0 peers; we write 1,
  // i.e. "empty identity", which is what a 1.0 peer would need and is ignored by everyone else.
  g[8] = 0x01;
  g[9] = 0x7f;
  g[10] = VERSION_MAJOR;
  g[11] = minor;
  g.set(ascii(mechanism), MECHANISM_OFFSET);
  g[AS_SERVER_OFFSET] = asServer ? 1 : 0;
  return g;
}

/**
 * Validates as much of a peer's greeting as has arrived (`length` octets of `g`), so that a peer
 * speaking ZMTP 1.0/2.0 or something else entirely is refused after 10 or 11 octets instead of
 * waiting for 64 it may never send.
 */
export function checkGreetingPrefix(g: Uint8Array, length: number): ZmtpError | undefined {
  if (length >= 1 && g[0] !== 0xff) return protocolError("greeting-signature", "peer did not send a ZMTP signature");
  if (length >= 10 && (g[9]! & 1) !== 1) {
    return protocolError("greeting-signature", "peer sent an unversioned (ZMTP 1.0) signature");
  }
  if (length >= 11 && g[10]! < VERSION_MAJOR) {
    return new ZmtpError(
      "ENOCOMPATPROTO",
      "unsupported-version",
      `peer speaks ZMTP major version ${g[10]}, need 3 or later`,
    );
  }
  return undefined;
}

/** Parses a complete 64-octet greeting. */
export function parseGreeting(g: Uint8Array): Greeting | ZmtpError {
  if (g.length < GREETING_SIZE) return protocolError("greeting-signature", "greeting is shorter than 64 octets");
  const early = checkGreetingPrefix(g, GREETING_SIZE);
  if (early) return early;
  let end = MECHANISM_OFFSET;
  while (end < MECHANISM_OFFSET + MECHANISM_SIZE && g[end] !== 0) end++;
  const mechanism = asciiText(g.subarray(MECHANISM_OFFSET, end));
  for (let i = end; i < MECHANISM_OFFSET + MECHANISM_SIZE; i++) {
    if (g[i] !== 0) return protocolError("bad-mechanism-name", "mechanism name is not NUL-padded");
  }
  if (!MECHANISM_NAME.test(mechanism)) {
    return protocolError("bad-mechanism-name", `invalid mechanism name ${JSON.stringify(mechanism)}`);
  }
  const asServer = g[AS_SERVER_OFFSET]!;
  if (asServer > 1) return protocolError("invalid-as-server", `as-server octet is ${asServer}, must be 0 or 1`);
  return { major: g[10]!, minor: g[11]!, mechanism, asServer: asServer === 1 };
}
