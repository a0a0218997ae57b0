// The queue store: projects, queues, messages and claims in memory, with Marconi v1 semantics made
// exact (reference marconi.md §2): an expired message or claim is gone for every operation at the
// millisecond it expires, claims take the oldest free messages, grace stretches a claimed message's
// life, echo hides a client's own messages from listing only, and projects never see each other.
//
// Every change goes through apply(record) (see records.ts), so the journal replays what happened.
// Time comes from an injected clock; expiry is processed lazily at the start of each operation from
// two heaps ordered by expiry time, so nothing runs on timers and a test can jump the clock.
// Knows nothing about hrefs or statuses, except the delete-with-claim refusals and the capacity
// refusals, which it throws as ApiErrors because only it knows why.

import { encodedSize } from "./codec.js";
import { ApiError, TITLE, invalidCall, unavailable } from "./errors.js";
import { Heap } from "./heap.js";
import { DEFAULT_CAPACITY, type CapacityOptions } from "./limits.js";
import type { Project, StoreRecord } from "./records.js";

export interface StoreOptions extends CapacityOptions {
  /** Milliseconds since the epoch; Date.now by default. Tests inject a fake. */
  now?: () => number;
  /** Called with every record the live operations apply (durable mode writes them out). */
  sink?: (record: StoreRecord) => void;
  /** Bytes a message body is charged against maxTotalBytes. */
  sizeOf?: (body: unknown) => number;
}

/** A message as the API layer shows it. */
export interface MessageView {
  id: string;
  ttl: number;
  age: number;
  body: unknown;
  /** Set when the view comes from a claim, for the `?claim_id=` in its href. */
  claimId?: string;
  created: number;
}

export interface ClaimView {
  id: string;
  ttl: number;
  age: number;
  messages: MessageView[];
}

export interface QueueStats {
  claimed: number;
  free: number;
  total: number;
  oldest?: MessageView;
  newest?: MessageView;
}

export interface ListOptions {
  marker?: string;
  limit: number;
  echo: boolean;
  includeClaimed: boolean;
  clientId: string;
}

interface Msg {
  id: string;
  marker: number;
  created: number;
  ttl: number;
  expires: number;
  client: string;
  body: unknown;
  size: number;
  claim: Claim | null;
  dead: boolean;
  /** Whether an entry for it sits in its queue's `free` heap (valid or not): at most one does. */
  inFree: boolean;
  queue: Queue;
}

interface Claim {
  id: string;
  ttl: number;
  expires: number;
  msgs: Set<Msg>;
  dead: boolean;
  queue: Queue;
}

interface Queue {
  project: Project;
  name: string;
  created: number;
  meta: Record<string, unknown>;
  /** The next marker: a per-queue counter, so markers follow arrival order. */
  next: number;
  byId: Map<string, Msg>;
  /** Live messages by marker, plus dead ones not yet compacted out (from `head` on). */
  order: Msg[];
  head: number;
  orderDead: number;
  /** Messages under no live claim, oldest marker first (lazy: dead or claimed entries are skipped). */
  free: Heap<Msg>;
  claims: Map<string, Claim>;
  claimed: number;
  dead: boolean;
}

interface Timed<T> {
  at: number;
  item: T;
}

const byAt = <T>(a: Timed<T>, b: Timed<T>): boolean => a.at < b.at;
const REBUILD_MIN = 1024;
// The free heaps are per queue, so their slack is paid once per queue: keep it small.
const FREE_REBUILD_MIN = 64;

export class QueueStore {
  private readonly projects = new Map<Project, Map<string, Queue>>();
  // Each live message and claim has exactly one entry whose `at` equals its expiry; the others
  // (left by extensions, renewals, deletes) are stale and skipped, so stale = size - live.
  private readonly msgExpiry = new Heap<Timed<Msg>>(byAt);
  private readonly claimExpiry = new Heap<Timed<Claim>>(byAt);
  private readonly now: () => number;
  private readonly capacity: Required<CapacityOptions>;
  private readonly sizeOf: (body: unknown) => number;
  private clock = 0;
  private knownSizes: number[] | undefined;
  private idPrefix = randomHex(8);
  private idCounter = 0;
  sink: ((record: StoreRecord) => void) | undefined;

  /** What the store holds, for stats, limits and compaction decisions. */
  readonly counters = { queues: 0, messages: 0, bytes: 0, claims: 0 };

