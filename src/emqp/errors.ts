// Why an eMQP message was refused. Every malformed message becomes one of these (never an
// exception that escapes a role): the role logs it with the reason and drops the message, or
// answers the sender with it when the sender can be told.

export type EmqpErrorReason =
  | "too-few-frames"
  | "bad-delimiter"
  | "unsupported-version"
  | "unknown-command"
  | "not-utf8"
  | "bad-json"
  | "bad-queues"
  | "bad-client-type"
  | "bad-interval"
  | "bad-header"
  | "bad-job"
  | "bad-result";

export class EmqpError extends Error {
  readonly code = "EPROTO";
  readonly reason: EmqpErrorReason;

  constructor(reason: EmqpErrorReason, message: string) {
    super(message);
    this.name = "EmqpError";
    this.reason = reason;
  }
}
