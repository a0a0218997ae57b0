// The simplest possible model of QueueStore (src/queue-api/store.ts), for the model-based tests in
// model.test.ts. Plain arrays, no heaps, no laziness: every operation first drops what is due at
// the current time (claims with expires <= now, then messages with expires <= now) by filtering
// everything, then does its work by scanning. The semantics are the reference's (marconi.md §2):
//   - a message is gone at created + ttl (ms clock, exact); age = floor((now - created) / 1000);
//   - a claim takes the oldest free messages by marker; it ends at now + ttl; grace stretches each
//     claimed message to at least claim expiry + grace, a renew to at least the new claim expiry;
//     longer-lived ones keep theirs; a stretched message reports ttl = its life in whole seconds,
//     rounded down (floor((expires - created) / 1000)), so age <= ttl while it lives;
//   - a claim whose messages are all gone (deleted) no longer exists (Marconi: a claim is found
//     through its messages), so GET/PATCH of it are 404;
//   - single delete: the 403/400 table of §2.3; bulk delete ignores claims;
//   - echo hides the caller's own messages from listing only;
//   - capacity refusals are 503 and change nothing.
// Ids are the store's: the model takes the ids the store hands out and checks they are fresh.

import type { ClaimView, ListOptions, MessageView, QueueStats } from "../../src/queue-api/store.js";
import type { Project } from "../../src/queue-api/records.js";

export interface MMsg {
  id: string;
  marker: number;
  created: number;
  ttl: number;
  expires: number;
  client: string;
  body: unknown;
  size: number;
}

export interface MClaim {
  id: string;
  ttl: number;
  expires: number;
  /** In claim order (oldest marker first). */
  ids: string[];
}

export interface MQueue {
  p: Project;
  q: string;
  next: number;
  meta: Record<string, unknown>;
  /** Marker order. */
  msgs: MMsg[];
  claims: MClaim[];
}

export interface MError {
  status: number;
  title: string;
  /** Compared for 400/403 (the text tells the two 400 cases apart); 503 texts carry numbers. */
  description?: string;
}

/** What an operation gave back: a value or an ApiError's essentials. */
export type Outcome<T> = { ok: T } | { err: MError };

/** The expected result plus the op of the one record the store must emit (null: none). */
export interface Step<T> {
  out: Outcome<T>;
  rec: string | null;
}

export interface Capacity {
  maxMessagesPerQueue: number;
  maxTotalBytes: number;
  maxQueues: number;
}

const FORBIDDEN = "Unable to delete";
const INVALID = "Invalid API call";
const UNAVAILABLE = "Service temporarily unavailable";

const key = (p: Project, q: string): string => `${p === null ? "\u0000" : `=${p}`}/${q}`;

export class StoreModel {
  time: number;
  readonly queues = new Map<string, MQueue>();
  /** Every id the store ever handed out, to check new ones are fresh. */
  readonly seenIds = new Set<string>();

  constructor(
    start: number,
    readonly capacity: Capacity,
    readonly sizeOf: (body: unknown) => number,
  ) {
    this.time = start;
  }

  // ---- time ----

  /** The store's clock never goes back: an earlier reading changes nothing. */
  at(now: number): number {
    if (now > this.time) this.time = now;
    const t = this.time;
    for (const queue of this.queues.values()) {
      queue.claims = queue.claims.filter((c) => c.expires > t);
      queue.msgs = queue.msgs.filter((m) => m.expires > t);
      this.dropGone(queue);
    }
    return t;
  }

  /** Forget deleted/expired messages in claims; a claim left with none is gone. */
  private dropGone(queue: MQueue): void {
    const live = new Set(queue.msgs.map((m) => m.id));
    for (const c of queue.claims) c.ids = c.ids.filter((id) => live.has(id));
    queue.claims = queue.claims.filter((c) => c.ids.length > 0);
  }

  queue(p: Project, q: string): MQueue | undefined {
    return this.queues.get(key(p, q));
  }

  claimOf(queue: MQueue, id: string): MClaim | undefined {
    return queue.claims.find((c) => c.ids.includes(id));
  }

  counters(): { queues: number; messages: number; bytes: number; claims: number } {
    let messages = 0;
    let bytes = 0;
    let claims = 0;
    for (const queue of this.queues.values()) {
      messages += queue.msgs.length;
      for (const m of queue.msgs) bytes += m.size;
      claims += queue.claims.length;
    }
    return { queues: this.queues.size, messages, bytes, claims };
  }

  view(m: MMsg): MessageView {
    return { id: m.id, ttl: m.ttl, age: age(m.created, this.time), body: m.body, created: m.created };
  }

  claimView(queue: MQueue, c: MClaim): ClaimView {
    const messages = c.ids.map((id) => ({ ...this.view(queue.msgs.find((m) => m.id === id)!), claimId: c.id }));
    return { id: c.id, ttl: c.ttl, age: age(c.expires - c.ttl * 1000, this.time), messages };
  }

