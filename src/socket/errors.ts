// Errors thrown or rejected by sockets carry a POSIX-style `code` like zeromq.js (EAGAIN,
// EHOSTUNREACH, EBADF, EINVAL, ...) and a message that says what happened.

export type SocketErrorCode =
  | "EAGAIN" // would block and the timeout is 0, or the timeout expired
  | "EHOSTUNREACH" // ROUTER with mandatory: no peer with that routing id
  | "EBADF" // socket is closed
  | "EINVAL" // bad argument or endpoint
  | "EADDRINUSE"
  | "ENOENT" // unbind/disconnect of an endpoint that is not bound/connected
  | "EFSM" // operation not valid in the socket's current state
  | "ENOTSUP" // the socket type cannot do this (receive on PUSH/PUB, send on PULL/SUB)
  | "ECONNREFUSED" // a peer refused after its handshake (routing id in use, PAIR already paired)
  | "ABORT_ERR"; // the caller's AbortSignal fired

export class SocketError extends Error {
  override readonly name = "SocketError";
  readonly code: SocketErrorCode | string;
  constructor(code: SocketErrorCode | string, message: string) {
    super(message);
    this.code = code;
  }
}

export const closedError = (): SocketError => new SocketError("EBADF", "Socket is closed");
