// Why a Worker call failed (bad options, a bad handler, start() cut short by stop()). Failures of
// jobs are not thrown: they travel to the broker as `{"error": {code, message}}` results.

export type WorkerErrorCode =
  | "EINVAL" // bad options or arguments
  | "ECLOSED" // stop() was called before start() completed
  | "ETIMEDOUT"; // the reason a timed-out job's AbortSignal carries

export class WorkerError extends Error {
  override readonly name = "WorkerError";
  readonly code: WorkerErrorCode;

  constructor(code: WorkerErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
