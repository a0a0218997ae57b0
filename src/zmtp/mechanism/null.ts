// NULL mechanism (RFC 23 §"The NULL Security Mechanism"): each side sends READY with its metadata
// and reads the other's. Neither waits for the other's READY before sending its own, except a side
// that must authenticate the peer: it holds its READY until the peer's READY has arrived and the
// application has admitted the peer (libzmq's NULL server with a ZAP domain also withholds READY
// until the ZAP reply), and answers a refusal with ERROR "<status>" instead.

import { encodeReady, parseError, type Command } from "../command.js";
import { ZmtpError, protocolError } from "../errors.js";
import { parseMetadata } from "../metadata.js";
import { handshakeError, refusePeer, type PeerCredentials, type Verdict } from "./auth.js";
import type { Mechanism, MechanismContext, MechanismStep } from "./mechanism.js";

export class NullMechanism implements Mechanism {
  readonly name = "NULL";
  readonly asServer = false;

  checkPeer(): undefined {
    // libzmq does not check as-server for NULL either; being strict here would only break peers.
    return undefined;
  }

  start(ctx: MechanismContext): void {
    if (!ctx.authenticate) ctx.send(encodeReady(ctx.metadata));
  }

  onCommand(cmd: Command, ctx: MechanismContext): MechanismStep {
    if (cmd.name === "READY") {
      const meta = parseMetadata(cmd.data);
      if (meta instanceof ZmtpError) return { error: meta };
      return ctx.authenticate ? { auth: { metadata: meta } } : { done: meta };
    }
    if (cmd.name === "ERROR") return { error: handshakeError(cmd.data) };
    return { error: protocolError("unexpected-command", `unexpected ${cmd.name} command during NULL handshake`) };
  }

  onVerdict(verdict: Verdict, pending: PeerCredentials, ctx: MechanismContext): MechanismStep {
    if (!verdict.allow) return { error: refusePeer(verdict, this.name, ctx.send) };
    ctx.send(encodeReady(ctx.metadata));
    return { done: pending.metadata };
  }
}

/** Turns a peer's ERROR command after the handshake into our error. */
export function peerError(data: Uint8Array): ZmtpError {
  const reason = parseError(data);
  if (reason instanceof ZmtpError) return reason;
  return new ZmtpError("EPEERERROR", "peer-error", `peer refused the connection: ${reason || "(no reason)"}`);
}