  constructor(options: StoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sink = options.sink;
    this.sizeOf = options.sizeOf ?? ((body) => encodedSize(body, "msgpack"));
    this.capacity = {
      maxMessagesPerQueue: options.maxMessagesPerQueue ?? DEFAULT_CAPACITY.maxMessagesPerQueue,
      maxTotalBytes: options.maxTotalBytes ?? DEFAULT_CAPACITY.maxTotalBytes,
      maxQueues: options.maxQueues ?? DEFAULT_CAPACITY.maxQueues,
    };
  }

  // ---- queues ----

  /** True when created, false when it already existed (metadata untouched). */
  createQueue(p: Project, q: string): boolean {
    const at = this.tick();
    if (this.queue(p, q)) return false;
    if (this.counters.queues >= this.capacity.maxQueues) {
      throw unavailable(`Queue ${q} could not be created: this broker already holds ${this.capacity.maxQueues} queues (the --queue-max-queues limit).`);
    }
    this.commit({ op: "queue", p, q, at });
    return true;
  }

  queueExists(p: Project, q: string): boolean {
    this.tick();
    return this.queue(p, q) !== undefined;
  }

  deleteQueue(p: Project, q: string): void {
    this.tick();
    if (this.queue(p, q)) this.commit({ op: "drop", p, q });
  }

  /** Queue names after `marker`, in name order, at most `limit`. */
  listQueues(p: Project, marker: string | undefined, limit: number): { name: string; metadata: Record<string, unknown> }[] {
    this.tick();
    const scope = this.projects.get(p);
    if (!scope) return [];
    const names = [...scope.keys()].filter((n) => marker === undefined || n > marker).sort();
    return names.slice(0, limit).map((name) => ({ name, metadata: scope.get(name)!.meta }));
  }

  getMetadata(p: Project, q: string): Record<string, unknown> | undefined {
    this.tick();
    return this.queue(p, q)?.meta;
  }

  /** False when the queue does not exist. */
  setMetadata(p: Project, q: string, meta: Record<string, unknown>): boolean {
    this.tick();
    if (!this.queue(p, q)) return false;
    this.commit({ op: "meta", p, q, meta });
    return true;
  }

  stats(p: Project, q: string): QueueStats | undefined {
    const t = this.tick();
    const queue = this.queue(p, q);
    if (!queue) return undefined;
    const total = queue.byId.size;
    const stats: QueueStats = { claimed: queue.claimed, free: total - queue.claimed, total };
    if (total > 0) {
      const oldest = this.firstLive(queue);
      const newest = this.lastLive(queue);
      if (oldest) stats.oldest = view(oldest, t);
      if (newest) stats.newest = view(newest, t);
    }
    return stats;
  }

  // ---- messages ----

  /**
   * Post a batch, all or nothing. Returns the new ids in submission order, or undefined when the
   * queue does not exist. Capacity refusals (503) leave the queue as it was.
   */
  post(p: Project, q: string, client: string, items: { ttl: number; body: unknown }[]): string[] | undefined {
    const at = this.tick();
    const queue = this.queue(p, q);
    if (!queue) return undefined;
    if (queue.byId.size + items.length > this.capacity.maxMessagesPerQueue) {
      throw unavailable(
        `Messages could not be enqueued: queue ${q} holds ${queue.byId.size} messages and the limit is ${this.capacity.maxMessagesPerQueue} (--queue-max-messages).`,
      );
    }
    let bytes = 0;
    const sizes = items.map((it) => this.sizeOf(it.body));
    for (const n of sizes) bytes += n;
    if (this.counters.bytes + bytes > this.capacity.maxTotalBytes) {
      throw unavailable(
        `Messages could not be enqueued: the broker holds ${this.counters.bytes} bytes of messages and the limit is ${this.capacity.maxTotalBytes} (--queue-max-bytes).`,
      );
    }
    const m: [string, number, unknown][] = items.map((it) => [this.newId(queue.byId), it.ttl, it.body]);
    // apply() would measure the bodies again; hand it the sizes just computed.
    this.knownSizes = sizes;
    try {
      this.commit({ op: "post", p, q, at, c: client, m });
    } finally {
      this.knownSizes = undefined;
    }
    return m.map((x) => x[0]);
  }

