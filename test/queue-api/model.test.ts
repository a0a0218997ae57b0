// Model-based tests of the queue store (src/queue-api/store.ts) against the naive model in
// store-model.ts, driven by fast-check with an injected clock:
//   1. random command sequences over 3 projects (global + two whose ids sort next to each other) x
//      2 queues x 2 clients: post, list (echo / include_claimed / limit, paged to the end from no,
//      a numeric or a junk marker), get, getMany, claim, getClaim, renew, release, delete (no /
//      own / another live / stale / junk claim id), bulk delete, drop and re-create queues,
//      metadata, queue listing, and the clock: random jumps, jumps onto a message's or a claim's
//      expiry instant (and one ms either side), readings that go back. Every result is compared
//      exactly with the model (ids, order, ttl, age, created, bodies, claim membership, errors with
//      status, title and the 400/403 text), every command must emit exactly the record the model
//      expects (reads none), and after every command the whole observable state (every queue's
//      stats, full listing, getMany of every id ever issued, every claim ever issued) must equal
//      the model's, with invariants checked on the store's side: no message twice or in two
//      queues, ids from other queues or projects invisible, a message in at most one live claim,
//      stats consistent with listing and claims, store.counters equal to the model's totals;
//   2. replay: the records a run emitted, applied to a fresh store, give the same observable
//      state; so does snapshot() of the live store, and a snapshot taken mid-run plus the records
//      emitted after it (also checked at the moment it is taken);
//   3. memory and capacity: the same model with tight capacity limits (refusals are 503 with
//      Retry-After and change nothing, no record), and a long deterministic run whose internal
//      sizes (QueueStore.debugSizes, test-only) stay bounded and drop to nothing once everything
//      is deleted or expired.
// Broken stores (subclasses that each break one rule) are run too, to show the model catches them.

import t from "tap";
import fc from "fast-check";
import assert from "node:assert/strict";
import { QueueStore, type ClaimView, type ListOptions, type MessageView, type QueueStats, type StoreOptions } from "../../src/queue-api/store.js";
import { ApiError } from "../../src/queue-api/errors.js";
import type { Project, StoreRecord } from "../../src/queue-api/records.js";
import { Heap } from "../../src/queue-api/heap.js";
import { StoreModel, type Capacity, type MError, type Outcome, type Step } from "./store-model.js";

const PROJECTS: Project[] = [null, "693", "694"];
const QUEUES = ["q0", "q1"];
const CLIENTS = ["3a7d9c52-3c84-4a8e-9f3e-1d2b6f0c9e11", "b6c1e0f4-8d2a-4f57-a0c3-5e9b7d4a2f60"];
const START = 1_700_000_000_123; // not on a second boundary, so age flooring matters
const sizeOf = (body: unknown): number => JSON.stringify(body).length;
const ROOMY: Capacity = { maxMessagesPerQueue: 1_000_000, maxTotalBytes: 1 << 30, maxQueues: 100_000 };
const TIGHT: Capacity = { maxMessagesPerQueue: 7, maxTotalBytes: 600, maxQueues: 4 };

// ---- commands ----------------------------------------------------------------------------------

interface Ref {
  /**
   * "here": a message/claim the model holds in this queue; "claimed"/"free": a message of this
   * queue under a live claim / under none; "any": one issued anywhere, ever; "id": `id`.
   */
  from: "here" | "claimed" | "free" | "any" | "junk" | "id";
  i: number;
  id?: string;
}

type Cmd =
  | { k: "post"; p: number; q: number; c: number; items: { ttl: number; body: { n: number; s: string } }[] }
  | { k: "list"; p: number; q: number; c: number; echo: boolean; inc: boolean; limit: number; start: "none" | "junk" | number }
  | { k: "get"; p: number; q: number; ref: Ref }
  | { k: "getMany"; p: number; q: number; refs: Ref[] }
  | { k: "claim"; p: number; q: number; ttl: number; grace: number; limit: number }
  | { k: "getClaim"; p: number; q: number; cref: Ref }
  | { k: "renew"; p: number; q: number; cref: Ref; ttl: number }
  | { k: "release"; p: number; q: number; cref: Ref }
  | { k: "del"; p: number; q: number; ref: Ref; how: "none" | "own" | "other" | "ref"; cref: Ref }
  | { k: "delMany"; p: number; q: number; refs: Ref[] }
  | { k: "drop"; p: number; q: number }
  | { k: "create"; p: number; q: number }
  | { k: "meta"; p: number; q: number; n: number }
  | { k: "queues"; p: number; marker: string | undefined; limit: number }
  | { k: "stats"; p: number; q: number }
  | { k: "advance"; ms: number }
  | { k: "toExpiry"; which: "msg" | "claim"; i: number; delta: -1 | 0 | 1 }
  | { k: "back"; ms: number };

