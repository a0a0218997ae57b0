// Durability of the queue API (issue 6): the real emq-broker with --data-dir, driven by several
// pipelining QueueClients (posts in batches of 1-5, claims, deletes with a claim id, bulk deletes,
// releases, short-lived queues), SIGKILLed at a random moment in the middle of the stream and
// restarted on the same directory, round after round. After each restart, what the broker holds
// is compared with what it acknowledged:
//   - every acknowledged post is there with the same id and body (listing and GET by ids), unless
//     a delete of it was sent;
//   - no acknowledged delete (single, bulk, or of its queue) came back, no acknowledged release
//     either, and an acknowledged claim nobody released still holds its remaining messages;
//   - nothing appears that was never posted, nothing twice, nothing in the wrong queue;
//   - new ids never repeat an id the broker gave out before.
// Requests that got no reply may have happened or not; what the restarted broker shows of them
// becomes the model for the next round. Runs with fsync, with a tiny --compact-bytes so the
// journal compacts all the time (and the kill can land in a compaction), and with --no-fsync (a
// process crash leaves the page cache, so nothing acknowledged may be lost there either). Last,
// a second broker on a directory in use exits 1 with one EJOURNALLOCKED line.
//
// The scenario is random; EMQ_DURABILITY_SEED=<n> replays one (the seed is printed).

import t, { type Test } from "tap";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { QueueClient, QueueClientError, type QueueMessage } from "../../src/queue-api/client.js";
import { startBroker, spawnBroker, type BrokerProcess } from "./broker-process.js";
import { within } from "../socket/fake-peer.js";

const SEED = Number(process.env.EMQ_DURABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
t.comment(`seed ${SEED} (EMQ_DURABILITY_SEED=${SEED} replays this run)`);

/** mulberry32: a small seeded PRNG, so a failing scenario can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rand() * xs.length)]);

async function tmpdir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "emq-durability-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---- the model: what the broker acknowledged ----------------------------------------------------

interface Msg {
  key: string;
  queue: string;
  body: { k: string; pad: string; n: number };
  /** Known once the post was acknowledged (or the message was seen after a restart). */
  id?: string;
  /** Must be there: acknowledged and no delete of it sent. */
  must: boolean;
  /** May be there: posted and no delete of it acknowledged. */
  may: boolean;
  /** A delete of it is in flight (so no other delete picks it). */
  busy: boolean;
  /** The live claim holding it, as far as acknowledged replies tell. */
  claim?: string;
}

interface Claim {
  id: string;
  queue: string;
  ids: string[];
  releaseSent: boolean;
  releaseAcked: boolean;
}

interface Queue {
  name: string;
  main: boolean;
  must: boolean;
  may: boolean;
}

interface Tally {
  posts: number;
  postedMessages: number;
  claims: number;
  claimDeletes: number;
  deletes: number;
  refusedDeletes: number;
  bulkDeletes: number;
  releases: number;
  queueCycles: number;
  reads: number;
  unacked: number;
}

class Model {
  readonly msgs = new Map<string, Msg>();
  /** `${queue}/${id}` → message. */
  readonly byId = new Map<string, Msg>();
  readonly claims = new Map<string, Claim>();
  readonly queues = new Map<string, Queue>();
  /** Every `${queue}/${id}` the broker ever gave out, to catch a reused id. */
  readonly everIds = new Set<string>();
  /** Deletes (with a claim id) of messages whose post reply had not come yet: `${queue}/${id}` → acknowledged. */
  readonly earlyDeletes = new Map<string, boolean>();
  /** Acknowledged deletes since the last check, by `${queue}/${id}`. */
  deletedSinceCheck: Msg[] = [];
  /** Acknowledged, undeleted messages whose delete may be picked: keys. */
  live: string[] = [];
  seq = 0;
  readonly failures: string[] = [];

  fail(what: string): void {
    if (this.failures.length < 50) this.failures.push(what);
  }

  idKey(queue: string, id: string): string {
    return `${queue}/${id}`;
  }

  setId(m: Msg, id: string): void {
    m.id = id;
    this.byId.set(this.idKey(m.queue, id), m);
  }

