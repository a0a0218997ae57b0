// PLAIN mechanism (RFC 24): clear-text username and password, then metadata.
//
//   client                          server
//   HELLO username password  --->
//                            <---   WELCOME
//   INITIATE metadata        --->
//                            <---   READY metadata   (or ERROR "<status>")
//
// Roles come from each side's own options, not from bind/connect. We send as-server 1 as the PLAIN
// server, as RFC 24 asks, but libzmq (4.3.x and later) always sends 0, so a client cannot hold the
// peer's 0 against it; two servers (both 1) are refused early. The server answers every
// well-formed HELLO with WELCOME and decides after INITIATE, so the application sees the
// credentials together with the peer's Identity and Socket-Type (libzmq's client accepts ERROR
// while it waits for READY). Without `ctx.authenticate` the server admits any credentials.

import { encodeCommand, encodeReady, parseCommand, type Command } from "../command.js";
import { ZmtpError, protocolError } from "../errors.js";
import type { Greeting } from "../greeting.js";
import { encodeMetadata, parseMetadata, type Property } from "../metadata.js";
import { handshakeError, refusePeer, type PeerCredentials, type Verdict } from "./auth.js";

/**
 * libzmq spells PLAIN's ERROR command name as the C string "\x05ERROR", whose hex escape swallows
 * the "E": on the wire the body is 5E "RROR" <reason length> <reason>, with no name-length octet.
 * Its PLAIN client recognises only that spelling (an RFC-correct ERROR is an "unexpected command"
 * to it), so a PLAIN server that refuses a peer sends it; both spellings are accepted from peers.
 * libzmq's NULL mechanism spells ERROR correctly.
 */
const LIBZMQ_ERROR = [0x5e, 0x52, 0x52, 0x4f, 0x52]; // "^RROR"

/** Encodes ERROR "<reason>" the way libzmq's PLAIN mechanism does (see LIBZMQ_ERROR). */
export function encodePlainError(reason: string): Uint8Array {
  const r = new TextEncoder().encode(reason).subarray(0, 255);
  const body = new Uint8Array(LIBZMQ_ERROR.length + 1 + r.length);
  body.set(LIBZMQ_ERROR);
  body[LIBZMQ_ERROR.length] = r.length;
  body.set(r, LIBZMQ_ERROR.length + 1);
  return body;
}

/** Parses a handshake command body, taking libzmq's PLAIN ERROR spelling as ERROR. */
export function parsePlainCommand(body: Uint8Array): Command | ZmtpError {
  if (body.length > LIBZMQ_ERROR.length && LIBZMQ_ERROR.every((b, i) => body[i] === b)) {
    return { name: "ERROR", data: body.subarray(LIBZMQ_ERROR.length) };
  }
  return parseCommand(body);
}
import type { Mechanism, MechanismContext, MechanismStep } from "./mechanism.js";

/** Username and password are each 0-255 octets (one length octet on the wire). */
export const PLAIN_CREDENTIAL_MAX = 255;

const utf8 = new TextEncoder();
const bytesOf = (v: string | Uint8Array): Uint8Array => (typeof v === "string" ? utf8.encode(v) : v);

export interface Hello {
  username: Uint8Array;
  password: Uint8Array;
}

/** HELLO: username length (1) + username + password length (1) + password. */
export function encodeHello(username: Uint8Array, password: Uint8Array): Uint8Array {
  if (username.length > PLAIN_CREDENTIAL_MAX || password.length > PLAIN_CREDENTIAL_MAX) {
    throw new RangeError("PLAIN username and password must be 0-255 octets each");
  }
  const data = new Uint8Array(2 + username.length + password.length);
  data[0] = username.length;
  data.set(username, 1);
  data[1 + username.length] = password.length;
  data.set(password, 2 + username.length);
  return encodeCommand("HELLO", data);
}

/** Parses HELLO's data; the two fields must fill it exactly (libzmq is as strict). */
export function parseHello(data: Uint8Array): Hello | ZmtpError {
  const bad = (what: string) => protocolError("malformed-command", `malformed HELLO: ${what}`);
  if (data.length < 1) return bad("no username length");
  const ulen = data[0]!;
  if (1 + ulen + 1 > data.length) return bad("username runs past the end");
  const plen = data[1 + ulen]!;
  if (2 + ulen + plen !== data.length) return bad(2 + ulen + plen > data.length ? "password runs past the end" : "trailing octets");
  return { username: data.subarray(1, 1 + ulen), password: data.subarray(2 + ulen, 2 + ulen + plen) };
}

