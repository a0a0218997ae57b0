// Authentication as the wire core sees it: what a mechanism asks the application (AuthRequest),
// what comes back (AuthVerdict), and how a refusal travels. A refusal is an ERROR command whose
// reason is exactly a 3-digit ZAP status (RFC 27: 300 temporary, 400 denied, 500 internal), which
// is the only form libzmq's clients recognise as an authentication failure rather than a protocol
// error. Any other ERROR reason stays a plain peer error.

import { encodeError, parseError } from "../command.js";
import { ZmtpError } from "../errors.js";
import type { Metadata } from "../metadata.js";

/** What the peer presented, as a mechanism hands it to the session for a decision. */
export interface PeerCredentials {
  /** The peer's metadata (READY for NULL, INITIATE for PLAIN). */
  readonly metadata: Metadata;
  /** PLAIN: the HELLO username and password, as sent (opaque bytes). */
  readonly username?: Uint8Array | undefined;
  readonly password?: Uint8Array | undefined;
}

/** The question put to the application before the peer is admitted. */
export interface AuthRequest extends PeerCredentials {
  /** The mechanism in use: "NULL" or "PLAIN". */
  readonly mechanism: string;
  /** The peer's Identity property (empty if it sent none). */
  readonly identity: Uint8Array;
  /** The peer's Socket-Type (already checked to be compatible with ours). */
  readonly socketType: string;
}

/**
 * The application's answer: true/false, or an object with a ZAP-style status for a refusal
 * (300, 400 or 500 families; anything else becomes 400) and a reason for our own logs.
 */
export type AuthVerdict =
  | boolean
  | { readonly allow: boolean; readonly status?: number | undefined; readonly reason?: string | undefined };

/** A verdict with the defaults filled in. */
export interface Verdict {
  readonly allow: boolean;
  /** 200 when allowed; 300-599 when refused. */
  readonly status: number;
  /** Why, for the error on our side; never sent (the wire carries only the status). */
  readonly reason: string;
}

export const DENY_STATUS = 400;
export const INTERNAL_STATUS = 500;
/** "Try again later" (ZAP 300): the only refusal after which a client reconnects. */
export const TEMPORARY_STATUS = 300;

/**
 * Fills in a verdict's defaults. Fails closed: anything that is not `true` or an object with
 * `allow: true` refuses, and a value that is not a verdict at all (say, an async hook that forgot
 * to return) refuses with 500.
 */
export function normalizeVerdict(v: unknown): Verdict {
  if (v === true) return { allow: true, status: 200, reason: "" };
  if (v === false) return { allow: false, status: DENY_STATUS, reason: "" };
  if (typeof v !== "object" || v === null || typeof (v as { allow?: unknown }).allow !== "boolean") {
    return { allow: false, status: INTERNAL_STATUS, reason: "the authenticator returned no verdict" };
  }
  const o = v as { allow: boolean; status?: unknown; reason?: unknown };
  const reason = typeof o.reason === "string" ? o.reason : "";
  if (o.allow) return { allow: true, status: 200, reason };
  const s = o.status;
  const status = typeof s === "number" && Number.isInteger(s) && s >= 300 && s <= 599 ? s : DENY_STATUS;
  return { allow: false, status, reason };
}

/** Our side refuses the peer: stages ERROR "<status>" and returns the error that ends the session. */
export function refusePeer(
  v: Verdict,
  mechanism: string,
  send: (command: Uint8Array) => void,
  encode: (reason: string) => Uint8Array = encodeError,
): ZmtpError {
  send(encode(String(v.status)));
  const why = v.reason ? `: ${v.reason}` : "";
  return new ZmtpError("EACCES", "auth-denied", `${mechanism} authentication refused the peer (status ${v.status}${why})`);
}

const STATUS = /^[345][0-9][0-9]$/;

/**
 * The peer sent ERROR during the handshake. A 3-digit status means it refused our credentials
 * (EACCES; worth retrying only for 300); anything else is a plain peer error, as after the handshake.
 */
export function handshakeError(data: Uint8Array): ZmtpError {
  const reason = parseError(data);
  if (reason instanceof ZmtpError) return reason;
  if (STATUS.test(reason)) {
    const status = Number(reason);
    return new ZmtpError(
      "EACCES",
      "auth-denied",
      `peer refused our authentication (status ${reason}${status === TEMPORARY_STATUS ? ", temporary" : ""})`,
      status === TEMPORARY_STATUS,
    );
  }
  return new ZmtpError("EPEERERROR", "peer-error", `peer refused the connection: ${reason || "(no reason)"}`);
}