// Most commands go to one queue, so claims and deletes meet messages; the rest spread everywhere.
const pq = {
  p: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat({ max: PROJECTS.length - 1 }) }),
  q: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat({ max: QUEUES.length - 1 }) }),
};
const ref: fc.Arbitrary<Ref> = fc.record({
  from: fc.constantFrom<Ref["from"]>("here", "here", "here", "claimed", "claimed", "any", "junk"),
  i: fc.nat({ max: 1000 }),
});
const ttl = fc.integer({ min: 60, max: 300 });

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("post" as const),
      ...pq,
      c: fc.nat({ max: 1 }),
      items: fc.array(fc.record({ ttl, body: fc.record({ n: fc.integer({ min: -999, max: 999 }), s: fc.string({ maxLength: 6 }) }, { noNullPrototype: true }) }), {
        minLength: 1,
        maxLength: 5,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("list" as const),
      ...pq,
      c: fc.nat({ max: 1 }),
      echo: fc.boolean(),
      inc: fc.boolean(),
      limit: fc.integer({ min: 1, max: 5 }),
      start: fc.oneof(fc.constant("none" as const), fc.constant("junk" as const), fc.nat({ max: 30 })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("get" as const), ...pq, ref }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("getMany" as const), ...pq, refs: fc.array(ref, { maxLength: 5 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("claim" as const),
      ...pq,
      ttl,
      grace: fc.integer({ min: 60, max: 300 }),
      limit: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("getClaim" as const), ...pq, cref: ref }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("renew" as const), ...pq, cref: ref, ttl }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("release" as const), ...pq, cref: ref }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("del" as const),
      ...pq,
      ref: fc.record({ from: fc.constantFrom<Ref["from"]>("here", "claimed", "claimed", "claimed", "free", "free", "any", "junk"), i: fc.nat({ max: 1000 }) }),
      how: fc.constantFrom<"none" | "own" | "other" | "ref">("none", "own", "own", "other", "other", "other", "ref"),
      cref: ref,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("delMany" as const), ...pq, refs: fc.array(ref, { maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("drop" as const), ...pq }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("create" as const), ...pq }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("meta" as const), ...pq, n: fc.nat({ max: 99 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("queues" as const),
      p: pq.p,
      marker: fc.constantFrom(undefined, "", "q0", "q1", "zz"),
      limit: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("stats" as const), ...pq }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("advance" as const),
      ms: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 5_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 400_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 400 }).map((s) => s * 1000) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("toExpiry" as const),
      which: fc.constantFrom<"msg" | "claim">("msg", "claim"),
      i: fc.nat({ max: 1000 }),
      delta: fc.constantFrom<-1 | 0 | 1>(-1, 0, 0, 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("back" as const), ms: fc.integer({ min: 1, max: 100_000 }) }) },
);

// ---- running commands against a store and the model --------------------------------------------

type StoreClass = new (options: StoreOptions) => QueueStore;

interface Run {
  /** The fake clock's reading (may go back; the store must not). */
  clock: number;
  store: QueueStore;
  model: StoreModel;
  records: StoreRecord[];
  msgIds: string[];
  claimIds: string[];
  tally: Map<string, number>;
}

function count(run: Run, what: string): void {
  run.tally.set(what, (run.tally.get(what) ?? 0) + 1);
}

function newRun(Store: StoreClass, capacity: Capacity): Run {
  const run: Run = {
    clock: START,
    store: undefined as unknown as QueueStore,
    model: new StoreModel(START, capacity, sizeOf),
    records: [],
    msgIds: [],
    claimIds: [],
    tally: new Map(),
  };
  run.store = new Store({ now: () => run.clock, sizeOf, sink: (r) => run.records.push(structuredClone(r)), ...capacity });
  return run;
}

function attempt<T>(f: () => T): Outcome<T> {
  try {
    return { ok: f() };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    const err: MError = { status: e.status, title: e.title };
    if (e.status === 503) assert.equal(e.headers["Retry-After"], "30", "a 503 carries Retry-After");
    else err.description = e.description;
    return { err };
  }
}

/** Compare an operation's outcome and the records it emitted with the model's step. */
function expectStep<T>(run: Run, what: string, got: Outcome<T>, want: Step<T>, recordsBefore: number): void {
  assert.deepStrictEqual(got, want.out, `${what}: result`);
  const emitted = run.records.slice(recordsBefore).map((r) => r.op);
  assert.deepStrictEqual(emitted, want.rec === null ? [] : [want.rec], `${what}: records emitted`);
}

function noRecords(run: Run, what: string, before: number): void {
  assert.equal(run.records.length, before, `${what}: a read emits no record`);
}

function msgRef(run: Run, p: Project, q: string, r: Ref): string {
  if (r.id !== undefined) return r.id;
  const queue = run.model.queue(p, q);
  const here = queue?.msgs ?? [];
  if ((r.from === "claimed" || r.from === "free") && queue) {
    const some = here.filter((m) => (run.model.claimOf(queue, m.id) !== undefined) === (r.from === "claimed"));
    if (some.length > 0) return some[r.i % some.length]!.id;
  }
  if (r.from !== "any" && r.from !== "junk" && here.length > 0) return here[r.i % here.length]!.id;
  if (r.from !== "junk" && run.msgIds.length > 0) return run.msgIds[r.i % run.msgIds.length]!;
  return r.i % 2 === 0 ? "no-such-message" : "";
}

