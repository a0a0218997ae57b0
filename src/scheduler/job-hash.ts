// The identity of a schedule: the SHA-1 (hex) of the job's six keys as Python's
// json.dumps(..., sort_keys=True) writes them (", " / ": " separators, non-ASCII as \uXXXX).
// That is EventMQ's schedule_hash, so a job scheduled from Python and unscheduled from us (or the
// other way round) names the same schedule. Queue, headers, interval and cron are not part of it:
// scheduling the same function with the same arguments again replaces the schedule.
//
// A key the body leaves out counts as its empty default (path "", args [], kwargs {}, ...), the
// values EventMQ's client always writes, so `{callable: "f"}` and the full six-key body of the same
// job have one identity.

import { createHash } from "node:crypto";
import { parseJob, pyJson, type Job } from "../emqp/index.js";

/** The six keys hashed, with their defaults filled in. */
export function identityOf(job: Job): Record<string, unknown> {
  return {
    args: job.args ?? [],
    kwargs: job.kwargs ?? {},
    class_args: job.class_args ?? [],
    class_kwargs: job.class_kwargs ?? {},
    path: job.path ?? "",
    callable: job.callable,
  };
}

/** SHA-1 hex of the job's identity (EventMQ's schedule_hash). */
export function jobHash(job: Job): string {
  return createHash("sha1").update(pyJson(identityOf(job), true), "utf8").digest("hex");
}

/** jobHash of a job body (`["run", {...}]`); throws EmqpError (bad-json, bad-job) for a bad body. */
export function jobHashOfBody(body: string): string {
  return jobHash(parseJob(body));
}
