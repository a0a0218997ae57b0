// Job handlers by name, and how a job's {path, callable} finds one. EventMQ imports `path` as a
// Python module and calls `callable` in it (or, for "module:Class", a method of a new instance);
// a JavaScript worker cannot import Python paths, so handlers are registered under names and the
// job's names are tried from the most to the least specific: "path.callable", "path:callable",
// then "callable" alone. Python's own spelling of a job therefore finds a handler registered as
// "jobs_demo.touch" or simply as "touch".

import type { Headers, Job } from "../emqp/index.js";
import { WorkerError } from "./errors.js";

/** What a handler gets besides the job's args and kwargs. */
export interface JobContext {
  /** The REQUEST's msgid (the client's, kept by the broker). */
  msgid: string;
  /** The queue the job was sent to. */
  queue: string;
  headers: Headers;
  /** The whole job body (class_args and class_kwargs included). */
  job: Job;
  /** Aborted when the job runs past its timeout (reason: a WorkerError with code ETIMEDOUT) or
   * stop() gives up waiting; a long handler should watch it and return. */
  signal: AbortSignal;
}

/** Returns the job's value (anything JSON can carry) or a promise of it; throws to fail the job. */
export type Handler = (args: unknown[], kwargs: Record<string, unknown>, ctx: JobContext) => unknown;

export class HandlerRegistry {
  private readonly byName = new Map<string, Handler>();

  add(name: string, fn: Handler): void {
    if (typeof name !== "string" || name === "") throw new WorkerError("EINVAL", "a handler needs a non-empty name");
    if (typeof fn !== "function") throw new WorkerError("EINVAL", `handler ${JSON.stringify(name)} is not a function`);
    this.byName.set(name, fn);
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get size(): number {
    return this.byName.size;
  }

  /** The handler for a job, and the name it was found under; undefined when none matches. */
  lookup(job: Pick<Job, "path" | "callable">): { name: string; fn: Handler } | undefined {
    for (const name of candidateNames(job)) {
      const fn = this.byName.get(name);
      if (fn) return { name, fn };
    }
    return undefined;
  }
}

/** The names tried for a job, in order. */
export function candidateNames(job: Pick<Job, "path" | "callable">): string[] {
  const { path, callable } = job;
  return path ? [`${path}.${callable}`, `${path}:${callable}`, callable] : [callable];
}

/**
 * The handlers a module exports: every exported function under its export name, the functions of
 * an exported `handlers` object under their keys (these win), and, for a CommonJS module (whose
 * exports arrive as `default`), the functions of its exports object.
 */
export function handlersFromModule(mod: Record<string, unknown>): Map<string, Handler> {
  const out = new Map<string, Handler>();
  const take = (obj: unknown) => {
    if (typeof obj !== "object" || obj === null) return;
    for (const [k, v] of Object.entries(obj)) if (typeof v === "function") out.set(k, v as Handler);
  };
  const def = mod.default;
  if (typeof def === "object" && def !== null && !Array.isArray(def)) {
    take(def);
    take((def as Record<string, unknown>).handlers);
  }
  for (const [k, v] of Object.entries(mod)) {
    if (k !== "default" && typeof v === "function") out.set(k, v as Handler);
  }
  take(mod.handlers);
  return out;
}
