// What the broker knows about its peers and the jobs it holds.

import type { Buffer } from "node:buffer";
import type { Headers, QueueWeights } from "../emqp/index.js";

export interface WorkerRecord {
  /** Routing id, and its key (latin1 of the bytes) in the broker's maps. */
  id: Buffer;
  key: string;
  /** For logs and admin JSON: the id as text if it is UTF-8, else 0x + hex. */
  name: string;
  /** [weight, queue] in the worker's INFORM order (READY takes buffered jobs in this order). */
  queues: QueueWeights;
  /** READYs not yet used by a job. */
  slots: number;
  /** performance.now() of the last message from it. */
  lastSeen: number;
  /** Jobs it is running, by msgid. */
  running: Map<string, JobRecord>;
  processed: number;
  /** Said KBYE with jobs still running: gets no new jobs, is removed once they are answered. */
  leaving: boolean;
  /** Attempts the broker timed out on this worker, by msgid: their late REPLYs are ignored. */
  stale: Map<string, number>;
}

export interface SchedulerRecord {
  id: Buffer;
  key: string;
  name: string;
  lastSeen: number;
}

export interface JobRecord {
  msgid: string;
  /** The msgid frame as the client sent it (forwarded and echoed without re-encoding). */
  idFrame: Buffer;
  client: Buffer;
  /** The queue it waits in (after EventMQ's unknown-queue -> default rewrite). */
  queue: string;
  headers: Headers;
  /** The REQUEST's frames from the queue name on, headers frame already rewritten for workers. */
  body: Buffer[];
  /** Re-runs left after a failure (retry-count:N). */
  retriesLeft: number;
  attempts: number;
  /** performance.now() when accepted. */
  accepted: number;
  worker: WorkerRecord | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}
