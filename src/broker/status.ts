// The admin socket's JSON answers: EventMQ's keys and shapes (spec/emqp.md §3.4) so its tools
// keep working, plus fields of ours that EventMQ's readers ignore.

import type { Deque } from "./deque.js";
import type { BrokerCounters, BrokerState } from "./broker.js";
import type { JobRecord, SchedulerRecord, WorkerRecord } from "./records.js";
import type { WeightedQueues } from "./weighted.js";

export interface StatusInput {
  now: number;
  started: number;
  state: BrokerState;
  jobs: Iterable<JobRecord>;
  waiting: Map<string, Deque<JobRecord>>;
  processedByQueue: Map<string, number>;
  workers: Iterable<WorkerRecord>;
  schedulers: number;
  counters: BrokerCounters;
}

export function adminStatus(s: StatusInput) {
  const inflight: Record<string, number> = {};
  const sumAge: Record<string, number> = {};
  const maxAge: Record<string, number> = {};
  for (const job of s.jobs) {
    if (!job.worker) continue;
    const age = s.now - job.accepted;
    inflight[job.queue] = (inflight[job.queue] ?? 0) + 1;
    sumAge[job.queue] = (sumAge[job.queue] ?? 0) + age;
    maxAge[job.queue] = Math.max(maxAge[job.queue] ?? 0, age);
  }
  const latency: Record<string, number> = {};
  const maxLatency: Record<string, number> = {};
  for (const q of Object.keys(inflight)) {
    latency[q] = Math.round(sumAge[q]! / inflight[q]!);
    maxLatency[q] = Math.round(maxAge[q]!);
  }
  const waiting: Record<string, number> = {};
  for (const [q, d] of s.waiting) waiting[q] = d.length;
  const byWorker: Record<string, number> = {};
  let workers = 0;
  for (const w of s.workers) {
    byWorker[w.name] = w.processed;
    workers++;
  }
  return {
    inflight_messages_by_queue: inflight,
    latency_messages_by_queue: latency,
    max_latency_messages_by_queue: maxLatency,
    waiting_messages_by_queue: waiting,
    processed_messages_by_queue: Object.fromEntries(s.processedByQueue),
    processed_messages_by_worker: byWorker,
    // Ours:
    state: s.state,
    uptime_seconds: Math.round((s.now - s.started) / 1000),
    connected_workers: workers,
    connected_schedulers: s.schedulers,
    jobs: { ...s.counters },
  };
}

export function adminWorkers(workers: Iterable<WorkerRecord>, weighted: WeightedQueues) {
  const connected: Record<string, unknown> = {};
  for (const w of workers) {
    connected[w.name] = {
      queues: w.queues,
      hb: w.lastSeen / 1000,
      available_slots: w.slots,
      // Ours:
      running: w.running.size,
      processed: w.processed,
    };
  }
  return { connected_workers: connected, connected_queues: weighted.snapshot() };
}

export function adminSchedulers(schedulers: Iterable<SchedulerRecord>) {
  const connected: Record<string, { hb: number }> = {};
  for (const s of schedulers) connected[s.name] = { hb: s.lastSeen / 1000 };
  return { connected_schedulers: connected };
}
