// The store's mutations as plain records. Every change to the store is one record applied by
// QueueStore.apply(); the live operations build a record and apply it, and durable mode writes the
// same record to the journal, so replaying the journal takes exactly the path the live broker took.
// Records carry the time they happened (`at`, ms since the epoch) and every id the store chose, so
// a replay needs no clock and no randomness. `p` is the project, null for the global scope.

export type Project = string | null;

export type StoreRecord =
  | { op: "queue"; p: Project; q: string; at: number }
  | { op: "drop"; p: Project; q: string }
  | { op: "meta"; p: Project; q: string; meta: Record<string, unknown> }
  /** m: [id, ttl seconds, body] per message, in marker order. c: the poster's Client-ID. */
  | { op: "post"; p: Project; q: string; at: number; c: string; m: [string, number, unknown][] }
  | { op: "del"; p: Project; q: string; ids: string[] }
  | { op: "claim"; p: Project; q: string; at: number; id: string; ttl: number; grace: number; ids: string[] }
  | { op: "renew"; p: Project; q: string; at: number; id: string; ttl: number }
  | { op: "release"; p: Project; q: string; id: string }
  // Snapshot records: the state itself rather than how it came about (written by compaction).
  | { op: "restore"; p: Project; q: string; created: number; meta: Record<string, unknown>; next: number }
  | {
      op: "msg";
      p: Project;
      q: string;
      id: string;
      marker: number;
      created: number;
      ttl: number;
      expires: number;
      c: string;
      body: unknown;
    }
  | { op: "claimed"; p: Project; q: string; id: string; ttl: number; expires: number; ids: string[] };

const OPS = new Set(["queue", "drop", "meta", "post", "del", "claim", "renew", "release", "restore", "msg", "claimed"]);

/** A shape check for records read back from disk, so a journal from another program fails loudly. */
export function isStoreRecord(value: unknown): value is StoreRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.op === "string" && OPS.has(r.op) && typeof r.q === "string" && (r.p === null || typeof r.p === "string");
}