function claimRef(run: Run, p: Project, q: string, r: Ref): string {
  if (r.id !== undefined) return r.id;
  const here = run.model.queue(p, q)?.claims ?? [];
  if (r.from === "here" && here.length > 0) return here[r.i % here.length]!.id;
  if (r.from !== "junk" && run.claimIds.length > 0) return run.claimIds[r.i % run.claimIds.length]!;
  return r.i % 2 === 0 ? "no-such-claim" : "12";
}

function fresh(run: Run, ids: string[]): void {
  const problem = run.model.fresh(ids);
  assert.equal(problem, undefined, "new ids are fresh");
}

function exec(run: Run, cmd: Cmd): void {
  const { store, model } = run;
  const t0 = model.at(run.clock);
  const p = "p" in cmd ? PROJECTS[cmd.p]! : null;
  const q = "q" in cmd ? QUEUES[cmd.q]! : "";
  const before = run.records.length;
  const what = `${cmd.k} ${String(p)}/${q}`;
  switch (cmd.k) {
    case "post": {
      const client = CLIENTS[cmd.c]!;
      const got = attempt(() => store.post(p, q, client, cmd.items));
      const ids = "ok" in got ? got.ok : undefined;
      const want = model.post(p, q, client, cmd.items, ids);
      expectStep(run, what, got, want, before);
      if (ids) {
        fresh(run, ids);
        run.msgIds.push(...ids);
        count(run, "post ok");
      } else count(run, "err" in got ? "post 503" : "post absent");
      return;
    }
    case "list": {
      const o: ListOptions = {
        limit: cmd.limit,
        echo: cmd.echo,
        includeClaimed: cmd.inc,
        clientId: CLIENTS[cmd.c]!,
        marker: cmd.start === "none" ? undefined : cmd.start === "junk" ? "x1" : String(cmd.start),
      };
      for (let page = 0; ; page++) {
        assert.ok(page < 10_000, "paging ends");
        const got = store.list(p, q, o);
        assert.deepStrictEqual(got, model.list(p, q, o), `${what} page ${page} after ${String(o.marker)}`);
        if (!got || got.messages.length === 0) break;
        if (page > 0) count(run, "list page 2+");
        o.marker = String(got.lastMarker);
      }
      noRecords(run, what, before);
      return;
    }
    case "get": {
      const id = msgRef(run, p, q, cmd.ref);
      const got = store.get(p, q, id);
      assert.deepStrictEqual(got, model.get(p, q, id), `${what} ${id}`);
      count(run, got ? "get found" : "get missing");
      noRecords(run, what, before);
      return;
    }
    case "getMany": {
      const ids = cmd.refs.map((r) => msgRef(run, p, q, r));
      assert.deepStrictEqual(store.getMany(p, q, ids), model.getMany(p, q, ids), `${what} ${ids.join(",")}`);
      noRecords(run, what, before);
      return;
    }
    case "claim": {
      const got = attempt(() => store.claim(p, q, cmd.ttl, cmd.grace, cmd.limit));
      const id = "ok" in got ? got.ok?.id : undefined;
      const want = model.claim(p, q, cmd.ttl, cmd.grace, cmd.limit, id);
      expectStep(run, what, got, want, before);
      if (id !== undefined) {
        fresh(run, [id]);
        run.claimIds.push(id);
        count(run, "claim made");
      } else count(run, "claim nothing");
      return;
    }
    case "getClaim": {
      const id = claimRef(run, p, q, cmd.cref);
      const got = store.getClaim(p, q, id);
      assert.deepStrictEqual(got, model.getClaim(p, q, id), `${what} ${id}`);
      count(run, got ? "getClaim found" : "getClaim missing");
      noRecords(run, what, before);
      return;
    }
    case "renew": {
      const id = claimRef(run, p, q, cmd.cref);
      const got = attempt(() => store.renewClaim(p, q, id, cmd.ttl));
      expectStep(run, `${what} ${id}`, got, model.renewClaim(p, q, id, cmd.ttl), before);
      count(run, "ok" in got && got.ok ? "renew ok" : "renew missing");
      return;
    }
    case "release": {
      const id = claimRef(run, p, q, cmd.cref);
      const got = attempt(() => store.releaseClaim(p, q, id));
      const want = model.releaseClaim(p, q, id);
      expectStep(run, `${what} ${id}`, got, want, before);
      count(run, want.rec ? "release live" : "release missing");
      return;
    }
    case "del": {
      const id = msgRef(run, p, q, cmd.ref);
      let claimId: string | undefined;
      if (cmd.how === "own") {
        const queue = model.queue(p, q);
        claimId = (queue && model.claimOf(queue, id)?.id) ?? claimRef(run, p, q, cmd.cref);
      } else if (cmd.how === "other") {
        // Another live claim of this queue than the one holding the message, if there is one.
        const queue = model.queue(p, q);
        const holder = queue && model.claimOf(queue, id);
        const others = queue?.claims.filter((c) => c !== holder) ?? [];
        claimId = others.length > 0 ? others[cmd.cref.i % others.length]!.id : claimRef(run, p, q, cmd.cref);
      } else if (cmd.how === "ref") claimId = claimRef(run, p, q, cmd.cref);
      const got = attempt(() => store.deleteMessage(p, q, id, claimId));
      const want = model.deleteMessage(p, q, id, claimId);
      expectStep(run, `${what} ${id} claim ${String(claimId)}`, got, want, before);
      count(run, "err" in got ? `del ${got.err.status} ${got.err.description}` : want.rec ? `del done${claimId ? " with claim" : ""}` : "del absent");
      return;
    }
    case "delMany": {
      const ids = cmd.refs.map((r) => msgRef(run, p, q, r));
      expectStep(run, `${what} ${ids.join(",")}`, attempt(() => store.deleteMany(p, q, ids)), model.deleteMany(p, q, ids), before);
      return;
    }
    case "drop":
      expectStep(run, what, attempt(() => store.deleteQueue(p, q)), model.deleteQueue(p, q), before);
      return;
    case "create": {
      const got = attempt(() => store.createQueue(p, q));
      expectStep(run, what, got, model.createQueue(p, q), before);
      if ("err" in got) count(run, "create 503");
      return;
    }
    case "meta": {
      const meta = { n: cmd.n };
      expectStep(run, what, attempt(() => store.setMetadata(p, q, meta)), model.setMetadata(p, q, meta), before);
      assert.deepStrictEqual(store.getMetadata(p, q), model.getMetadata(p, q), `${what}: read back`);
      return;
    }
    case "queues":
      assert.deepStrictEqual(store.listQueues(p, cmd.marker, cmd.limit), model.listQueues(p, cmd.marker, cmd.limit), what);
      noRecords(run, what, before);
      return;
    case "stats":
      assert.deepStrictEqual(store.stats(p, q), model.stats(p, q), what);
      assert.equal(store.queueExists(p, q), model.queueExists(p, q), `${what}: exists`);
      noRecords(run, what, before);
      return;
    case "advance":
      run.clock = Math.max(run.clock, t0) + cmd.ms;
      return;
    case "toExpiry": {
      // One of the next three instants, so time moves in steps and the state does not die at once.
      const instants = model.instants()[cmd.which === "msg" ? "msgs" : "claims"].sort((a, b) => a - b);
      if (instants.length === 0) return;
      const target = instants[cmd.i % Math.min(3, instants.length)]! + cmd.delta;
      if (target < t0) return;
      run.clock = target;
      const { messages, claims } = model.counters();
      model.at(target);
      const after = model.counters();
      if (cmd.delta === 0 && (after.messages < messages || after.claims < claims)) count(run, `boundary ${cmd.which} expiry`);
      if (cmd.delta === -1) count(run, `boundary ${cmd.which} -1ms`);
      return;
    }
    case "back":
      run.clock -= cmd.ms;
      count(run, "clock back");
      return;
  }
}

