// The job body of REQUEST and SCHEDULE: `["run", {callable, path, args, kwargs, class_args,
// class_kwargs}]` (spec/emqp.md §4.1), and the result a worker sends back: `{"value": ...}`, or
// our extension `{"error": {...}}` for a job that failed (EventMQ sends the error's text as the
// value, indistinguishable from a job that returned a string).

import { EmqpError } from "./errors.js";
import { pyJson } from "./pyjson.js";
import { describe } from "./text.js";

export interface Job {
  /** Function (or method) name. */
  callable: string;
  /** Module path; "module:Class" makes `callable` a method of a Class built from class_args/kwargs. */
  path?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  class_args?: unknown[];
  class_kwargs?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and checks a job body; throws EmqpError (bad-json, bad-job). */
export function parseJob(body: string): Job {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new EmqpError("bad-json", "job body is not JSON");
  }
  if (!Array.isArray(v) || v.length < 2 || !isObject(v[1])) {
    throw new EmqpError("bad-job", 'job body must be ["run", {callable, path, args, kwargs, ...}]');
  }
  const p = v[1];
  if (typeof p.callable !== "string" || p.callable === "") throw new EmqpError("bad-job", "job has no callable name");
  if (p.path !== undefined && typeof p.path !== "string") throw new EmqpError("bad-job", "job path must be a string");
  for (const k of ["args", "class_args"]) {
    if (p[k] !== undefined && !Array.isArray(p[k])) throw new EmqpError("bad-job", `job ${k} must be a list`);
  }
  for (const k of ["kwargs", "class_kwargs"]) {
    if (p[k] !== undefined && !isObject(p[k])) throw new EmqpError("bad-job", `job ${k} must be an object`);
  }
  return p as unknown as Job;
}

/** The body as EventMQ's client writes it: all six keys, in its order, Python's JSON spacing. */
export function formatJob(job: Job): string {
  return pyJson([
    "run",
    {
      callable: job.callable,
      path: job.path ?? "",
      args: job.args ?? [],
      kwargs: job.kwargs ?? {},
      class_args: job.class_args ?? [],
      class_kwargs: job.class_kwargs ?? {},
    },
  ]);
}

/** Why a job failed, as carried in a result. */
export interface JobFailure {
  /** EJOBFAILED (the handler threw), ETIMEDOUT, ENOHANDLER, EQUEUEFULL, ESHUTDOWN, EBADJOB, ... */
  code: string;
  message: string;
  /** The error's class name when a handler threw. */
  name?: string;
}

export type JobResult = { ok: true; value: unknown } | { ok: false; error: JobFailure };

export function formatResult(r: JobResult): string {
  if (r.ok) {
    const v = r.value;
    if (typeof v === "function" || typeof v === "symbol") {
      return pyJson({ error: { code: "EJOBFAILED", message: `result is not JSON: a ${typeof v}` } });
    }
    try {
      return pyJson({ value: v === undefined ? null : v }); // undefined is Python's None
    } catch (err) {
      // A value JSON cannot carry (e.g. a BigInt cycle, a symbol): EventMQ sends the error text.
      return pyJson({ error: { code: "EJOBFAILED", message: `result is not JSON: ${(err as Error).message}` } });
    }
  }
  const e: Record<string, string> = { code: r.error.code, message: r.error.message };
  if (r.error.name) e.name = r.error.name;
  return pyJson({ error: e });
}

/** Reads a worker's or broker's result body; throws EmqpError (bad-json, bad-result). */
export function parseResult(body: string): JobResult {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new EmqpError("bad-json", "result is not JSON");
  }
  if (!isObject(v)) throw new EmqpError("bad-result", "result must be an object");
  if (isObject(v.error)) {
    const e = v.error;
    return {
      ok: false,
      error: {
        code: typeof e.code === "string" ? e.code : "EJOBFAILED",
        message: typeof e.message === "string" ? e.message : describe(e, 200),
        ...(typeof e.name === "string" ? { name: e.name } : {}),
      },
    };
  }
  if (!("value" in v)) throw new EmqpError("bad-result", 'result has neither "value" nor "error"');
  return { ok: true, value: v.value };
}