  /** Takes ids from the store: each must be new. Returns a description of the problem, or undefined. */
  fresh(ids: readonly string[]): string | undefined {
    for (const id of ids) {
      if (typeof id !== "string" || id.length === 0) return `id ${String(id)} is not a non-empty string`;
      if (this.seenIds.has(id)) return `id ${id} was handed out before`;
      this.seenIds.add(id);
    }
    return undefined;
  }

  // ---- queues ----

  createQueue(p: Project, q: string): Step<boolean> {
    if (this.queue(p, q)) return { out: { ok: false }, rec: null };
    if (this.queues.size >= this.capacity.maxQueues) return { out: { err: { status: 503, title: UNAVAILABLE } }, rec: null };
    this.queues.set(key(p, q), { p, q, next: 1, meta: {}, msgs: [], claims: [] });
    return { out: { ok: true }, rec: "queue" };
  }

  deleteQueue(p: Project, q: string): Step<void> {
    if (!this.queues.delete(key(p, q))) return { out: { ok: undefined }, rec: null };
    return { out: { ok: undefined }, rec: "drop" };
  }

  queueExists(p: Project, q: string): boolean {
    return this.queue(p, q) !== undefined;
  }

  listQueues(p: Project, marker: string | undefined, limit: number): { name: string; metadata: Record<string, unknown> }[] {
    return [...this.queues.values()]
      .filter((x) => x.p === p && (marker === undefined || x.q > marker))
      .map((x) => x.q)
      .sort()
      .slice(0, limit)
      .map((name) => ({ name, metadata: this.queue(p, name)!.meta }));
  }

  setMetadata(p: Project, q: string, meta: Record<string, unknown>): Step<boolean> {
    const queue = this.queue(p, q);
    if (!queue) return { out: { ok: false }, rec: null };
    queue.meta = meta;
    return { out: { ok: true }, rec: "meta" };
  }

  getMetadata(p: Project, q: string): Record<string, unknown> | undefined {
    return this.queue(p, q)?.meta;
  }

  stats(p: Project, q: string): QueueStats | undefined {
    const queue = this.queue(p, q);
    if (!queue) return undefined;
    const total = queue.msgs.length;
    const claimed = queue.msgs.filter((m) => this.claimOf(queue, m.id)).length;
    const s: QueueStats = { claimed, free: total - claimed, total };
    if (total > 0) {
      s.oldest = this.view(queue.msgs[0]!);
      s.newest = this.view(queue.msgs[total - 1]!);
    }
    return s;
  }

  // ---- messages ----

  /** `ids` are the store's answer, used when the model agrees a post happens. */
  post(p: Project, q: string, client: string, items: { ttl: number; body: unknown }[], ids: string[] | undefined): Step<string[] | undefined> {
    const queue = this.queue(p, q);
    if (!queue) return { out: { ok: undefined }, rec: null };
    if (queue.msgs.length + items.length > this.capacity.maxMessagesPerQueue) {
      return { out: { err: { status: 503, title: UNAVAILABLE } }, rec: null };
    }
    const sizes = items.map((it) => this.sizeOf(it.body));
    if (this.counters().bytes + sizes.reduce((a, b) => a + b, 0) > this.capacity.maxTotalBytes) {
      return { out: { err: { status: 503, title: UNAVAILABLE } }, rec: null };
    }
    // The ids are the store's choice; the comparison checks there is one per item.
    const given = ids ?? [];
    items.forEach((it, i) => {
      queue.msgs.push({
        id: given[i] ?? `<missing ${i}>`,
        marker: queue.next++,
        created: this.time,
        ttl: it.ttl,
        expires: this.time + it.ttl * 1000,
        client,
        body: it.body,
        size: sizes[i]!,
      });
    });
    return { out: { ok: items.map((_, i) => given[i] ?? `<missing ${i}>`) }, rec: "post" };
  }

  list(p: Project, q: string, o: ListOptions): { messages: MessageView[]; lastMarker: number } | undefined {
    const queue = this.queue(p, q);
    if (!queue) return undefined;
    const after = o.marker === undefined ? 0 : /^\d+$/.test(o.marker) ? Number(o.marker) : Infinity;
    const page = queue.msgs
      .filter((m) => m.marker > after)
      .filter((m) => o.includeClaimed || !this.claimOf(queue, m.id))
      .filter((m) => o.echo || m.client !== o.clientId)
      .slice(0, o.limit);
    return { messages: page.map((m) => this.view(m)), lastMarker: page.length > 0 ? page[page.length - 1]!.marker : after };
  }

  get(p: Project, q: string, id: string): MessageView | undefined {
    const m = this.queue(p, q)?.msgs.find((x) => x.id === id);
    return m ? this.view(m) : undefined;
  }