// ---- observing the whole state ------------------------------------------------------------------

/** The read side shared by QueueStore and StoreModel. */
interface Readable {
  listQueues(p: Project, marker: string | undefined, limit: number): { name: string; metadata: Record<string, unknown> }[];
  queueExists(p: Project, q: string): boolean;
  stats(p: Project, q: string): QueueStats | undefined;
  list(p: Project, q: string, o: ListOptions): { messages: MessageView[]; lastMarker: number } | undefined;
  getMany(p: Project, q: string, ids: string[]): MessageView[];
  getClaim(p: Project, q: string, id: string): ClaimView | undefined;
}

interface QueueDump {
  exists: boolean;
  stats: QueueStats | undefined;
  pages: { messages: MessageView[]; lastMarker: number }[];
  many: MessageView[];
  claims: ClaimView[];
}

type Dump = { queues: { name: string; metadata: Record<string, unknown> }[]; per: QueueDump[] }[];

function dump(s: Readable, msgIds: string[], claimIds: string[]): Dump {
  return PROJECTS.map((p) => ({
    queues: s.listQueues(p, undefined, 1000),
    per: QUEUES.map((q) => {
      const pages: { messages: MessageView[]; lastMarker: number }[] = [];
      const o: ListOptions = { limit: 7, echo: true, includeClaimed: true, clientId: CLIENTS[0]!, marker: undefined };
      for (;;) {
        const page = s.list(p, q, o);
        if (!page) break;
        pages.push(page);
        if (page.messages.length === 0) break;
        o.marker = String(page.lastMarker);
      }
      return {
        exists: s.queueExists(p, q),
        stats: s.stats(p, q),
        pages,
        many: s.getMany(p, q, msgIds),
        claims: claimIds.map((id) => s.getClaim(p, q, id)).filter((c): c is ClaimView => c !== undefined),
      };
    }),
  }));
}

