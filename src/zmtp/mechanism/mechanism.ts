// A security mechanism drives the handshake between the greeting and traffic. It is a small state
// machine over command frames: `start` sends what it sends first, `onCommand` consumes each peer
// command and either continues, finishes with the peer's metadata, asks the application to admit
// the peer (an `auth` step, answered through `onVerdict`), or fails. One instance serves one session.

import type { Command } from "../command.js";
import type { ZmtpError } from "../errors.js";
import type { Greeting } from "../greeting.js";
import type { Metadata, Property } from "../metadata.js";
import type { PeerCredentials, Verdict } from "./auth.js";

export interface MechanismContext {
  /** Our metadata (Socket-Type, Identity, ...) to send in READY/INITIATE. */
  readonly metadata: readonly Property[];
  /** This side must ask the application before admitting the peer (SessionOptions.authenticate). */
  readonly authenticate: boolean;
  /** Writes one command frame (body = encoded command). */
  send(command: Uint8Array): void;
}

export type MechanismStep =
  | { readonly done: Metadata }
  | { readonly error: ZmtpError }
  /** Hold the handshake until the application's verdict; the session then calls onVerdict. */
  | { readonly auth: PeerCredentials }
  | undefined; // more commands are needed

export interface Mechanism {
  /** Name announced in the greeting: NULL, PLAIN, CURVE. */
  readonly name: string;
  /** The greeting's as-server octet. */
  readonly asServer: boolean;
  /** Checks the peer's greeting beyond the name match (e.g. role pairing); undefined if fine. */
  checkPeer(peer: Greeting): ZmtpError | undefined;
  start(ctx: MechanismContext): void;
  onCommand(cmd: Command, ctx: MechanismContext): MechanismStep;
  /** Parses a handshake command body where the mechanism knows a peer's quirky spelling. */
  parseCommand?(body: Uint8Array): Command | ZmtpError;
  /** The application's answer to an `auth` step (`pending` is what that step carried). */
  onVerdict?(verdict: Verdict, pending: PeerCredentials, ctx: MechanismContext): MechanismStep;
}
