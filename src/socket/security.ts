// Security options of every socket (PLAIN client/server, the authenticate hook), turned into what a
// new connection's session needs, and the session's authentication question turned into the
// public AuthRequest. libzmq asks a ZAP handler over inproc; we ask one function instead.

import { Buffer } from "node:buffer";
import type { Link } from "../transport/link.js";
import {
  NullMechanism,
  PLAIN_CREDENTIAL_MAX,
  PlainClient,
  PlainServer,
  type AuthRequest as SessionAuthRequest,
  type AuthVerdict,
  type SessionOptions,
} from "../zmtp/index.js";
import { SocketError } from "./errors.js";

export type { AuthVerdict } from "../zmtp/index.js";

/** What the `authenticate` hook is asked about a peer (ZAP's request, as one object). */
export interface AuthRequest {
  /** NULL for plain connections accepted by bind(); PLAIN where we are the PLAIN server. */
  mechanism: "NULL" | "PLAIN";
  /** The peer's network address (its IP for tcp://, like ZAP's address; empty for ipc://). */
  address: string;
  /** Our endpoint the peer came in on (bound), or the one we dialed. */
  endpoint: string;
  /** PLAIN: the credentials the client presented, decoded as UTF-8. */
  username?: string;
  password?: string;
  /** The peer's Identity property (its routing id as a ROUTER would see it); may be empty. */
  routingId: Buffer;
  /** The peer's socket type, e.g. "DEALER" (already checked to be compatible with ours). */
  socketType: string;
}

/** Decides whether to admit a peer; may be async. Thrown or rejected = refused with status 500. */
export type Authenticator = (req: AuthRequest) => AuthVerdict | Promise<AuthVerdict>;

/** The security fields of a socket (see SocketOptions for their meaning). */
export interface SecuritySettings {
  plainServer: boolean;
  plainUsername: string | undefined;
  plainPassword: string | undefined;
  authenticate: Authenticator | undefined;
}

const utf8 = new TextDecoder("utf-8");

/** Throws EINVAL for settings that cannot work; called at bind() and connect(). */
export function checkSecurity(s: SecuritySettings): void {
  if (typeof s.plainServer !== "boolean") throw new SocketError("EINVAL", "plainServer must be a boolean");
  for (const [name, v] of [
    ["plainUsername", s.plainUsername],
    ["plainPassword", s.plainPassword],
  ] as const) {
    if (v === undefined) continue;
    if (typeof v !== "string") throw new SocketError("EINVAL", `${name} must be a string`);
    if (Buffer.byteLength(v, "utf8") > PLAIN_CREDENTIAL_MAX) {
      throw new SocketError("EINVAL", `${name} must be at most ${PLAIN_CREDENTIAL_MAX} bytes in UTF-8`);
    }
  }
  if (s.plainServer && (s.plainUsername !== undefined || s.plainPassword !== undefined)) {
    throw new SocketError("EINVAL", "a socket is either a PLAIN server (plainServer) or a PLAIN client (plainUsername/plainPassword), not both");
  }
  if (s.authenticate !== undefined && typeof s.authenticate !== "function") {
    throw new SocketError("EINVAL", "authenticate must be a function");
  }
}

/**
 * The mechanism and authenticate flag for one new connection. A username or password makes us a
 * PLAIN client (as in libzmq, either one does); plainServer a PLAIN server, which asks the hook if
 * there is one and otherwise admits any credentials. Under NULL only connections that bind()
 * accepted are put to the hook: the dialing side of NULL has nothing to check.
 */
export function sessionSecurity(s: SecuritySettings, accepted: boolean): Pick<SessionOptions, "mechanism" | "authenticate"> {
  if (s.plainServer) return { mechanism: new PlainServer(), authenticate: s.authenticate !== undefined };
  if (s.plainUsername !== undefined || s.plainPassword !== undefined) {
    return { mechanism: new PlainClient(s.plainUsername ?? "", s.plainPassword ?? ""), authenticate: false };
  }
  return { mechanism: new NullMechanism(), authenticate: accepted && s.authenticate !== undefined };
}

/** The public request for a session's question about the peer on `link`. */
export function authRequest(link: Link, req: SessionAuthRequest): AuthRequest {
  const out: AuthRequest = {
    mechanism: req.mechanism === "PLAIN" ? "PLAIN" : "NULL",
    address: link.remoteAddress ?? "",
    endpoint: link.address,
    routingId: Buffer.from(req.identity),
    socketType: req.socketType,
  };
  if (req.username !== undefined) out.username = utf8.decode(req.username);
  if (req.password !== undefined) out.password = utf8.decode(req.password);
  return out;
}