/** Invariants of one observed state, independent of the model. */
function checkInvariants(d: Dump, msgIds: string[]): void {
  const where = new Map<string, string>();
  PROJECTS.forEach((p, pi) =>
    QUEUES.forEach((q, qi) => {
      const x = d[pi]!.per[qi]!;
      const here = `${String(p)}/${q}`;
      const listed = x.pages.flatMap((pg) => pg.messages);
      if (!x.exists) {
        assert.equal(x.stats, undefined, `${here}: no stats for an absent queue`);
        assert.equal(x.pages.length, 0, `${here}: no listing for an absent queue`);
        assert.equal(x.many.length + x.claims.length, 0, `${here}: nothing in an absent queue`);
        return;
      }
      for (const m of listed) {
        assert.ok(!where.has(m.id), `${m.id} listed in ${here} and ${where.get(m.id)}`);
        where.set(m.id, here);
      }
      const markers = x.pages.map((pg) => pg.lastMarker);
      for (let i = 1; i < markers.length - 1; i++) assert.ok(markers[i]! > markers[i - 1]!, `${here}: markers ascend`);
      // getMany of every id ever issued finds exactly this queue's messages: nothing from elsewhere.
      assert.deepStrictEqual(new Set(x.many.map((m) => m.id)), new Set(listed.map((m) => m.id)), `${here}: ids resolve only in their queue`);
      const inClaims = new Set<string>();
      for (const c of x.claims) {
        assert.ok(c.messages.length > 0, `${here}: claim ${c.id} holds messages`);
        for (const m of c.messages) {
          assert.ok(!inClaims.has(m.id), `${here}: ${m.id} in two live claims`);
          inClaims.add(m.id);
          assert.ok(listed.some((l) => l.id === m.id), `${here}: claimed ${m.id} is listed`);
        }
      }
      const s = x.stats!;
      assert.equal(s.total, listed.length, `${here}: stats total = listing`);
      assert.equal(s.claimed, inClaims.size, `${here}: stats claimed = messages in live claims`);
      assert.equal(s.free + s.claimed, s.total, `${here}: free + claimed = total`);
      assert.deepStrictEqual(s.oldest, listed[0], `${here}: oldest`);
      assert.deepStrictEqual(s.newest, listed[listed.length - 1], `${here}: newest`);
      for (const m of listed) assert.ok(m.age >= 0, `${here}: age never negative`);
    }),
  );
  for (const id of where.keys()) assert.ok(msgIds.includes(id), `${id} was issued by a post`);
}

function checkAll(run: Run, what: string): void {
  run.model.at(run.clock);
  const got = dump(run.store, run.msgIds, run.claimIds);
  assert.deepStrictEqual(got, dump(run.model, run.msgIds, run.claimIds), `${what}: full state`);
  checkInvariants(got, run.msgIds);
  assert.deepStrictEqual({ ...run.store.counters }, run.model.counters(), `${what}: counters`);
}

/** A fresh store at the live store's clock, fed `records`. */
function rebuilt(Store: StoreClass, run: Run, records: StoreRecord[]): QueueStore {
  const s = new Store({ now: () => run.model.time, sizeOf, ...run.model.capacity });
  for (const r of records) s.apply(structuredClone(r));
  return s;
}

function replayMatches(Store: StoreClass, run: Run, records: StoreRecord[], what: string): void {
  const s = rebuilt(Store, run, records);
  const want = dump(run.store, run.msgIds, run.claimIds);
  assert.deepStrictEqual(dump(s, run.msgIds, run.claimIds), want, `${what}: same observable state`);
  assert.deepStrictEqual({ ...s.counters }, { ...run.store.counters }, `${what}: same counters`);
}

function scenario(Store: StoreClass, capacity: Capacity, cmds: Cmd[], snapAt: number, tally?: Map<string, number>): void {
  const run = newRun(Store, capacity);
  for (const p of PROJECTS) for (const q of QUEUES) exec(run, { k: "create", p: PROJECTS.indexOf(p), q: QUEUES.indexOf(q) });
  checkAll(run, "start");
  let snap: StoreRecord[] = [];
  let snapRecords = 0;
  const at = snapAt % (cmds.length + 1);
  cmds.forEach((cmd, i) => {
    if (i === at) {
      run.model.at(run.clock);
      snap = [...run.store.snapshot()].map((r) => structuredClone(r));
      snapRecords = run.records.length;
      replayMatches(Store, run, snap, "snapshot when taken");
    }
    exec(run, cmd);
    checkAll(run, `after #${i} ${JSON.stringify(cmd)}`);
  });
  if (at === cmds.length) {
    snap = [...run.store.snapshot()].map((r) => structuredClone(r));
    snapRecords = run.records.length;
  }
  run.model.at(run.clock);
  replayMatches(Store, run, run.records, "replay of all records");
  replayMatches(Store, run, [...run.store.snapshot()], "final snapshot");
  replayMatches(Store, run, [...snap, ...run.records.slice(snapRecords)], "mid-run snapshot + later records");
  if (tally) for (const [k, v] of run.tally) tally.set(k, (tally.get(k) ?? 0) + v);
}

const scenarioArb = fc.tuple(fc.array(cmdArb, { minLength: 1, maxLength: 60, size: "max" }), fc.nat());
const NUM_RUNS = Number(process.env.EMQ_MODEL_RUNS ?? 400);

// ---- the tests ----------------------------------------------------------------------------------