  /** Acknowledged messages nobody is deleting, for a delete to pick. */
  deletable(n: number, queue?: string, unclaimed = false): Msg[] {
    const out: Msg[] = [];
    for (let tries = 0; tries < n * 4 && out.length < n && this.live.length > 0; tries++) {
      const i = Math.floor(rand() * this.live.length);
      const m = this.msgs.get(this.live[i]!);
      if (!m || !m.must || m.busy || m.id === undefined) {
        this.live[i] = this.live[this.live.length - 1]!;
        this.live.pop();
        continue;
      }
      if (queue !== undefined && m.queue !== queue) continue;
      if (unclaimed && m.claim !== undefined) continue;
      if (!out.includes(m)) out.push(m);
    }
    return out;
  }
}

// ---- the stream --------------------------------------------------------------------------------

interface Weights {
  post: number;
  claim: number;
  del: number;
  bulk: number;
  queueCycle: number;
  read: number;
}

const MIXED: Weights = { post: 50, claim: 12, del: 14, bulk: 10, queueCycle: 6, read: 8 };
/** More deletes than posts add: the live set stays small while the journal grows, so it compacts. */
const CHURN: Weights = { post: 30, claim: 15, del: 30, bulk: 20, queueCycle: 3, read: 2 };

const MAIN_QUEUES = ["alpha", "beta", "gamma"];

/** Whether a rejected call got an answer from the broker (a status) or none (killed, closed, timed out). */
const answered = (e: unknown): e is QueueClientError => e instanceof QueueClientError && e.status > 0;

class Stream {
  stopped = false;
  inflight = 0;
  /** Requests sent so far. */
  sent = 0;
  readonly tally: Tally = { posts: 0, postedMessages: 0, claims: 0, claimDeletes: 0, deletes: 0, refusedDeletes: 0, bulkDeletes: 0, releases: 0, queueCycles: 0, reads: 0, unacked: 0 };
  private readonly clients: QueueClient[] = [];
  private readonly loops: Promise<void>[] = [];
  private cycle = 0;

  constructor(
    private readonly model: Model,
    private readonly round: number,
    private readonly weights: Weights,
    address: string,
    clients: number,
    loopsPerClient: number,
  ) {
    for (let c = 0; c < clients; c++) {
      const client = new QueueClient({ address, timeout: 15_000 });
      this.clients.push(client);
      for (let l = 0; l < loopsPerClient; l++) this.loops.push(this.loop(client, c));
    }
  }

  /** After the kill: fail what is still waiting and let the loops end. */
  async end(): Promise<void> {
    this.stopped = true;
    for (const c of this.clients) c.close();
    await within(Promise.all(this.loops), 10_000, "the client loops to end");
  }

  /** Runs `call` counting it in flight; undefined when it got no answer. */
  private async track<T>(call: () => Promise<T>): Promise<{ ok: T } | { err: QueueClientError } | undefined> {
    this.inflight++;
    this.sent++;
    try {
      return { ok: await call() };
    } catch (e) {
      if (answered(e)) return { err: e };
      if (!this.stopped) this.model.fail(`round ${this.round}: a call failed while the broker was up: ${String(e)}`);
      this.tally.unacked++;
      return undefined;
    } finally {
      this.inflight--;
    }
  }

  private async loop(client: QueueClient, c: number): Promise<void> {
    const w = this.weights;
    const total = w.post + w.claim + w.del + w.bulk + w.queueCycle + w.read;
    while (!this.stopped) {
      let r = rand() * total;
      const before = this.sent;
      if ((r -= w.post) < 0) await this.post(client, pick(MAIN_QUEUES)!, c);
      else if ((r -= w.claim) < 0) await this.claim(client);
      else if ((r -= w.del) < 0) await this.deleteOne(client);
      else if ((r -= w.bulk) < 0) await this.deleteBulk(client);
      else if ((r -= w.queueCycle) < 0) await this.queueCycle(client, c);
      else await this.read(client);
      // Nothing to delete or read: give the event loop a turn rather than spin on microtasks.
      if (this.sent === before) await new Promise((r) => setImmediate(r));
    }
  }