  /** A page of messages after `marker`, oldest first; undefined when the queue does not exist. */
  list(p: Project, q: string, o: ListOptions): { messages: MessageView[]; lastMarker: number } | undefined {
    const t = this.tick();
    const queue = this.queue(p, q);
    if (!queue) return undefined;
    // A marker that is not one of ours is not an error, just a position past everything.
    const after = o.marker === undefined ? 0 : /^\d+$/.test(o.marker) ? Number(o.marker) : Infinity;
    const out: MessageView[] = [];
    let lastMarker = after;
    const order = queue.order;
    for (let i = this.firstAfter(queue, after); i < order.length && out.length < o.limit; i++) {
      const m = order[i]!;
      if (m.dead) continue;
      if (!o.includeClaimed && m.claim) continue;
      if (!o.echo && m.client === o.clientId) continue;
      out.push(view(m, t));
      lastMarker = m.marker;
    }
    return { messages: out, lastMarker };
  }

  get(p: Project, q: string, id: string): MessageView | undefined {
    const t = this.tick();
    const m = this.queue(p, q)?.byId.get(id);
    return m ? view(m, t) : undefined;
  }

  getMany(p: Project, q: string, ids: string[]): MessageView[] {
    const t = this.tick();
    const queue = this.queue(p, q);
    if (!queue) return [];
    const out: MessageView[] = [];
    for (const id of new Set(ids)) {
      const m = queue.byId.get(id);
      if (m) out.push(view(m, t));
    }
    return out;
  }

  /**
   * Delete one message. Absent queue or message: nothing to do. A message under a live claim needs
   * that claim's id (403 otherwise); naming a claim that is not live is a 400, and the message stays.
   */
  deleteMessage(p: Project, q: string, id: string, claimId: string | undefined): void {
    this.tick();
    const queue = this.queue(p, q);
    const m = queue?.byId.get(id);
    if (!queue || !m) return;
    if (claimId === undefined) {
      if (m.claim) {
        throw new ApiError(403, TITLE.unableToDelete, "This message is claimed; it cannot be deleted without a valid claim ID.");
      }
    } else if (!m.claim) {
      throw invalidCall(
        queue.claims.has(claimId)
          ? "A claim was specified, but the message is not currently claimed."
          : "The specified claim does not exist or has expired.",
      );
    } else if (m.claim.id !== claimId) {
      if (queue.claims.has(claimId)) {
        throw new ApiError(403, TITLE.unableToDelete, "This message is claimed by another claim; it cannot be deleted with this claim ID.");
      }
      throw invalidCall("The specified claim does not exist or has expired.");
    }
    this.commit({ op: "del", p, q, ids: [id] });
  }

  /** Bulk delete by ids; claims are not checked (v1). */
  deleteMany(p: Project, q: string, ids: string[]): void {
    this.tick();
    const queue = this.queue(p, q);
    if (!queue) return;
    const present = [...new Set(ids)].filter((id) => queue.byId.has(id));
    if (present.length > 0) this.commit({ op: "del", p, q, ids: present });
  }

  // ---- claims ----

  /** Claim up to `limit` of the oldest free messages; undefined when there is nothing to claim. */
  claim(p: Project, q: string, ttl: number, grace: number, limit: number): ClaimView | undefined {
    const at = this.tick();
    const queue = this.queue(p, q);
    if (!queue) return undefined;
    const picked: Msg[] = [];
    while (picked.length < limit) {
      const m = queue.free.pop();
      if (!m) break;
      m.inFree = false;
      if (!m.dead && !m.claim) picked.push(m);
    }
    if (picked.length === 0) return undefined;
    const id = this.newId(queue.claims);
    this.commit({ op: "claim", p, q, at, id, ttl, grace, ids: picked.map((m) => m.id) });
    return this.claimView(queue.claims.get(id)!, at);
  }

  getClaim(p: Project, q: string, id: string): ClaimView | undefined {
    const t = this.tick();
    const c = this.queue(p, q)?.claims.get(id);
    return c ? this.claimView(c, t) : undefined;
  }

  /** False when the claim does not exist (or expired). */
  renewClaim(p: Project, q: string, id: string, ttl: number): boolean {
    const at = this.tick();
    if (!this.queue(p, q)?.claims.has(id)) return false;
    this.commit({ op: "renew", p, q, at, id, ttl });
    return true;
  }

  releaseClaim(p: Project, q: string, id: string): void {
    this.tick();
    if (this.queue(p, q)?.claims.has(id)) this.commit({ op: "release", p, q, id });
  }