// What the random runs of both model properties reached, summed (rare cases need both).
const reached = new Map<string, number>();

t.test("store = model over random command sequences, with replay and snapshots", async (t) => {
  const tally = new Map<string, number>();
  let commands = 0;
  fc.assert(
    fc.property(scenarioArb, ([cmds, snapAt]) => {
      scenario(QueueStore, ROOMY, cmds, snapAt, tally);
      commands += cmds.length;
    }),
    { numRuns: NUM_RUNS },
  );
  t.comment(`${NUM_RUNS} runs, ${commands} commands, each followed by a full-state comparison`);
  t.comment([...tally].sort().map(([k, v]) => `${k}: ${v}`).join("; "));
  for (const [k, v] of tally) reached.set(k, (reached.get(k) ?? 0) + v);
  t.pass("every command's result and the full state after it matched the model; replays matched");
});

t.test("store = model with tight capacity limits: refusals are 503 and change nothing", async (t) => {
  const tally = new Map<string, number>();
  const runs = Math.ceil(NUM_RUNS / 2);
  fc.assert(
    fc.property(scenarioArb, ([cmds, snapAt]) => scenario(QueueStore, TIGHT, cmds, snapAt, tally)),
    { numRuns: runs },
  );
  t.comment(`${runs} runs; ${[...tally].filter(([k]) => /503/.test(k)).map(([k, v]) => `${k}: ${v}`).join("; ")}`);
  for (const [k, v] of tally) reached.set(k, (reached.get(k) ?? 0) + v);
  t.ok((tally.get("post 503") ?? 0) > 0, "posts were refused");
  t.ok((tally.get("create 503") ?? 0) > 0, "queue creations were refused");
});

t.test("the random runs reached the interesting cases", async (t) => {
  // Or the comparisons above prove little.
  for (const k of [
    "post ok",
    "claim made",
    "claim nothing",
    "renew ok",
    "renew missing",
    "release live",
    "del done",
    "del done with claim",
    "del 403 This message is claimed; it cannot be deleted without a valid claim ID.",
    "del 403 This message is claimed by another claim; it cannot be deleted with this claim ID.",
    "del 400 A claim was specified, but the message is not currently claimed.",
    "del 400 The specified claim does not exist or has expired.",
    "boundary msg expiry",
    "boundary claim expiry",
    "boundary msg -1ms",
    "boundary claim -1ms",
    "list page 2+",
    "getClaim found",
    "clock back",
  ]) {
    t.ok((reached.get(k) ?? 0) > 0, `reached: ${k} (${reached.get(k) ?? 0})`);
  }
});

t.test("capacity refusals, one at a time: 503, Retry-After, nothing changed, no record", async (t) => {
  let clock = START;
  const records: StoreRecord[] = [];
  const store = new QueueStore({ now: () => clock, sizeOf, sink: (r) => records.push(r), maxMessagesPerQueue: 3, maxTotalBytes: 100, maxQueues: 2 });
  const state = (): string => JSON.stringify([[...store.snapshot()], store.counters]);
  const refused = (what: string, f: () => unknown): void => {
    const before = state();
    const n = records.length;
    const got = attempt(f);
    t.same(got, { err: { status: 503, title: "Service temporarily unavailable" } }, `${what}: 503`);
    t.equal(state(), before, `${what}: state unchanged`);
    t.equal(records.length, n, `${what}: no record`);
  };
  t.equal(store.createQueue(null, "a"), true, "first queue");
  t.equal(store.createQueue("p", "a"), true, "second queue (another project)");
  refused("third queue", () => store.createQueue("p", "b"));
  t.equal(store.createQueue("p", "a"), false, "an existing queue is not a new one, even at the limit");
  t.equal(store.post(null, "a", CLIENTS[0]!, [{ ttl: 60, body: "x" }, { ttl: 60, body: "y" }])?.length, 2, "two messages");
  refused("4th message in a queue of 3", () => store.post(null, "a", CLIENTS[0]!, [{ ttl: 60, body: "z" }, { ttl: 60, body: "w" }]));
  t.equal(store.post(null, "a", CLIENTS[0]!, [{ ttl: 60, body: "z" }])?.length, 1, "up to the limit exactly is fine");
  refused("bytes over the limit", () => store.post("p", "a", CLIENTS[0]!, [{ ttl: 60, body: "x".repeat(100) }]));
  t.equal(store.post("p", "a", CLIENTS[0]!, [{ ttl: 60, body: "x".repeat(100 - 3 * 3 - 2) }])?.length, 1, "exactly at the byte limit is fine");
  refused("one more byte", () => store.post("p", "a", CLIENTS[0]!, [{ ttl: 60, body: "" }]));
  // Expiry gives the room back.
  clock += 60_000;
  t.equal(store.queueExists(null, "a"), true, "any operation processes expiry");
  t.same(store.counters, { queues: 2, messages: 0, bytes: 0, claims: 0 }, "all expired");
  t.equal(store.post("p", "a", CLIENTS[0]!, [{ ttl: 60, body: "x".repeat(98) }])?.length, 1, "room again after expiry");
  store.deleteQueue(null, "a");
  t.equal(store.createQueue("p", "b"), true, "a dropped queue frees its slot");
});