  private async post(client: QueueClient, queue: string, c: number): Promise<void> {
    const m = this.model;
    const batch: Msg[] = [];
    for (let i = int(1, 5); i > 0; i--) {
      const key = `${this.round}.${c}.${m.seq++}`;
      const msg: Msg = { key, queue, body: { k: key, pad: "x".repeat(int(0, 300)), n: int(0, 1e9) }, must: false, may: true, busy: false };
      m.msgs.set(key, msg);
      batch.push(msg);
    }
    const r = await this.track(() => client.post(queue, batch.map((x) => ({ body: x.body, ttl: 3600 }))));
    if (!r) return;
    if ("err" in r) {
      // A post to a queue the stream itself deleted is a 404; anything else is a bug.
      const gone = m.queues.get(queue)?.may === false;
      if (!(gone && r.err.status === 404)) m.fail(`round ${this.round}: post to ${queue} answered ${r.err.message}`);
      for (const x of batch) x.may = false;
      return;
    }
    this.tally.posts++;
    this.tally.postedMessages += batch.length;
    if (r.ok.length !== batch.length) m.fail(`round ${this.round}: post of ${batch.length} returned ${r.ok.length} ids`);
    r.ok.forEach((id, i) => {
      const x = batch[i]!;
      const k = m.idKey(queue, id);
      if (m.everIds.has(k)) m.fail(`round ${this.round}: id ${k} given out twice`);
      m.everIds.add(k);
      m.setId(x, id);
      // Claimed and deleted by another client before this reply came: the delete decides.
      const early = m.earlyDeletes.get(k);
      if (early === undefined) {
        x.must = true;
        m.live.push(x.key);
      } else {
        x.busy = true;
        if (early) this.deleted(x);
      }
    });
  }

  private async claim(client: QueueClient): Promise<void> {
    const m = this.model;
    const queue = pick(MAIN_QUEUES)!;
    const r = await this.track(() => client.claim(queue, { ttl: 600, grace: 60, limit: int(1, 5) }));
    if (!r) return;
    if ("err" in r) return m.fail(`round ${this.round}: claim answered ${r.err.message}`);
    if (!r.ok) return; // nothing free
    this.tally.claims++;
    const claim: Claim = { id: r.ok.id, queue, ids: r.ok.messages.map((x) => x.id), releaseSent: false, releaseAcked: false };
    m.claims.set(`${queue}/${claim.id}`, claim);
    for (const id of claim.ids) {
      const msg = m.byId.get(m.idKey(queue, id));
      if (msg) msg.claim = claim.id;
    }
    // Delete some of them with the claim id (pipelined), sometimes release the claim after.
    const mine = r.ok.messages.filter(() => rand() < 0.6);
    await Promise.all(mine.map((x) => this.deleteClaimed(client, queue, x)));
    if (rand() < 0.25 && !this.stopped) {
      claim.releaseSent = true;
      const rel = await this.track(() => client.releaseClaim(queue, claim.id));
      if (!rel) return;
      if ("err" in rel) return m.fail(`round ${this.round}: release answered ${rel.err.message}`);
      this.tally.releases++;
      claim.releaseAcked = true;
      for (const id of claim.ids) {
        const msg = m.byId.get(m.idKey(queue, id));
        if (msg?.claim === claim.id) delete msg.claim;
      }
    }
  }

  private async deleteClaimed(client: QueueClient, queue: string, x: QueueMessage): Promise<void> {
    const m = this.model;
    const k = m.idKey(queue, x.id);
    const msg = m.byId.get(k);
    if (msg?.busy) return;
    if (msg) {
      msg.busy = true;
      msg.must = false;
    } else {
      m.earlyDeletes.set(k, false);
    }
    const r = await this.track(() => client.delete(queue, x));
    if (!r) return;
    if ("err" in r) return m.fail(`round ${this.round}: delete with its claim id answered ${r.err.message}`);
    this.tally.claimDeletes++;
    const now = msg ?? m.byId.get(k);
    if (now) this.deleted(now);
    else m.earlyDeletes.set(k, true);
  }

  private deleted(msg: Msg): void {
    msg.may = false;
    msg.must = false;
    this.model.deletedSinceCheck.push(msg);
  }