  // ---- replay and snapshot ----

  /** Apply one record: the single place where state changes. */
  apply(r: StoreRecord): void {
    if ("at" in r) this.advance(r.at);
    switch (r.op) {
      case "queue":
        if (!this.queue(r.p, r.q)) this.addQueue(r.p, r.q, r.at, {}, 1);
        return;
      case "restore":
        this.dropQueue(r.p, r.q);
        this.addQueue(r.p, r.q, r.created, r.meta, r.next);
        return;
      case "drop":
        this.dropQueue(r.p, r.q);
        return;
      case "meta": {
        const queue = this.queue(r.p, r.q);
        if (queue) queue.meta = r.meta;
        return;
      }
      case "post": {
        const queue = this.queue(r.p, r.q);
        if (!queue) return;
        const sizes = this.knownSizes;
        r.m.forEach(([id, ttl, body], i) => this.addMsg(queue, id, queue.next++, r.at, ttl, r.at + ttl * 1000, r.c, body, sizes?.[i]));
        return;
      }
      case "msg": {
        const queue = this.queue(r.p, r.q);
        if (!queue || queue.byId.has(r.id)) return;
        if (r.marker >= queue.next) queue.next = r.marker + 1;
        this.addMsg(queue, r.id, r.marker, r.created, r.ttl, r.expires, r.c, r.body);
        return;
      }
      case "del": {
        const queue = this.queue(r.p, r.q);
        if (!queue) return;
        for (const id of r.ids) {
          const m = queue.byId.get(id);
          if (m) this.removeMsg(m);
        }
        return;
      }
      case "claim":
        this.addClaim(r.p, r.q, r.id, r.ttl, r.at + r.ttl * 1000, r.ids, r.grace);
        return;
      case "claimed":
        this.addClaim(r.p, r.q, r.id, r.ttl, r.expires, r.ids, undefined);
        return;
      case "renew": {
        const c = this.queue(r.p, r.q)?.claims.get(r.id);
        if (!c) return;
        c.ttl = r.ttl;
        c.expires = r.at + r.ttl * 1000;
        this.claimExpiry.push({ at: c.expires, item: c });
        for (const m of c.msgs) this.extend(m, c.expires);
        return;
      }
      case "release": {
        const c = this.queue(r.p, r.q)?.claims.get(r.id);
        if (c) this.endClaim(c);
        return;
      }
    }
  }

  /** Records that rebuild the current state (for journal compaction), read lazily. */
  *snapshot(): Generator<StoreRecord> {
    this.tick();
    for (const [p, scope] of this.projects) {
      for (const queue of scope.values()) {
        const q = queue.name;
        yield { op: "restore", p, q, created: queue.created, meta: queue.meta, next: queue.next };
        for (let i = queue.head; i < queue.order.length; i++) {
          const m = queue.order[i]!;
          if (m.dead) continue;
          yield { op: "msg", p, q, id: m.id, marker: m.marker, created: m.created, ttl: m.ttl, expires: m.expires, c: m.client, body: m.body };
        }
        for (const c of queue.claims.values()) {
          yield { op: "claimed", p, q, id: c.id, ttl: c.ttl, expires: c.expires, ids: [...c.msgs].map((m) => m.id) };
        }
      }
    }
  }

  /**
   * Test-only introspection: entry counts of the internal structures, stale entries included, so
   * a test can check they stay bounded by what is live. Not part of the API; O(queues).
   */
  debugSizes(): { projects: number; queues: number; msgExpiry: number; claimExpiry: number; order: number; free: number; claims: number; byId: number } {
    const s = { projects: this.projects.size, queues: 0, msgExpiry: this.msgExpiry.size, claimExpiry: this.claimExpiry.size, order: 0, free: 0, claims: 0, byId: 0 };
    for (const scope of this.projects.values()) {
      for (const queue of scope.values()) {
        s.queues++;
        s.order += queue.order.length;
        s.free += queue.free.size;
        s.claims += queue.claims.size;
        s.byId += queue.byId.size;
      }
    }
    return s;
  }

  // ---- internals ----

  private commit(r: StoreRecord): void {
    this.apply(r);
    this.sink?.(r);
  }

  /** Read the clock (never backwards) and expire what is due. */
  private tick(): number {
    this.advance(this.now());
    return this.clock;
  }

