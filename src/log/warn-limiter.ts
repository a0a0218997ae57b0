// Warnings about bad input, rate-limited per kind: a flood of garbage from one peer logs one line
// per kind and second with a count of what it left out, not a line per message.

import { performance } from "node:perf_hooks";
import type { LogFields, Logger } from "./logger.js";

/** Kinds remembered at most (the oldest is forgotten first). */
const MAX_KINDS = 1000;

export class WarnLimiter {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly everyMs = 1000,
  ) {}

  /** Warns unless `key` warned less than everyMs ago; a line after a quiet spell says how many
   * were left out (`alsoSince`). */
  warn(key: string, msg: string, fields: LogFields): void {
    const now = performance.now();
    const w = this.seen.get(key);
    if (w && now - w.at < this.everyMs) {
      w.suppressed++;
      return;
    }
    this.seen.set(key, { at: now, suppressed: 0 });
    if (this.seen.size > MAX_KINDS) this.seen.delete(this.seen.keys().next().value!);
    this.log.warn(msg, w && w.suppressed > 0 ? { ...fields, alsoSince: w.suppressed } : fields);
  }
}