  private async deleteOne(client: QueueClient): Promise<void> {
    const m = this.model;
    const [msg] = m.deletable(1, undefined, true);
    if (!msg) return;
    msg.busy = true;
    msg.must = false;
    const r = await this.track(() => client.delete(msg.queue, msg.id!));
    if (!r) return;
    if ("err" in r) {
      // Claimed meanwhile (a claim whose reply is still on its way): refused, so still there.
      msg.busy = false;
      if (r.err.status === 403) {
        this.tally.refusedDeletes++;
        msg.must = true;
        return;
      }
      return m.fail(`round ${this.round}: delete answered ${r.err.message}`);
    }
    this.tally.deletes++;
    this.deleted(msg);
  }

  private async deleteBulk(client: QueueClient): Promise<void> {
    const m = this.model;
    const queue = pick(MAIN_QUEUES)!;
    const picked = m.deletable(int(1, 5), queue);
    if (picked.length === 0) return;
    for (const msg of picked) [msg.busy, msg.must] = [true, false];
    const r = await this.track(() => client.deleteMany(queue, picked.map((x) => x.id!)));
    if (!r) return;
    if ("err" in r) return m.fail(`round ${this.round}: bulk delete answered ${r.err.message}`);
    this.tally.bulkDeletes++;
    for (const msg of picked) this.deleted(msg);
  }

  /** A short-lived queue: create it, post to it, usually delete it again. */
  private async queueCycle(client: QueueClient, c: number): Promise<void> {
    const m = this.model;
    const name = `tmp-${this.round}-${c}-${this.cycle++}`;
    const q: Queue = { name, main: false, must: false, may: true };
    m.queues.set(name, q);
    const created = await this.track(() => client.createQueue(name));
    if (!created) return;
    if ("err" in created) return m.fail(`round ${this.round}: PUT ${name} answered ${created.err.message}`);
    if (created.ok !== true) m.fail(`round ${this.round}: PUT of the new queue ${name} did not answer 201`);
    q.must = true;
    await this.post(client, name, c);
    if (this.stopped || rand() < 0.3) return;
    q.must = false;
    for (const msg of m.msgs.values()) if (msg.queue === name) msg.must = false;
    const deleted = await this.track(() => client.deleteQueue(name));
    if (!deleted) return;
    if ("err" in deleted) return m.fail(`round ${this.round}: DELETE ${name} answered ${deleted.err.message}`);
    this.tally.queueCycles++;
    q.may = false;
    for (const msg of m.msgs.values()) if (msg.queue === name) [msg.may, msg.must] = [false, false];
  }

  /** Acknowledged messages must be readable while the broker runs, too. */
  private async read(client: QueueClient): Promise<void> {
    const m = this.model;
    const queue = pick(MAIN_QUEUES)!;
    const want = m.deletable(int(1, 5), queue);
    if (want.length === 0) return;
    const r = await this.track(() => client.getMany(queue, want.map((x) => x.id!)));
    if (!r) return;
    if ("err" in r) return m.fail(`round ${this.round}: GET by ids answered ${r.err.message}`);
    this.tally.reads++;
    const got = new Map(r.ok.map((x) => [x.id, x]));
    for (const x of want) {
      // A delete picked after this read went out may have removed it: only check what nobody deletes.
      if (!x.must || x.busy) continue;
      const g = got.get(x.id!);
      if (!g) m.fail(`round ${this.round}: acknowledged ${x.queue}/${x.id} missing from a live GET by ids`);
      else if (JSON.stringify(g.body) !== JSON.stringify(x.body)) m.fail(`round ${this.round}: ${x.queue}/${x.id} read back with another body`);
    }
  }
}

// ---- the check after a restart -----------------------------------------------------------------

interface CheckSummary {
  present: number;
  resolvedUnacked: number;
  droppedUnacked: number;
  deletedChecked: number;
  claimsChecked: number;
}