  private advance(t: number): void {
    if (t > this.clock) this.clock = t;
    const now = this.clock;
    for (;;) {
      const top = this.claimExpiry.peek();
      if (!top || top.at > now) break;
      this.claimExpiry.pop();
      const c = top.item;
      if (!c.dead && c.expires === top.at) this.endClaim(c);
    }
    for (;;) {
      const top = this.msgExpiry.peek();
      if (!top || top.at > now) break;
      this.msgExpiry.pop();
      const m = top.item;
      if (!m.dead && m.expires === top.at) this.removeMsg(m);
    }
    this.maybeRebuild();
  }

  private maybeRebuild(): void {
    if (this.msgExpiry.size > REBUILD_MIN + 2 * this.counters.messages) {
      this.msgExpiry.rebuild((e) => !e.item.dead && e.item.expires === e.at);
    }
    if (this.claimExpiry.size > REBUILD_MIN + 2 * this.counters.claims) {
      this.claimExpiry.rebuild((e) => !e.item.dead && e.item.expires === e.at);
    }
  }

  private queue(p: Project, q: string): Queue | undefined {
    return this.projects.get(p)?.get(q);
  }

  private addQueue(p: Project, q: string, created: number, meta: Record<string, unknown>, next: number): void {
    let scope = this.projects.get(p);
    if (!scope) this.projects.set(p, (scope = new Map()));
    scope.set(q, {
      project: p,
      name: q,
      created,
      meta,
      next,
      byId: new Map(),
      order: [],
      head: 0,
      orderDead: 0,
      free: new Heap<Msg>((a, b) => a.marker < b.marker),
      claims: new Map(),
      claimed: 0,
      dead: false,
    });
    this.counters.queues++;
  }

  private dropQueue(p: Project, q: string): void {
    const scope = this.projects.get(p);
    const queue = scope?.get(q);
    if (!scope || !queue) return;
    for (const c of queue.claims.values()) c.dead = true;
    this.counters.claims -= queue.claims.size;
    for (const m of queue.byId.values()) {
      m.dead = true;
      m.body = null;
    }
    this.counters.messages -= queue.byId.size;
    for (const m of queue.byId.values()) this.counters.bytes -= m.size;
    queue.dead = true;
    scope.delete(q);
    if (scope.size === 0) this.projects.delete(p);
    this.counters.queues--;
    this.maybeRebuild();
  }

  private addMsg(queue: Queue, id: string, marker: number, created: number, ttl: number, expires: number, client: string, body: unknown, known?: number): void {
    const size = known ?? this.sizeOf(body);
    const m: Msg = { id, marker, created, ttl, expires, client, body, size, claim: null, dead: false, inFree: true, queue };
    queue.byId.set(id, m);
    // Snapshots may restore out of order; keep `order` sorted by marker.
    const order = queue.order;
    if (order.length === queue.head || order[order.length - 1]!.marker < marker) order.push(m);
    else order.splice(this.firstAfter(queue, marker), 0, m);
    queue.free.push(m);
    this.msgExpiry.push({ at: expires, item: m });
    this.counters.messages++;
    this.counters.bytes += size;
  }

  private removeMsg(m: Msg): void {
    const queue = m.queue;
    m.dead = true;
    m.body = null;
    queue.byId.delete(m.id);
    const c = m.claim;
    if (c) {
      c.msgs.delete(m);
      m.claim = null;
      queue.claimed--;
      // A claim is its messages (Marconi finds a claim through them): with the last one deleted it
      // is gone, as a snapshot would have it too (a "claimed" record with no ids restores nothing).
      if (c.msgs.size === 0) this.endClaim(c);
    }
    this.counters.messages--;
    this.counters.bytes -= m.size;
    queue.orderDead++;
    this.compactOrder(queue);
    this.maybeRebuildFree(queue);
  }

  /** Drop dead messages from the order array: at the ends at once, in the middle when they pile up. */
  private compactOrder(queue: Queue): void {
    const order = queue.order;
    while (queue.head < order.length && order[queue.head]!.dead) {
      queue.head++;
      queue.orderDead--;
    }
    while (order.length > queue.head && order[order.length - 1]!.dead) {
      order.pop();
      queue.orderDead--;
    }
    if (queue.head === order.length) {
      order.length = 0;
      queue.head = 0;
      queue.orderDead = 0;
    } else if (queue.head > 64 && queue.head * 2 > order.length) {
      queue.order = order.slice(queue.head);
      queue.head = 0;
    }
    if (queue.orderDead > 64 && queue.orderDead * 2 > queue.order.length - queue.head) {
      queue.order = queue.order.slice(queue.head).filter((m) => !m.dead);
      queue.head = 0;
      queue.orderDead = 0;
    }
  }

