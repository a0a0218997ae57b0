// The --queues option of emq-broker and emq-worker: EventMQ's JSON form `[[10, "default"]]`
// (what EVENTMQ_QUEUES holds) or a shorthand `name:weight,name2` (weight 10 when left out).

import { DEFAULT_QUEUE_WEIGHT, type QueueWeights } from "../emqp/index.js";
import { CliError } from "./args.js";

export function parseQueuesOption(raw: string, from = "--queues"): QueueWeights {
  const s = raw.trim();
  if (s.startsWith("[")) {
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch {
      throw new CliError(`${from}: not valid JSON: ${s}`);
    }
    if (!Array.isArray(v) || v.length === 0) throw new CliError(`${from}: expected a non-empty list of [weight, "name"]`);
    return v.map((q) => {
      if (!Array.isArray(q) || q.length !== 2 || typeof q[0] !== "number" || typeof q[1] !== "string" || q[1] === "") {
        throw new CliError(`${from}: ${JSON.stringify(q)} is not [weight, "name"]`);
      }
      return [q[0], q[1]] as [number, string];
    });
  }
  const out: QueueWeights = [];
  for (const part of s.split(",")) {
    const p = part.trim();
    if (p === "") continue;
    const colon = p.lastIndexOf(":");
    const name = colon < 0 ? p : p.slice(0, colon);
    const weight = colon < 0 ? DEFAULT_QUEUE_WEIGHT : Number(p.slice(colon + 1));
    if (name === "" || !Number.isFinite(weight)) throw new CliError(`${from}: ${JSON.stringify(p)} is not name or name:weight`);
    out.push([weight, name]);
  }
  if (out.length === 0) throw new CliError(`${from}: no queue named`);
  return out;
}