async function checkAgainstModel(model: Model, address: string, round: number): Promise<CheckSummary> {
  const c = new QueueClient({ address, timeout: 10_000 });
  const summary: CheckSummary = { present: 0, resolvedUnacked: 0, droppedUnacked: 0, deletedChecked: 0, claimsChecked: 0 };
  const fail = (what: string) => model.fail(`after round ${round}: ${what}`);
  try {
    // Queues: an acknowledged create is there unless a delete was sent; an acknowledged delete stays.
    const existing: string[] = [];
    for (const q of model.queues.values()) {
      const exists = await c.queueExists(q.name);
      if (exists && !q.may) fail(`queue ${q.name} came back after its acknowledged delete`);
      if (!exists && q.must) fail(`acknowledged queue ${q.name} is gone`);
      q.must = q.may = exists;
      if (exists) existing.push(q.name);
      else model.queues.delete(q.name);
    }
    // Everything the broker holds, claimed or not, own or not.
    const seen = new Map<string, QueueMessage & { queue: string }>();
    for (const queue of existing) {
      const ids = new Set<string>();
      let marker: string | undefined;
      for (let pages = 0; ; pages++) {
        if (pages > 5000) throw new Error(`listing ${queue} does not end`);
        const page = await c.list(queue, { marker, limit: 20, echo: true, includeClaimed: true });
        if (page.messages.length === 0) break;
        for (const x of page.messages) {
          if (ids.has(x.id)) fail(`${queue}/${x.id} listed twice`);
          ids.add(x.id);
          const body = x.body as Msg["body"] | null;
          const key = typeof body === "object" && body !== null ? body.k : undefined;
          const known = key === undefined ? undefined : model.msgs.get(key);
          if (!known) {
            fail(`${queue}/${x.id} holds ${JSON.stringify(x.body).slice(0, 80)}, which was never posted`);
            continue;
          }
          if (known.queue !== queue) fail(`${key} posted to ${known.queue} but found in ${queue}`);
          if (seen.has(key!)) fail(`${key} present twice`);
          if (JSON.stringify(x.body) !== JSON.stringify(known.body)) fail(`${key} came back with another body`);
          seen.set(key!, { ...x, queue });
        }
        marker = page.marker;
      }
    }
    // Compare with the model, then make what was seen the model.
    model.live = [];
    for (const m of [...model.msgs.values()]) {
      const s = seen.get(m.key);
      if (s) {
        if (!m.may) fail(`${m.queue}/${s.id} (${m.key}) came back after an acknowledged delete`);
        if (m.id !== undefined && m.id !== s.id) fail(`${m.key} was acknowledged as ${m.id} but is ${s.id}`);
        if (m.id === undefined) {
          if (model.earlyDeletes.get(model.idKey(m.queue, s.id)) === true) fail(`${m.queue}/${s.id} came back after an acknowledged delete`);
          summary.resolvedUnacked++;
          if (model.everIds.has(model.idKey(m.queue, s.id))) fail(`${m.queue}/${s.id} of an unacknowledged post repeats an id`);
          model.everIds.add(model.idKey(m.queue, s.id));
          model.setId(m, s.id);
        }
        m.must = m.may = true;
        m.busy = false;
        model.live.push(m.key);
        summary.present++;
      } else {
        if (m.must) fail(`acknowledged ${m.queue}/${m.id} (${m.key}) is lost`);
        if (m.may && m.id === undefined) summary.droppedUnacked++;
        model.msgs.delete(m.key);
        if (m.id !== undefined) model.byId.delete(model.idKey(m.queue, m.id));
      }
    }
    // GET by ids agrees with the listing (pipelined, 20 ids a request).
    const byQueue = new Map<string, Msg[]>();
    for (const m of model.msgs.values()) byQueue.set(m.queue, [...(byQueue.get(m.queue) ?? []), m]);
    const gets: Promise<void>[] = [];
    for (const [queue, ms] of byQueue) {
      for (let i = 0; i < ms.length; i += 20) {
        const chunk = ms.slice(i, i + 20);
        gets.push(
          c.getMany(queue, chunk.map((x) => x.id!)).then((got) => {
            const ids = new Map(got.map((x) => [x.id, x]));
            for (const x of chunk) {
              const g = ids.get(x.id!);
              if (!g) fail(`${queue}/${x.id} listed but not found by GET ?ids=`);
              else if (JSON.stringify(g.body) !== JSON.stringify(x.body)) fail(`${queue}/${x.id}: GET ?ids= has another body`);
            }
          }),
        );
      }
    }
    // Acknowledged deletes since the last check: not found by id either (one GET each, pipelined).
    for (const m of model.deletedSinceCheck) {
      if (m.id === undefined) continue;
      summary.deletedChecked++;
      gets.push(
        c.get(m.queue, m.id).then((g) => {
          if (g) fail(`deleted ${m.queue}/${m.id} is found by GET`);
        }),
      );
    }
    model.deletedSinceCheck = [];
    await Promise.all(gets);
    // Claims: an acknowledged release stays released; an unreleased claim still holds what is left of it.
    for (const [k, cl] of [...model.claims]) {
      const left = cl.ids.filter((id) => model.byId.get(model.idKey(cl.queue, id))?.must === true);
      if (!cl.releaseAcked && (cl.releaseSent || left.length === 0)) {
        model.claims.delete(k);
        continue;
      }
      summary.claimsChecked++;
      const g = model.queues.get(cl.queue)?.may ? await c.getClaim(cl.queue, cl.id) : undefined;
      if (cl.releaseAcked) {
        if (g) fail(`claim ${cl.queue}/${cl.id} came back after its acknowledged release`);
        model.claims.delete(k);
        continue;
      }
      if (!g) {
        fail(`acknowledged claim ${cl.queue}/${cl.id} holding ${left.length} message(s) is gone`);
        model.claims.delete(k);
        continue;
      }
      const held = g.messages.map((x) => x.id).sort();
      if (JSON.stringify(held) !== JSON.stringify([...left].sort())) fail(`claim ${cl.queue}/${cl.id} holds ${held} instead of ${left}`);
    }
    // Claim marks on messages: only the claims just confirmed.
    for (const m of model.msgs.values()) if (m.claim !== undefined && !model.claims.has(`${m.queue}/${m.claim}`)) delete m.claim;
  } finally {
    c.close();
  }
  return summary;
}

