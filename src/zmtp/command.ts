// Command frames: name-length(1) + name + data. Encoders and parsers for the commands the core
// itself speaks (READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL); mechanisms add their own.

import { ascii, asciiText } from "./bytes.js";
import { ZmtpError, protocolError } from "./errors.js";
import { encodeMetadata, type Property } from "./metadata.js";

export interface Command {
  name: string;
  data: Uint8Array;
}

const COMMAND_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** PING contexts longer than this are truncated in the PONG (RFC 37; libzmq does the same). */
export const PING_CONTEXT_MAX = 16;

export function encodeCommand(name: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const n = ascii(name);
  if (n.length === 0 || n.length > 255) throw new TypeError("command name must be 1-255 octets");
  const out = new Uint8Array(1 + n.length + data.length);
  out[0] = n.length;
  out.set(n, 1);
  out.set(data, 1 + n.length);
  return out;
}

export function parseCommand(body: Uint8Array): Command | ZmtpError {
  if (body.length === 0) return protocolError("malformed-command", "empty command frame");
  const n = body[0]!;
  if (n === 0 || 1 + n > body.length) return protocolError("malformed-command", "command name length out of range");
  const name = asciiText(body.subarray(1, 1 + n));
  if (!COMMAND_NAME.test(name)) return protocolError("malformed-command", "command name is not ASCII letters");
  return { name, data: body.subarray(1 + n) };
}

export const encodeReady = (props: readonly Property[]): Uint8Array => encodeCommand("READY", encodeMetadata(props));

/** ERROR carries a 0-255 octet reason; longer reasons are cut. */
export function encodeError(reason: string): Uint8Array {
  const r = ascii(reason).subarray(0, 255);
  const data = new Uint8Array(1 + r.length);
  data[0] = r.length;
  data.set(r, 1);
  return encodeCommand("ERROR", data);
}

export function parseError(data: Uint8Array): string | ZmtpError {
  if (data.length < 1 || 1 + data[0]! > data.length) return protocolError("malformed-command", "malformed ERROR command");
  return asciiText(data.subarray(1, 1 + data[0]!));
}

/** PING: TTL in tenths of a second (16 bits) + 0-16 octets of context. */
export function encodePing(ttlDeciseconds: number, context: Uint8Array = new Uint8Array(0)): Uint8Array {
  const ttl = Math.max(0, Math.min(0xffff, Math.floor(ttlDeciseconds)));
  const data = new Uint8Array(2 + Math.min(context.length, PING_CONTEXT_MAX));
  data[0] = ttl >>> 8;
  data[1] = ttl & 0xff;
  data.set(context.subarray(0, PING_CONTEXT_MAX), 2);
  return encodeCommand("PING", data);
}

export interface Ping {
  ttlDeciseconds: number;
  context: Uint8Array;
}

export function parsePing(data: Uint8Array): Ping | ZmtpError {
  if (data.length < 2) return protocolError("malformed-command", "PING shorter than its 2-octet TTL");
  return { ttlDeciseconds: (data[0]! << 8) | data[1]!, context: data.subarray(2) };
}

export const encodePong = (context: Uint8Array): Uint8Array =>
  encodeCommand("PONG", context.subarray(0, PING_CONTEXT_MAX));
