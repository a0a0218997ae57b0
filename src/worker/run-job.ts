// One job's run: calls its handler, and settles with the job's result when the handler returns or
// throws, or when the timeout passes, whichever comes first. JavaScript cannot kill a function, so
// a timed-out handler is told through its AbortSignal and the worker stops waiting for it; if it
// ignores the signal it runs on in the background (`handlerDone` says when it really ended), and
// what it returns then is dropped.

import type { JobFailure, JobResult } from "../emqp/index.js";
import { WorkerError } from "./errors.js";
import type { Handler, JobContext } from "./handlers.js";

/** setTimeout's longest delay; a longer timeout:N is capped to it (about 24.8 days). */
const MAX_DELAY = 2 ** 31 - 1;

export interface JobRun {
  /** The outcome the worker reports. Never rejects. */
  readonly result: Promise<JobResult>;
  /** Settles when the handler itself has returned or thrown (maybe after `result`). */
  readonly handlerDone: Promise<void>;
  /** Stops waiting now: aborts the signal and settles `result` with this failure (if unsettled). */
  cancel(failure: JobFailure): void;
}

/** The failure for a thrown value: EJOBFAILED with the error's message and class name. */
export function thrownFailure(err: unknown): JobFailure {
  if (err instanceof Error) {
    const f: JobFailure = { code: "EJOBFAILED", message: err.message || String(err) };
    if (err.name) f.name = err.name;
    return f;
  }
  let message: string;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { code: "EJOBFAILED", message };
}

export function runJob(
  fn: Handler,
  args: unknown[],
  kwargs: Record<string, unknown>,
  ctx: Omit<JobContext, "signal">,
  timeoutSeconds: number,
): JobRun {
  // Made on first use of ctx.signal: an AbortController per job was the worker's largest cost in
  // profiles, and most handlers never look at it. A signal asked for after a cancel comes aborted.
  let controller: AbortController | undefined;
  let abortedWith: WorkerError | undefined;
  const signal = (): AbortSignal => {
    if (!controller) {
      controller = new AbortController();
      if (abortedWith) controller.abort(abortedWith);
    }
    return controller.signal;
  };
  let settle!: (r: JobResult) => void;
  let settled = false;
  const result = new Promise<JobResult>((resolve) => (settle = resolve));
  const finish = (r: JobResult) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    settle(r);
  };
  const cancel = (failure: JobFailure) => {
    if (settled) return;
    const reason = new WorkerError(failure.code === "ETIMEDOUT" ? "ETIMEDOUT" : "ECLOSED", failure.message);
    finish({ ok: false, error: failure });
    abortedWith = reason;
    controller?.abort(reason);
  };
  const timer = setTimeout(
    () => cancel({ code: "ETIMEDOUT", message: `the job ran past its timeout of ${timeoutSeconds} s` }),
    Math.min(Math.max(timeoutSeconds * 1000, 0), MAX_DELAY),
  );

  let running: Promise<unknown>;
  try {
    // A synchronous handler's throw is a job failure like an async one's rejection.
    const context = Object.defineProperty({ ...ctx }, "signal", { get: signal, enumerable: true }) as JobContext;
    running = Promise.resolve(fn(args, kwargs, context));
  } catch (err) {
    running = Promise.reject(err);
  }
  const handlerDone = running.then(
    // JSON has no undefined: a handler that returns nothing gives {"value": null}, as Python's None.
    (value) => finish({ ok: true, value: value === undefined ? null : value }),
    (err: unknown) => finish({ ok: false, error: thrownFailure(err) }),
  );
  return { result, handlerDone, cancel };
}
