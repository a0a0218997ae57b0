// Why a client call failed. Two kinds, so callers can tell "the job failed" from "we never learned
// how the job went": EmqJobError carries a failure the broker or a worker reported (its code comes
// from the wire: EJOBFAILED, ENOHANDLER, ETIMEDOUT, EQUEUEFULL, ...); EmqClientError is the client
// giving up on its own (ETIMEDOUT, ECLOSED, EPROTO, EINVAL, ABORT_ERR).

import type { JobFailure } from "../emqp/index.js";

export class EmqJobError extends Error {
  override readonly name = "EmqJobError";
  /** The failure's code as the broker or worker sent it. */
  readonly code: string;
  /** The failure as received, including the worker-side error class name when there was one. */
  readonly failure: JobFailure;
  /** The request this answers. */
  readonly msgid: string;
  readonly queue: string;

  constructor(failure: JobFailure, msgid: string, queue: string) {
    super(failure.message);
    this.code = failure.code;
    this.failure = failure;
    this.msgid = msgid;
    this.queue = queue;
  }
}

export type EmqClientErrorCode =
  | "ETIMEDOUT" // no answer within the time the caller allowed
  | "ECLOSED" // close() was called while the call was waiting
  | "EPROTO" // the broker's answer could not be read
  | "EINVAL" // bad arguments; nothing was sent
  | "ABORT_ERR"; // the caller's AbortSignal fired

export class EmqClientError extends Error {
  override readonly name = "EmqClientError";
  readonly code: EmqClientErrorCode;
  /** The message this call sent, when it got that far. */
  readonly msgid: string | undefined;

  constructor(code: EmqClientErrorCode, message: string, msgid?: string) {
    super(message);
    this.code = code;
    this.msgid = msgid;
  }
}