/** Sizes of the store's internal structures (QueueStore.debugSizes is test-only). */
function sizes(store: QueueStore): ReturnType<QueueStore["debugSizes"]> {
  return store.debugSizes();
}

/** A small seeded PRNG (LCG), so the long run is the same every time. */
function lcg(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
}

t.test("long run: exact results, bounded internals, replay, and nothing left once all expired", async (t) => {
  const run = newRun(QueueStore, ROOMY);
  const rnd = lcg(7);
  const DAY = 86_400;
  const ROUNDS = 9_000;
  for (let p = 0; p < PROJECTS.length; p++) for (let q = 0; q < QUEUES.length; q++) exec(run, { k: "create", p, q });
  let worst = 0;
  let worstAt = "";
  let peakLive = 0;
  for (let i = 0; i < ROUNDS; i++) {
    // Phases of growth and draining, so queues get long (order compaction in the middle and at
    // the head, free-heap rebuilds) and short again. Long ttls: nothing expires on its own for a
    // while, so only deletes, releases, renewals, grace extensions and queue drops leave stale
    // heap entries behind, and the heaps must get rid of them by rebuilding.
    const grow = Math.floor(i / 500) % 2 === 0;
    const p = rnd(4) === 0 ? rnd(PROJECTS.length) : 0;
    const q = rnd(4) === 0 ? rnd(QUEUES.length) : 0;
    const ttl = (): number => (rnd(5) === 0 ? 60 + rnd(600) : DAY + rnd(DAY));
    exec(run, { k: "post", p, q, c: rnd(2), items: Array.from({ length: 1 + rnd(grow ? 3 : 2) }, (_, j) => ({ ttl: ttl(), body: { n: i, s: String(j) } })) });
    const claims = run.claimIds.length;
    if (!grow || rnd(4) === 0) exec(run, { k: "claim", p, q, ttl: 60 + rnd(DAY), grace: 60 + rnd(600), limit: 1 + rnd(4) });
    if (run.claimIds.length > claims) {
      const id = run.claimIds[claims]!;
      const cref: Ref = { from: "id", i: 0, id };
      if (rnd(3) === 0) exec(run, { k: "renew", p, q, cref, ttl: 60 + rnd(DAY) });
      const held = run.store.getClaim(PROJECTS[p]!, QUEUES[q]!, id)?.messages ?? [];
      for (const m of held) if (rnd(grow ? 3 : 5) !== 0) exec(run, { k: "del", p, q, ref: { from: "id", i: 0, id: m.id }, how: "own", cref });
      if (rnd(2) === 0) exec(run, { k: "release", p, q, cref });
    }
    if (rnd(grow ? 8 : 2) === 0) exec(run, { k: "delMany", p, q, refs: Array.from({ length: 1 + rnd(5) }, () => ({ from: "here" as const, i: rnd(1000) })) });
    if (rnd(20) === 0) exec(run, { k: "list", p, q, c: rnd(2), echo: rnd(2) === 0, inc: rnd(2) === 0, limit: 5, start: "none" });
    if (rnd(2000) === 0) {
      exec(run, { k: "drop", p, q });
      exec(run, { k: "create", p, q });
    }
    exec(run, { k: "advance", ms: rnd(4000) });
    if (i % 50 === 0) {
      run.model.at(run.clock);
      const s = sizes(run.store);
      const live = run.store.counters.messages + run.store.counters.claims;
      peakLive = Math.max(peakLive, run.store.counters.messages);
      const excess = Math.max(s.msgExpiry, s.claimExpiry, s.order, s.free) - 3 * live;
      if (excess > worst) {
        worst = excess;
        worstAt = `round ${i}: ${JSON.stringify(s)}, counters ${JSON.stringify(run.store.counters)}`;
      }
    }
    if (i % 3000 === 2999) checkAll(run, `long run, round ${i}`);
  }
  t.comment(`${ROUNDS} rounds, ${run.records.length} records, up to ${peakLive} live messages; largest structure beyond 3 x live: ${worst} (${worstAt})`);
  t.ok(peakLive > 300, `queues got long (${peakLive} messages)`);
  t.ok(worst <= 2000, "no structure grows with the number of operations, only with what is live");
  checkAll(run, "end of the long run");
  replayMatches(QueueStore, run, run.records, "long run: replay of all records");
  replayMatches(QueueStore, run, [...run.store.snapshot()], "long run: snapshot");
  t.pass("every result, the full state every 3000 rounds, and both replays matched the model");
  // Everything expires; then the store holds nothing but its empty queues.
  exec(run, { k: "advance", ms: 30 * DAY * 1000 });
  checkAll(run, "all expired");
  t.same({ ...run.store.counters }, { queues: 6, messages: 0, bytes: 0, claims: 0 }, "everything expired");
  t.same(sizes(run.store), { projects: 3, queues: 6, msgExpiry: 0, claimExpiry: 0, order: 0, free: 0, claims: 0, byId: 0 }, "no entries left behind");
  for (let p = 0; p < PROJECTS.length; p++) for (let q = 0; q < QUEUES.length; q++) exec(run, { k: "drop", p, q });
  t.same(sizes(run.store), { projects: 0, queues: 0, msgExpiry: 0, claimExpiry: 0, order: 0, free: 0, claims: 0, byId: 0 }, "no queues left behind");
});