  private addClaim(p: Project, q: string, id: string, ttl: number, expires: number, ids: string[], grace: number | undefined): void {
    const queue = this.queue(p, q);
    if (!queue || queue.claims.has(id)) return;
    const c: Claim = { id, ttl, expires, msgs: new Set(), dead: false, queue };
    for (const mid of ids) {
      const m = queue.byId.get(mid);
      if (!m || m.claim) continue;
      m.claim = c;
      c.msgs.add(m);
      queue.claimed++;
      if (grace !== undefined) this.extend(m, expires + grace * 1000);
    }
    if (c.msgs.size === 0) return;
    queue.claims.set(id, c);
    this.claimExpiry.push({ at: expires, item: c });
    this.counters.claims++;
    this.maybeRebuildFree(queue);
  }

  /** The free heap holds one entry per free message plus stale ones; drop those when they pile up. */
  private maybeRebuildFree(queue: Queue): void {
    // An empty queue's entries are all dead: drop them at once rather than keep them (and the
    // messages they point to) for as long as the queue exists.
    if (queue.byId.size === 0) {
      queue.free.clear();
      return;
    }
    if (queue.free.size <= FREE_REBUILD_MIN + 2 * (queue.byId.size - queue.claimed)) return;
    queue.free.rebuild((m) => {
      const keep = !m.dead && !m.claim;
      if (!keep) m.inFree = false;
      return keep;
    });
  }

  /** Keep a claimed message alive at least until `until`. */
  private extend(m: Msg, until: number): void {
    if (m.expires >= until) return;
    m.expires = until;
    // The reported ttl is the message's whole life in whole seconds, so that age <= ttl while it lives (Marconi
    // reported claim ttl + grace, which a message claimed late outlives).
    m.ttl = Math.floor((until - m.created) / 1000);
    this.msgExpiry.push({ at: until, item: m });
  }

  /** Release or expiry: the messages are free again, in marker order with the rest. */
  private endClaim(c: Claim): void {
    const queue = c.queue;
    c.dead = true;
    queue.claims.delete(c.id);
    this.counters.claims--;
    for (const m of c.msgs) {
      m.claim = null;
      queue.claimed--;
      // An entry left from before the claim is valid again and already sits in marker order.
      if (!m.inFree) {
        m.inFree = true;
        queue.free.push(m);
      }
    }
    c.msgs.clear();
  }

  private firstLive(queue: Queue): Msg | undefined {
    for (let i = queue.head; i < queue.order.length; i++) if (!queue.order[i]!.dead) return queue.order[i];
    return undefined;
  }

  private lastLive(queue: Queue): Msg | undefined {
    for (let i = queue.order.length - 1; i >= queue.head; i--) if (!queue.order[i]!.dead) return queue.order[i];
    return undefined;
  }

  /** Index of the first entry in `order` whose marker is greater than `marker`. */
  private firstAfter(queue: Queue, marker: number): number {
    let lo = queue.head;
    let hi = queue.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (queue.order[mid]!.marker <= marker) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private claimView(c: Claim, t: number): ClaimView {
    const messages: MessageView[] = [];
    // The set was filled oldest first, so this is marker order.
    for (const m of c.msgs) messages.push({ ...view(m, t), claimId: c.id });
    return { id: c.id, ttl: c.ttl, age: ageAt(c.expires - c.ttl * 1000, t), messages };
  }

  /** Ids are opaque: a random per-process prefix and a counter, unique across restarts. */
  private newId(taken: Map<string, unknown>): string {
    for (;;) {
      const id = this.idPrefix + (this.idCounter++).toString(16).padStart(8, "0");
      if (!taken.has(id)) return id;
      if (this.idCounter > 0xffffffff) {
        this.idPrefix = randomHex(8);
        this.idCounter = 0;
      }
    }
  }
}

function view(m: Msg, t: number): MessageView {
  return { id: m.id, ttl: m.ttl, age: ageAt(m.created, t), body: m.body, created: m.created };
}

function ageAt(since: number, t: number): number {
  return Math.max(0, Math.floor((t - since) / 1000));
}

function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

