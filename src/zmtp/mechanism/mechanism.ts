// A security mechanism drives the handshake between the greeting and traffic. It is a small state
// machine over command frames: `start` sends what it sends first, `onCommand` consumes each peer
// command and either continues, finishes with the peer's metadata, or fails.

import type { Command } from "../command.js";
import type { ZmtpError } from "../errors.js";
import type { Greeting } from "../greeting.js";
import type { Metadata, Property } from "../metadata.js";

export interface MechanismContext {
  /** Our metadata (Socket-Type, Identity, ...) to send in READY/INITIATE. */
  readonly metadata: readonly Property[];
  /** Writes one command frame (body = encoded command). */
  send(command: Uint8Array): void;
}

export type MechanismStep =
  | { readonly done: Metadata }
  | { readonly error: ZmtpError }
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
}