t.test("memory: deleting everything (no expiry) also empties the structures", async (t) => {
  let clock = START;
  const store = new QueueStore({ now: () => clock, sizeOf });
  store.createQueue("p", "q");
  for (let i = 0; i < 5000; i++) {
    const ids = store.post("p", "q", CLIENTS[0]!, [{ ttl: 1_209_600, body: i }, { ttl: 1_209_600, body: i }])!;
    const c = store.claim("p", "q", 43_200, 43_200, 1);
    if (i % 3 === 0 && c) store.releaseClaim("p", "q", c.id);
    store.deleteMany("p", "q", i % 2 === 0 ? ids : [ids[1]!]);
    clock += 1;
  }
  // Delete what is left, claimed or not.
  for (;;) {
    const page = store.list("p", "q", { limit: 20, echo: true, includeClaimed: true, clientId: CLIENTS[0]!, marker: undefined })!;
    if (page.messages.length === 0) break;
    store.deleteMany("p", "q", page.messages.map((m) => m.id));
  }
  const s = sizes(store);
  t.same({ ...store.counters }, { queues: 1, messages: 0, bytes: 0, claims: 0 }, "nothing live");
  t.equal(s.order + s.free + s.claims + s.byId, 0, `per-queue structures empty (${JSON.stringify(s)})`);
  t.ok(s.msgExpiry <= 1024 + 2 && s.claimExpiry <= 1024 + 2, `global heaps at most the rebuild slack (${s.msgExpiry}, ${s.claimExpiry})`);
});

t.test("heap: pops in order under random pushes, pops and rebuilds", async (t) => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant("pop" as const), fc.constant("rebuild" as const)), { maxLength: 200 }), (ops) => {
      const heap = new Heap<number>((a, b) => a < b);
      let model: number[] = [];
      for (const op of ops) {
        if (op === "pop") {
          model.sort((a, b) => a - b);
          assert.equal(heap.pop(), model.shift());
        } else if (op === "rebuild") {
          heap.rebuild((x) => x % 3 !== 0);
          model = model.filter((x) => x % 3 !== 0);
        } else {
          heap.push(op);
          model.push(op);
        }
        assert.equal(heap.size, model.length);
        assert.equal(heap.peek(), model.length === 0 ? undefined : Math.min(...model));
      }
    }),
    { numRuns: 300 },
  );
  t.pass("heap agrees with a sorted array");
});

// ---- the model catches broken stores --------------------------------------------------------------

class EchoBlind extends QueueStore {
  override list(p: Project, q: string, o: ListOptions): ReturnType<QueueStore["list"]> {
    return super.list(p, q, { ...o, echo: true });
  }
}

class ClaimBlindDelete extends QueueStore {
  override deleteMessage(p: Project, q: string, id: string): void {
    this.deleteMany(p, q, [id]);
  }
}

class ReleaseIgnored extends QueueStore {
  override releaseClaim(): void {}
}

class LeakyGet extends QueueStore {
  override get(p: Project, q: string, id: string): MessageView | undefined {
    return super.get(p, q, id) ?? super.get(null, q, id);
  }
}

class RenewIgnoresMessages extends QueueStore {
  // Renewing by releasing and claiming again: same messages only by luck, and a new claim id.
  override renewClaim(p: Project, q: string, id: string, ttl: number): boolean {
    const c = this.getClaim(p, q, id);
    if (!c) return false;
    this.releaseClaim(p, q, id);
    this.claim(p, q, ttl, 60, c.messages.length);
    return true;
  }
}

class StaleSnapshot extends QueueStore {
  // Drops claims from snapshots: only the replay comparison can see it.
  override *snapshot(): Generator<StoreRecord> {
    for (const r of super.snapshot()) if (r.op !== "claimed") yield r;
  }
}

t.test("broken stores are caught", async (t) => {
  for (const Broken of [EchoBlind, ClaimBlindDelete, ReleaseIgnored, LeakyGet, RenewIgnoresMessages, StaleSnapshot]) {
    const t0 = Date.now();
    const r = fc.check(
      fc.property(scenarioArb, ([cmds, snapAt]) => scenario(Broken, ROOMY, cmds, snapAt)),
      // No shrinking: being caught is the point here, and shrinking 60-command runs costs seconds.
      { numRuns: 300, endOnFailure: true },
    );
    t.ok(r.failed, `${Broken.name}: caught after ${r.numRuns} runs (${Date.now() - t0} ms)`);
    if (r.failed) {
      const [cmds] = r.counterexample![0];
      const e = "errorInstance" in r ? r.errorInstance : undefined;
      const first = String(e instanceof Error ? e.message : e).split("\n")[0];
      t.comment(`${Broken.name}: failed at: ${first} (a run of ${cmds.length} commands)`);
    }
  }
});
