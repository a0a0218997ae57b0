// The admin reports as text: exact layouts for typical answers, and any JSON object a broker might
// send (fields missing, of the wrong type, or extra) prints without throwing.

import t from "tap";
import fc from "fast-check";
import { formatSchedulers, formatStatus, formatWorkers } from "../../src/client/report-text.js";
import type { SchedulersReport, StatusReport, WorkersReport } from "../../src/client/index.js";

t.test("status", async (t) => {
  const text = formatStatus({
    inflight_messages_by_queue: { default: 2 },
    latency_messages_by_queue: { default: 15 },
    max_latency_messages_by_queue: { default: 40 },
    waiting_messages_by_queue: { default: 7, mail: 1 },
    processed_messages_by_queue: { default: 1234 },
    processed_messages_by_worker: { w1: 1234 },
    draining: false,
  });
  t.equal(
    text,
    [
      "QUEUE    WAITING  IN FLIGHT  PROCESSED  LATENCY MS  MAX LATENCY MS",
      "default        7          2       1234          15              40",
      "mail           1          -          -           -               -",
      "",
      "WORKER  PROCESSED",
      "w1           1234",
      "",
      "draining: false",
      "",
    ].join("\n"),
  );
  t.equal(formatStatus({} as StatusReport), "no queues\n");
});

t.test("workers and schedulers", async (t) => {
  const text = formatWorkers({
    connected_workers: {
      a: { queues: [[10, "default"], [5, "mail"]], hb: 1, available_slots: 4 },
      bb: { queues: [[10, "default"]], hb: 2, available_slots: 0 },
    },
    connected_queues: { default: [[10, "a"], [10, "bb"]], mail: [[5, "a"]] },
  });
  t.equal(
    text,
    [
      "2 workers connected",
      "",
      "WORKER  FREE SLOTS  QUEUES",
      "a                4  default (10), mail (5)",
      "bb               0  default (10)",
      "",
      "QUEUE    WORKERS (weight)",
      "default  a (10), bb (10)",
      "mail     a (5)",
      "",
    ].join("\n"),
  );
  t.equal(formatWorkers({ connected_workers: {}, connected_queues: {} }), "0 workers connected\n");
  t.equal(formatSchedulers({ connected_schedulers: { s1: { hb: 1 }, s2: { hb: 2 } } }), "2 schedulers connected\n  s1\n  s2\n");
  t.equal(formatSchedulers({ connected_schedulers: { s1: { hb: 1 } } }), "1 scheduler connected\n  s1\n");
});

t.test("any JSON object prints without throwing", async (t) => {
  const known = ["connected_workers", "connected_queues", "connected_schedulers", "waiting_messages_by_queue", "processed_messages_by_worker"];
  const report = fc.dictionary(fc.oneof(fc.constantFrom(...known), fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 });
  fc.assert(
    fc.property(report, (r) => {
      for (const out of [formatStatus(r as StatusReport), formatWorkers(r as WorkersReport), formatSchedulers(r as SchedulersReport)]) {
        if (typeof out !== "string" || !out.endsWith("\n")) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass("300 random reports formatted");
});