// ---- rounds ------------------------------------------------------------------------------------

interface RunOptions {
  flags: string[];
  rounds: number;
  /** After the last check: stop with SIGTERM, start again and check once more. */
  cleanRestart?: boolean;
  weights: Weights;
}

/** Rounds of start → check → stream → SIGKILL on one directory, then a last start and check. */
async function killRounds(t: Test, dir: string, o: RunOptions): Promise<{ logs: string }> {
  const model = new Model();
  for (const name of MAIN_QUEUES) model.queues.set(name, { name, main: true, must: false, may: true });
  let logs = "";
  for (let round = 1; round <= o.rounds + 1; round++) {
    const started = Date.now();
    const b = await startBroker(["--data-dir", dir, ...o.flags]);
    t.teardown(() => void b.child.kill("SIGKILL"));
    t.match(b.mode, new RegExp(`^durable in ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, open`), `round ${round}: the start-up line says durable in the directory`);
    const startMs = Date.now() - started;
    if (round === 1) {
      const c = new QueueClient({ address: b.address, timeout: 10_000 });
      for (const name of MAIN_QUEUES) {
        t.equal(await c.createQueue(name), true, `queue ${name} created`);
        model.queues.get(name)!.must = true;
      }
      c.close();
    } else {
      const before = Date.now();
      const s = await checkAgainstModel(model, b.address, round - 1).catch((e: Error) => {
        throw new Error(`${e.message}\nbroker log:\n${b.err()}`);
      });
      t.same(model.failures, [], `after SIGKILL #${round - 1}: every acknowledged change is there, nothing else is`);
      t.comment(
        `after kill #${round - 1}: restart ${startMs} ms, check ${Date.now() - before} ms: ${s.present} messages present, ` +
          `${s.resolvedUnacked} unacknowledged posts kept, ${s.droppedUnacked} dropped, ${s.deletedChecked} deletes and ${s.claimsChecked} claims checked`,
      );
      if (model.failures.length > 0) {
        b.child.kill("SIGKILL");
        break;
      }
    }
    if (round > o.rounds) {
      b.child.kill("SIGTERM");
      t.equal(await within(b.exited, 10_000, "the broker to stop on SIGTERM"), 0, "a clean stop exits 0");
      logs += b.err();
      if (!o.cleanRestart) break;
      // A clean stop keeps everything too (checked by one more start).
      const again = await startBroker(["--data-dir", dir, ...o.flags]);
      t.teardown(() => void again.child.kill("SIGKILL"));
      await checkAgainstModel(model, again.address, round);
      t.same(model.failures, [], "after a clean stop and start: the same state");
      again.child.kill("SIGTERM");
      await within(again.exited, 10_000, "the broker to stop");
      logs += again.err();
      break;
    }
    const stream = new Stream(model, round, o.weights, b.address, 4, 4);
    const killAt = int(500, 1500);
    await new Promise((r) => setTimeout(r, killAt));
    const inflight = stream.inflight;
    b.child.kill("SIGKILL");
    stream.stopped = true;
    t.equal(await within(b.exited, 10_000, "the broker to die"), "SIGKILL", `round ${round}: killed after ${killAt} ms`);
    await stream.end();
    logs += b.err();
    const tally = stream.tally;
    t.ok(tally.posts > 0 && tally.deletes + tally.bulkDeletes + tally.claimDeletes > 0, `round ${round}: posts and deletes were acknowledged before the kill`);
    t.ok(inflight > 0, `round ${round}: the kill came with ${inflight} requests in flight`);
    t.comment(`round ${round}: killed at ${killAt} ms; acknowledged ${JSON.stringify(tally)}`);
  }
  return { logs };
}

