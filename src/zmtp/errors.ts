// Typed errors raised by the wire core. The transport/socket layers decide what to do with a
// connection from `reconnect`: libzmq stops retrying an endpoint after a protocol error (the peer
// will refuse us again) but retries after timeouts and network failures.

export type ZmtpErrorCode =
  | "EPROTO" // malformed or unexpected bytes from the peer
  | "EMSGSIZE" // a frame larger than maxMessageSize
  | "ETIMEDOUT" // handshake or heartbeat timeout
  | "ENOCOMPATPROTO" // socket type or mechanism the peer cannot talk to
  | "EPEERERROR" // the peer sent an ERROR command
  | "EACCES"; // authentication refused (by us, or by the peer with a 3-digit status in ERROR)

export type ZmtpErrorReason =
  | "greeting-signature"
  | "unsupported-version"
  | "bad-mechanism-name"
  | "mechanism-mismatch"
  | "role-mismatch"
  | "invalid-as-server"
  | "frame-too-large"
  | "frame-size-overflow"
  | "malformed-command"
  | "malformed-metadata"
  | "unexpected-command"
  | "message-before-handshake"
  | "socket-type-missing"
  | "socket-type-mismatch"
  | "peer-error"
  | "handshake-timeout"
  | "heartbeat-timeout"
  | "auth-denied";

export class ZmtpError extends Error {
  override readonly name = "ZmtpError";
  readonly code: ZmtpErrorCode;
  readonly reason: ZmtpErrorReason;
  /** Whether retrying the same endpoint could succeed (timeouts yes, protocol violations no). */
  readonly reconnect: boolean;

  constructor(code: ZmtpErrorCode, reason: ZmtpErrorReason, message: string, reconnect = false) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.reconnect = reconnect;
  }
}

export const protocolError = (reason: ZmtpErrorReason, message: string): ZmtpError =>
  new ZmtpError("EPROTO", reason, message);
