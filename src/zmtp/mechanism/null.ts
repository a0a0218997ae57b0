// NULL mechanism (RFC 23 §"The NULL Security Mechanism"): each side sends READY with its metadata
// and reads the other's. Neither waits for the other's READY before sending its own.

import { encodeReady, parseError, type Command } from "../command.js";
import { ZmtpError, protocolError } from "../errors.js";
import { parseMetadata } from "../metadata.js";
import type { Mechanism, MechanismContext, MechanismStep } from "./mechanism.js";

export class NullMechanism implements Mechanism {
  readonly name = "NULL";
  readonly asServer = false;

  checkPeer(): undefined {
    // libzmq does not check as-server for NULL either; being strict here would only break peers.
    return undefined;
  }

  start(ctx: MechanismContext): void {
    ctx.send(encodeReady(ctx.metadata));
  }

  onCommand(cmd: Command): MechanismStep {
    if (cmd.name === "READY") {
      const meta = parseMetadata(cmd.data);
      return meta instanceof ZmtpError ? { error: meta } : { done: meta };
    }
    if (cmd.name === "ERROR") return { error: peerError(cmd.data) };
    return { error: protocolError("unexpected-command", `unexpected ${cmd.name} command during NULL handshake`) };
  }
}

/** Turns a peer's ERROR command into our error. */
export function peerError(data: Uint8Array): ZmtpError {
  const reason = parseError(data);
  if (reason instanceof ZmtpError) return reason;
  return new ZmtpError("EPEERERROR", "peer-error", `peer refused the connection: ${reason || "(no reason)"}`);
}