t.test("SIGKILL mid-stream, fsync on: nothing acknowledged is lost, nothing deleted comes back", async (t) => {
  const dir = await tmpdir(t);
  const { logs } = await killRounds(t, dir, { flags: [], rounds: 3, weights: MIXED, cleanRestart: true });
  t.notMatch(logs, /ERROR/, "the broker logged no error");
});

t.test("SIGKILL mid-stream with compaction all the time (--compact-bytes 4096)", async (t) => {
  const dir = await tmpdir(t);
  const { logs } = await killRounds(t, dir, { flags: ["--compact-bytes", "4096"], rounds: 2, weights: CHURN });
  const compactions = logs.match(/journal compacted/g)?.length ?? 0;
  t.ok(compactions >= 3, `the journal was compacted (${compactions} times)`);
  t.notMatch(logs, /ERROR/, "the broker logged no error");
});

t.test("SIGKILL mid-stream with --no-fsync: the page cache survives a process crash", async (t) => {
  const dir = await tmpdir(t);
  const { logs } = await killRounds(t, dir, { flags: ["--no-fsync"], rounds: 1, weights: MIXED });
  t.notMatch(logs, /ERROR/, "the broker logged no error");
});

t.test("a second broker on the same data directory exits 1 with one EJOURNALLOCKED line", async (t) => {
  const dir = await tmpdir(t);
  const first = await startBroker(["--data-dir", dir]);
  t.teardown(() => void first.child.kill("SIGKILL"));
  const second: BrokerProcess = spawnBroker(["--data-dir", dir]);
  t.teardown(() => void second.child.kill("SIGKILL"));
  t.equal(await within(second.exited, 10_000, "the second broker to exit"), 1, "exit 1");
  const lines = second.err().trim().split("\n");
  const fatal = lines.filter((l) => l.startsWith("emq-broker: "));
  t.equal(fatal.length, 1, "one error line");
  t.match(fatal[0], new RegExp(`^emq-broker: queue API: journal .*locked by running process ${first.child.pid}.*\\(EJOURNALLOCKED\\)$`), "it names the lock, the holder and the code");
  t.equal(lines[lines.length - 1], fatal[0], "and it is the last line");
  t.notMatch(second.out(), /listening/, "the second broker never said it listens");
  t.equal(await readFile(path.join(dir, "journal.lock"), "utf8"), `${first.child.pid}\n`, "the first broker still holds the lock");
  const c = new QueueClient({ address: first.address, timeout: 5000 });
  t.teardown(() => c.close());
  await c.createQueue("still-mine");
  const [id] = await c.post("still-mine", { body: "after the refused second broker" });
  t.equal((await c.get("still-mine", id!))?.body, "after the refused second broker", "the first broker keeps working");
  first.child.kill("SIGTERM");
  t.equal(await within(first.exited, 10_000, "the first broker to stop"), 0);
});