  getMany(p: Project, q: string, ids: string[]): MessageView[] {
    const queue = this.queue(p, q);
    if (!queue) return [];
    const out: MessageView[] = [];
    for (const id of new Set(ids)) {
      const m = queue.msgs.find((x) => x.id === id);
      if (m) out.push(this.view(m));
    }
    return out;
  }

  deleteMessage(p: Project, q: string, id: string, claimId: string | undefined): Step<void> {
    const queue = this.queue(p, q);
    const m = queue?.msgs.find((x) => x.id === id);
    if (!queue || !m) return { out: { ok: undefined }, rec: null };
    const holder = this.claimOf(queue, id);
    const named = claimId === undefined ? undefined : queue.claims.find((c) => c.id === claimId);
    if (claimId === undefined && holder) {
      return { out: { err: { status: 403, title: FORBIDDEN, description: "This message is claimed; it cannot be deleted without a valid claim ID." } }, rec: null };
    }
    if (claimId !== undefined && !holder) {
      const description = named ? "A claim was specified, but the message is not currently claimed." : "The specified claim does not exist or has expired.";
      return { out: { err: { status: 400, title: INVALID, description } }, rec: null };
    }
    if (claimId !== undefined && holder && holder.id !== claimId) {
      if (named) {
        return {
          out: { err: { status: 403, title: FORBIDDEN, description: "This message is claimed by another claim; it cannot be deleted with this claim ID." } },
          rec: null,
        };
      }
      return { out: { err: { status: 400, title: INVALID, description: "The specified claim does not exist or has expired." } }, rec: null };
    }
    queue.msgs = queue.msgs.filter((x) => x !== m);
    this.dropGone(queue);
    return { out: { ok: undefined }, rec: "del" };
  }

  deleteMany(p: Project, q: string, ids: string[]): Step<void> {
    const queue = this.queue(p, q);
    if (!queue) return { out: { ok: undefined }, rec: null };
    const doomed = new Set(ids);
    const before = queue.msgs.length;
    queue.msgs = queue.msgs.filter((m) => !doomed.has(m.id));
    this.dropGone(queue);
    return { out: { ok: undefined }, rec: queue.msgs.length < before ? "del" : null };
  }

  // ---- claims ----

  /** `id` is the store's claim id, used when the model agrees a claim is made. */
  claim(p: Project, q: string, ttl: number, grace: number, limit: number, id: string | undefined): Step<ClaimView | undefined> {
    const queue = this.queue(p, q);
    if (!queue) return { out: { ok: undefined }, rec: null };
    const picked = queue.msgs.filter((m) => !this.claimOf(queue, m.id)).slice(0, limit);
    if (picked.length === 0) return { out: { ok: undefined }, rec: null };
    const c: MClaim = { id: id ?? "<missing claim id>", ttl, expires: this.time + ttl * 1000, ids: picked.map((m) => m.id) };
    queue.claims.push(c);
    const until = c.expires + grace * 1000;
    for (const m of picked) {
      if (m.expires < until) {
        m.expires = until;
        m.ttl = Math.floor((until - m.created) / 1000);
      }
    }
    return { out: { ok: this.claimView(queue, c) }, rec: "claim" };
  }

  getClaim(p: Project, q: string, id: string): ClaimView | undefined {
    const queue = this.queue(p, q);
    const c = queue?.claims.find((x) => x.id === id);
    return queue && c ? this.claimView(queue, c) : undefined;
  }

  renewClaim(p: Project, q: string, id: string, ttl: number): Step<boolean> {
    const queue = this.queue(p, q);
    const c = queue?.claims.find((x) => x.id === id);
    if (!queue || !c) return { out: { ok: false }, rec: null };
    c.ttl = ttl;
    c.expires = this.time + ttl * 1000;
    for (const mid of c.ids) {
      const m = queue.msgs.find((x) => x.id === mid)!;
      if (m.expires < c.expires) {
        m.expires = c.expires;
        m.ttl = Math.floor((c.expires - m.created) / 1000);
      }
    }
    return { out: { ok: true }, rec: "renew" };
  }

  releaseClaim(p: Project, q: string, id: string): Step<void> {
    const queue = this.queue(p, q);
    if (!queue || !queue.claims.some((c) => c.id === id)) return { out: { ok: undefined }, rec: null };
    queue.claims = queue.claims.filter((c) => c.id !== id);
    return { out: { ok: undefined }, rec: "release" };
  }

  /** Every live message and claim expiry instant, for boundary jumps of the clock. */
  instants(): { msgs: number[]; claims: number[] } {
    const msgs: number[] = [];
    const claims: number[] = [];
    for (const queue of this.queues.values()) {
      for (const m of queue.msgs) msgs.push(m.expires);
      for (const c of queue.claims) claims.push(c.expires);
    }
    return { msgs, claims };
  }
}

function age(since: number, t: number): number {
  return Math.max(0, Math.floor((t - since) / 1000));
}