export const encodeWelcome = (): Uint8Array => encodeCommand("WELCOME");

export const encodeInitiate = (props: readonly Property[]): Uint8Array => encodeCommand("INITIATE", encodeMetadata(props));

const unexpected = (cmd: Command, role: string, waiting: string): { error: ZmtpError } => ({
  error: protocolError("unexpected-command", `PLAIN ${role} got ${cmd.name} while waiting for ${waiting}`),
});

/** The PLAIN client (as-server 0): presents a username and password. */
export class PlainClient implements Mechanism {
  readonly name = "PLAIN";
  readonly asServer = false;
  private readonly username: Uint8Array;
  private readonly password: Uint8Array;
  private waiting: "WELCOME" | "READY" = "WELCOME";

  constructor(username: string | Uint8Array, password: string | Uint8Array) {
    this.username = bytesOf(username);
    this.password = bytesOf(password);
    if (this.username.length > PLAIN_CREDENTIAL_MAX || this.password.length > PLAIN_CREDENTIAL_MAX) {
      throw new RangeError("PLAIN username and password must be 0-255 octets each");
    }
  }

  checkPeer(_peer: Greeting): ZmtpError | undefined {
    // libzmq's PLAIN server sends as-server 0, so 0 proves nothing; a second client shows itself
    // by sending HELLO, which is an unexpected command here.
    return undefined;
  }

  parseCommand = parsePlainCommand;

  start(ctx: MechanismContext): void {
    ctx.send(encodeHello(this.username, this.password));
  }

  onCommand(cmd: Command, ctx: MechanismContext): MechanismStep {
    // The server may refuse at either point; a 3-digit status makes it an authentication failure.
    if (cmd.name === "ERROR") return { error: handshakeError(cmd.data) };
    if (cmd.name !== this.waiting) return unexpected(cmd, "client", this.waiting);
    if (this.waiting === "WELCOME") {
      if (cmd.data.length !== 0) return { error: protocolError("malformed-command", "malformed WELCOME: it carries data") };
      this.waiting = "READY";
      ctx.send(encodeInitiate(ctx.metadata));
      return undefined;
    }
    const meta = parseMetadata(cmd.data);
    return meta instanceof ZmtpError ? { error: meta } : { done: meta };
  }
}

/** The PLAIN server (as-server 1): checks the client's credentials, or admits any. */
export class PlainServer implements Mechanism {
  readonly name = "PLAIN";
  readonly asServer = true;
  /** The command we accept next; undefined once INITIATE is in (the session decides from there). */
  private waiting: "HELLO" | "INITIATE" | undefined = "HELLO";
  private hello: Hello | undefined;

  checkPeer(peer: Greeting): ZmtpError | undefined {
    if (!peer.asServer) return undefined;
    return protocolError("role-mismatch", "both sides are PLAIN servers: one must be the PLAIN client (as-server 0)");
  }

  start(): void {
    // The client speaks first.
  }

  parseCommand = parsePlainCommand;

  onCommand(cmd: Command, ctx: MechanismContext): MechanismStep {
    if (cmd.name === "ERROR") return { error: handshakeError(cmd.data) };
    if (cmd.name !== this.waiting) return unexpected(cmd, "server", this.waiting ?? "nothing more");
    if (this.waiting === "HELLO") {
      const hello = parseHello(cmd.data);
      if (hello instanceof ZmtpError) return { error: hello };
      this.hello = hello;
      this.waiting = "INITIATE";
      ctx.send(encodeWelcome());
      return undefined;
    }
    this.waiting = undefined;
    const meta = parseMetadata(cmd.data);
    if (meta instanceof ZmtpError) return { error: meta };
    if (!ctx.authenticate) {
      ctx.send(encodeReady(ctx.metadata));
      return { done: meta };
    }
    return { auth: { metadata: meta, username: this.hello!.username, password: this.hello!.password } };
  }

  onVerdict(verdict: Verdict, pending: PeerCredentials, ctx: MechanismContext): MechanismStep {
    if (!verdict.allow) return { error: refusePeer(verdict, this.name, ctx.send, encodePlainError) };
    ctx.send(encodeReady(ctx.metadata));
    return { done: pending.metadata };
  }
}
