// The queue API's journal file layer, on real files in a temporary directory: record round trip,
// group commit (counted writes and fsyncs), torn tails cut at every byte, corruption in the middle
// refused with its offset, random damage (only JournalError, never a hang, never a non-prefix),
// compaction with appends before and after the call (and "crash images" copied while it runs), a
// child process SIGKILLed mid-stream (with and without compaction), the directory lock, and I/O
// failures injected through the test-only hooks.

import t, { type Test } from "tap";
import fc from "fast-check";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Journal, JournalError, crc32, type JournalErrorCode, type JournalTestHooks } from "../../src/queue-api/journal.js";
import { until, within } from "../socket/fake-peer.js";

const HEADER = 32;
const FRAME = 12;

async function tmpdir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "emq-journal-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const journalFile = (dir: string): string => path.join(dir, "journal");
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Resolves to the JournalError `p` rejects with, failing the test if it resolves or rejects otherwise. */
async function journalError(t: Test, p: Promise<unknown>, code: JournalErrorCode, what: string): Promise<JournalError | undefined> {
  try {
    await p;
  } catch (e) {
    t.ok(e instanceof JournalError, `${what}: a JournalError`);
    t.equal((e as JournalError).code, code, `${what}: ${code}`);
    return e as JournalError;
  }
  t.fail(`${what}: expected ${code}, but it succeeded`);
  return undefined;
}

/** Offsets [start, end) of each record frame in a journal file's bytes. */
function frames(bytes: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let off = HEADER;
  while (off + FRAME <= bytes.length) {
    const end = off + FRAME + bytes.readUInt32LE(off);
    out.push([off, end]);
    off = end;
  }
  return out;
}

async function writeJournal(dir: string, records: unknown[]): Promise<Buffer> {
  const { journal } = await Journal.open({ dir, fsync: false });
  await Promise.all(records.map((r) => journal.append(r)));
  await journal.close();
  return readFile(journalFile(dir));
}

// JSON-ish values plus bigint (int64 range beyond ±(2^53-1): the queue API codec reads smaller
// integers back as numbers; -0 becomes 0, which msgpack cannot tell apart).
const { value: recordArb } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 53n) }),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 63n - 1n }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(
      fc.string({ maxLength: 10 }).filter((k) => k !== "__proto__"),
      tie("value"),
      { maxKeys: 5 },
    ),
  ),
}));

t.test("crc32: check value and a bit-by-bit reference", async (t) => {
  t.equal(crc32(Buffer.from("123456789")), 0xcbf43926, "CRC-32 of '123456789'");
  t.equal(crc32(Buffer.alloc(0)), 0, "CRC-32 of nothing");
  const reference = (b: Uint8Array): number => {
    let c = 0xffffffff;
    for (const byte of b) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(100), fc.nat(100), (b, x, y) => {
      const start = Math.min(x, b.length);
      const end = Math.max(start, Math.min(y, b.length));
      return crc32(b, start, end) === reference(b.subarray(start, end));
    }),
  );
});

t.test("round trip: random records appended across turns come back in order", async (t) => {
  const dir = await tmpdir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(recordArb, fc.nat(3)), { maxLength: 40 }), async (ops) => {
      const d = path.join(dir, String(run++));
      const { journal, records: none } = await Journal.open({ dir: d, fsync: false });
      if (none.length !== 0) return false;
      const pending: Promise<void>[] = [];
      for (const [record, pause] of ops) {
        pending.push(journal.append(record));
        if (pause === 1) await turn();
        if (pause === 2) await Promise.all(pending);
      }
      await Promise.all(pending);
      await journal.close();
      const again = await Journal.open({ dir: d, fsync: false });
      await again.journal.close();
      t.same(again.records, ops.map(([r]) => r));
      return again.tornBytes === 0 && again.records.length === ops.length;
    }),
    { numRuns: 60 },
  );
  // And once with fsync on, the default.
  const d = path.join(dir, "fsync");
  const { journal } = await Journal.open({ dir: d });
  const records = [{ a: 2n ** 60n }, [1, "two", null, true, 2.5], "three", 2 ** 40, { nested: { deep: [-(2n ** 63n), 2n ** 63n - 1n] } }];
  await Promise.all(records.map((r) => journal.append(r)));
  t.ok(journal.stats.fsyncs >= 1, "fsync: true fsyncs");
  await journal.close();
  const again = await Journal.open({ dir: d });
  t.same(again.records, records, "bigints, floats above 2^32, nesting survive");
  t.equal(typeof (again.records[3] as number), "number", "2^40 as a number stays a number");
  await again.journal.close();
});

t.test("group commit: one write and one fsync per turn, and per batch in flight", async (t) => {
  const dir = await tmpdir(t);
  const { journal } = await Journal.open({ dir });
  const before = journal.stats;
  const all = Array.from({ length: 1000 }, (_, i) => journal.append({ i, body: "x".repeat(100) }));
  t.ok(journal.size > 100_000, "size counts queued records");
  await within(Promise.all(all), 10_000, "1000 appends");
  const after = journal.stats;
  t.equal(after.writes - before.writes, 1, "1000 appends in one turn: one write");
  t.equal(after.fsyncs - before.fsyncs, 1, "and one fsync");
  t.equal(after.appends - before.appends, 1000);

  // Appends made over several turns while a batch's fsync is held all go out in the next batch.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let syncs = 0;
  const hooks: JournalTestHooks = {
    beforeSync: async () => {
      if (syncs++ === 0) await gate;
    },
  };
  await journal.close();
  const { journal: j2, records } = await Journal.open({ dir, testHooks: hooks });
  t.equal(records.length, 1000);
  const s0 = j2.stats;
  const first = j2.append({ first: true });
  const rest: Promise<void>[] = [];
  let firstDone = false;
  void first.then(() => (firstDone = true));
  await until(() => syncs === 1, "the first batch to reach its fsync");
  for (let k = 0; k < 10; k++) {
    await turn();
    for (let i = 0; i < 10; i++) rest.push(j2.append({ k, i }));
  }
  t.equal(syncs, 1, "the first batch's fsync is still held");
  t.notOk(firstDone, "so its append has not resolved");
  release();
  await within(Promise.all([first, ...rest]), 10_000, "appends after release");
  const s1 = j2.stats;
  t.equal(s1.writes - s0.writes, 2, "100 appends over 10 turns during one fsync: one more write");
  t.equal(s1.fsyncs - s0.fsyncs, 2, "and one more fsync");
  await j2.close();
  const again = await Journal.open({ dir });
  t.same(again.records.slice(1000), [{ first: true }, ...Array.from({ length: 100 }, (_, n) => ({ k: Math.floor(n / 10), i: n % 10 }))], "in call order");
  await again.journal.close();
});

t.test("torn tail: a cut anywhere in the last record or the header", async (t) => {
  const dir = await tmpdir(t);
  const records = [{ a: 1 }, "second", [1, 2, 3], { big: 2n ** 60n, s: "x".repeat(40) }, { last: "y".repeat(30) }];
  const bytes = await writeJournal(path.join(dir, "src"), records);
  const f = frames(bytes);
  t.equal(f.length, 5);
  t.equal(f[4]![1], bytes.length, "frames cover the file");
  const d = path.join(dir, "cut");
  const [lastStart, lastEnd] = f[4]!;
  const cuts: Array<{ cut: number; expect: number; torn: number }> = [];
  for (let c = 1; c < HEADER; c++) cuts.push({ cut: c, expect: 0, torn: c });
  for (let c = lastStart + 1; c < lastEnd; c++) cuts.push({ cut: c, expect: 4, torn: c - lastStart });
  cuts.push({ cut: 0, expect: 0, torn: 0 }, { cut: HEADER, expect: 0, torn: 0 }, { cut: lastStart, expect: 4, torn: 0 });
  let bad = 0;
  for (const { cut, expect, torn } of cuts) {
    await rm(d, { recursive: true, force: true });
    await writeJournalBytes(d, bytes.subarray(0, cut));
    const opened = await Journal.open({ dir: d, fsync: false });
    const ok1 =
      opened.records.length === expect && opened.tornBytes === torn && JSON.stringify(opened.records, big) === JSON.stringify(records.slice(0, expect), big);
    const sizeAfter = (await stat(journalFile(d))).size;
    const ok2 = sizeAfter === (expect === 0 ? HEADER : lastStart);
    await opened.journal.append({ after: cut });
    await opened.journal.close();
    const again = await Journal.open({ dir: d, fsync: false });
    await again.journal.close();
    const ok3 = again.tornBytes === 0 && again.records.length === expect + 1 && JSON.stringify(again.records.at(-1)) === JSON.stringify({ after: cut });
    if (!(ok1 && ok2 && ok3)) {
      bad++;
      t.fail(`cut at ${cut}: records ${opened.records.length}/${expect}, torn ${opened.tornBytes}/${torn}, size ${sizeAfter}, reopened ${again.records.length}`);
    }
  }
  t.equal(bad, 0, `${cuts.length} cuts (31 in the header, ${lastEnd - lastStart - 1} in the last record, 3 on boundaries) recover`);
});

function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? `${v}n` : v;
}

async function writeJournalBytes(dir: string, bytes: Uint8Array): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  const { mkdir } = await import("node:fs/promises");
  await mkdir(dir, { recursive: true });
  await writeFile(journalFile(dir), bytes);
}

t.test("corruption: a damaged middle record is refused with its offset; a damaged last record is a torn tail", async (t) => {
  const dir = await tmpdir(t);
  const records = [{ n: 1 }, { n: 2, s: "two" }, { n: 3 }, { n: 4 }, { n: 5, s: "five" }];
  const bytes = await writeJournal(path.join(dir, "src"), records);
  const f = frames(bytes);
  const d = path.join(dir, "bad");
  let wrong = 0;
  const [r2start, r2end] = f[1]!;
  for (let at = r2start; at < r2end; at++) {
    for (const mask of [0x01, 0xff]) {
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= mask;
      await writeJournalBytes(d, damaged);
      try {
        const o = await Journal.open({ dir: d, fsync: false });
        await o.journal.close();
        wrong++;
        t.fail(`flip ${mask} at ${at}: opened with ${o.records.length} records`);
      } catch (e) {
        const err = e as JournalError;
        if (!(err instanceof JournalError) || err.code !== "EJOURNALCORRUPT" || err.offset !== r2start || !err.message.includes(journalFile(d)) || !err.message.includes(`offset ${r2start}`)) {
          wrong++;
          t.fail(`flip ${mask} at ${at}: ${String(e)}`);
        }
      }
      const after = await readFile(journalFile(d));
      if (!after.equals(damaged)) {
        wrong++;
        t.fail(`flip at ${at}: the file was changed by a refused open`);
      }
    }
  }
  t.equal(wrong, 0, `${2 * (r2end - r2start)} flips in record 2 of 5: EJOURNALCORRUPT at offset ${r2start}, file untouched`);

  // The lock was released by each refused open.
  const again = Journal.open({ dir: d, fsync: false });
  await journalError(t, again, "EJOURNALCORRUPT", "reopening a corrupt journal");

  const [r5start, r5end] = f[4]!;
  let tornWrong = 0;
  for (let at = r5start; at < r5end; at++) {
    const damaged = Buffer.from(bytes);
    damaged[at]! ^= 0x10;
    await writeJournalBytes(d, damaged);
    const o = await Journal.open({ dir: d, fsync: false });
    await o.journal.close();
    if (o.records.length !== 4 || o.tornBytes !== r5end - r5start) {
      tornWrong++;
      t.fail(`flip at ${at} in the last record: ${o.records.length} records, torn ${o.tornBytes}`);
    }
  }
  t.equal(tornWrong, 0, `${r5end - r5start} flips in the last record: 4 records, the rest torn`);

  // Header damage is not a tear.
  for (const at of [0, 9, 13, 20, 29]) {
    const damaged = Buffer.from(bytes);
    damaged[at]! ^= 0x04;
    await writeJournalBytes(d, damaged);
    const err = await journalError(t, Journal.open({ dir: d, fsync: false }), "EJOURNALCORRUPT", `header byte ${at} flipped`);
    t.equal(err?.offset, 0);
  }
  await writeJournalBytes(d, Buffer.from("hello, this is not a journal at all, no"));
  await journalError(t, Journal.open({ dir: d }), "EJOURNALCORRUPT", "a foreign file");
  await writeJournalBytes(d, Buffer.from("hello"));
  await journalError(t, Journal.open({ dir: d }), "EJOURNALCORRUPT", "a short foreign file");
});

t.test("random damage: only JournalError, never a hang, and what opens is a prefix", async (t) => {
  const dir = await tmpdir(t);
  const records = Array.from({ length: 8 }, (_, i) => ({ i, s: "r".repeat(i * 7), b: 2n ** 60n + BigInt(i) }));
  const bytes = await writeJournal(path.join(dir, "src"), records);
  const expected = records.map((r) => JSON.stringify(r, big));
  const d = path.join(dir, "fuzz");
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), data: fc.uint8Array({ minLength: 1, maxLength: 30 }) }),
  );
  const tryOpen = async (content: Uint8Array): Promise<{ ok: true; records: unknown[] } | { ok: false }> => {
    await writeJournalBytes(d, content);
    try {
      const o = await within(Journal.open({ dir: d, fsync: false }), 5_000, "open");
      await o.journal.close();
      return { ok: true, records: o.records };
    } catch (e) {
      if (e instanceof JournalError && e.code === "EJOURNALCORRUPT") return { ok: false };
      throw e;
    }
  };
  let opened = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (muts) => {
      let b = Buffer.from(bytes);
      for (const m of muts) {
        const at = m.at % (b.length + 1);
        if (m.kind === "flip" && at < b.length) b[at]! ^= m.mask;
        else if (m.kind === "cut") b = b.subarray(0, at);
        else if (m.kind === "insert") b = Buffer.concat([b.subarray(0, at), m.data, b.subarray(at)]);
      }
      const r = await tryOpen(b);
      if (!r.ok) {
        refused++;
        return true;
      }
      opened++;
      const got = r.records.map((x) => JSON.stringify(x, big));
      return got.length <= expected.length && got.every((g, k) => g === expected[k]);
    }),
    { numRuns: 300 },
  );
  t.ok(opened > 0 && refused > 0, `mutated journals: ${opened} opened with a prefix, ${refused} refused`);
  let garbageOpened = 0;
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 400 }), async (withHeader, data) => {
      const r = await tryOpen(withHeader ? Buffer.concat([bytes.subarray(0, HEADER), data]) : data);
      if (r.ok) garbageOpened++;
      return !r.ok || r.records.length === 0;
    }),
    { numRuns: 300 },
  );
  t.ok(garbageOpened > 0 && garbageOpened < 300, `garbage files: ${garbageOpened} opened empty (torn after a header, or cut in one), the rest refused`);
});

t.test("compaction: snapshot plus the records appended after the call", async (t) => {
  // "queued": the 50 earlier appends are still queued at the call; "in flight": their batch's
  // fsync is being held at the call.
  for (const mode of ["queued", "in flight"] as const) {
    const dir = await tmpdir(t);
    let hold: Promise<void> | null = null;
    let held = 0;
    const { journal } = await Journal.open({
      dir,
      fsync: true,
      testHooks: {
        beforeSync: async (file) => {
          if (file === "live" && hold) {
            held++;
            await hold;
          }
        },
      },
    });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => journal.append({ old: i, pad: "o".repeat(50) })));
    const sizeBefore = journal.size;
    t.equal(journal.appendedSinceCompaction, sizeBefore - HEADER, `${mode}: a never-compacted file is all appended`);
    let release!: () => void;
    if (mode === "in flight") hold = new Promise<void>((r) => (release = r));
    const pre = Array.from({ length: 50 }, (_, i) => journal.append({ pre: i }));
    if (mode === "in flight") await until(() => held === 1, "the earlier batch to reach its fsync");
    let consumed = false;
    function* snapshot(): Generator<unknown> {
      for (let i = 0; i < 10; i++) yield { snap: i };
      consumed = true;
    }
    const compacted = journal.compact(snapshot());
    t.ok(consumed, `${mode}: the snapshot was consumed within the call`);
    const post = Array.from({ length: 50 }, (_, i) => journal.append({ post: i }));
    if (mode === "in flight") {
      hold = null;
      release();
    }
    await within(Promise.all([...pre, ...post, compacted]), 10_000, "appends and compaction");
    t.equal(journal.stats.compactions, 1);
    const sizeAfter = journal.size;
    t.ok(sizeAfter < sizeBefore / 10, `${mode}: file shrank: ${sizeBefore} -> ${sizeAfter} bytes`);
    t.equal((await stat(journalFile(dir))).size, sizeAfter, "size matches the file");
    const later = Array.from({ length: 5 }, (_, i) => journal.append({ later: i }));
    await Promise.all(later);
    const since = journal.appendedSinceCompaction;
    await journal.close();
    t.same(await readdir(dir), ["journal"], "no temporary file or lock left");
    const again = await Journal.open({ dir });
    t.same(
      again.records,
      [
        ...Array.from({ length: 10 }, (_, i) => ({ snap: i })),
        ...Array.from({ length: 50 }, (_, i) => ({ post: i })),
        ...Array.from({ length: 5 }, (_, i) => ({ later: i })),
      ],
      `${mode}: 10 snapshot records, then the 50 after the call, then later ones; the 50 before it are superseded`,
    );
    t.equal(again.journal.appendedSinceCompaction, since, "the snapshot's end is kept in the header");
    await again.journal.close();
  }
});

t.test("compaction: appends are acknowledged from the old file while the new one is written", async (t) => {
  const dir = await tmpdir(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = false;
  const { journal } = await Journal.open({
    dir,
    testHooks: {
      beforeWrite: async (file) => {
        if (file === "compact" && !held) {
          held = true;
          await gate;
        }
      },
    },
  });
  await journal.append({ a: 0 });
  let compactDone = false;
  const compacted = journal.compact([{ snap: 1 }]).then(() => (compactDone = true));
  await new Promise((r) => setTimeout(r, 20));
  t.ok(held, "the compaction write is held");
  await within(Promise.all([journal.append({ b: 1 }), journal.append({ b: 2 })]), 5_000, "appends during compaction");
  t.notOk(compactDone, "acknowledged before the compaction finished");
  release();
  await within(compacted, 5_000, "compaction");
  await journal.append({ c: 3 });
  await journal.close();
  const again = await Journal.open({ dir });
  t.same(again.records, [{ snap: 1 }, { b: 1 }, { b: 2 }, { c: 3 }]);
  await again.journal.close();
});

t.test("compaction model: random appends and compactions, with crash images taken while running", async (t) => {
  const dir = await tmpdir(t);
  let run = 0;
  type Op = { kind: "append"; n: number } | { kind: "compact" } | { kind: "turn" } | { kind: "settle" } | { kind: "image" };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 30 }).map((n) => ({ kind: "append" as const, n })) },
    { weight: 2, arbitrary: fc.constant({ kind: "compact" as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: "turn" as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: "settle" as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: "image" as const }) },
  );
  // State = records 0..n-1. A snapshot record {upTo: n} stands for all of them.
  const replay = (records: unknown[]): number[] | string => {
    const state: number[] = [];
    for (const [k, r] of (records as Array<{ upTo?: number; i?: number }>).entries()) {
      if (r.upTo !== undefined) {
        if (k !== 0) return `snapshot record at position ${k}`;
        for (let i = 0; i < r.upTo; i++) state.push(i);
      } else state.push(r.i!);
    }
    return state;
  };
  const isPrefixRange = (s: number[]): boolean => s.every((v, k) => v === k);
  let compactionsDone = 0;
  let imagesChecked = 0;
  let imagesMidCompaction = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.boolean(), async (ops, fsync) => {
      const d = path.join(dir, String(run++));
      const { journal } = await Journal.open({ dir: d, fsync });
      let next = 0;
      let compactCalls = 0;
      const acked = new Set<number>();
      const pending: Promise<unknown>[] = [];
      const images: Array<{ bytes: Buffer; ackedBefore: number[]; midCompaction: boolean }> = [];
      for (const o of ops) {
        if (o.kind === "append") {
          for (let k = 0; k < o.n; k++) {
            const i = next++;
            pending.push(journal.append({ i }).then(() => acked.add(i)));
          }
        } else if (o.kind === "compact") {
          compactCalls++;
          pending.push(journal.compact([{ upTo: next }]));
        }
        else if (o.kind === "turn") await turn();
        else if (o.kind === "settle") await Promise.all(pending);
        else {
          const ackedBefore = [...acked];
          const midCompaction = journal.stats.compactions < compactCalls;
          images.push({ ackedBefore, bytes: await readFile(journalFile(d)), midCompaction });
        }
      }
      await within(Promise.all(pending), 10_000, "all appends and compactions");
      const compactions = journal.stats.compactions;
      compactionsDone += compactions;
      await journal.close();
      const again = await Journal.open({ dir: d, fsync: false });
      await again.journal.close();
      const state = replay(again.records);
      if (typeof state === "string" || state.length !== next || !isPrefixRange(state)) {
        t.fail(`final replay ${JSON.stringify(state)} after ${JSON.stringify(ops)}`);
        return false;
      }
      if (compactions > 0 && (again.records[0] as { upTo?: number }).upTo === undefined) return false;
      for (const [k, img] of images.entries()) {
        const id = `${d}-image${k}`;
        await writeJournalBytes(id, img.bytes);
        const o = await Journal.open({ dir: id, fsync: false });
        await o.journal.close();
        const s = replay(o.records);
        if (typeof s === "string" || !isPrefixRange(s) || img.ackedBefore.some((i) => i >= s.length)) {
          t.fail(`image ${k}: replay ${JSON.stringify(s)}, acked before ${JSON.stringify(img.ackedBefore)}`);
          return false;
        }
        imagesChecked++;
        if (img.midCompaction) imagesMidCompaction++;
      }
      return true;
    }),
    { numRuns: 100 },
  );
  t.ok(compactionsDone > 10, `${compactionsDone} compactions replayed to exactly the appended records`);
  t.ok(imagesChecked > 10, `${imagesChecked} crash images (${imagesMidCompaction} taken with a compaction pending) replay to a prefix holding every acknowledged record`);
});

t.test("crash: a child SIGKILLed while appending (and compacting) loses no acknowledged record", async (t) => {
  const child = fileURLToPath(new URL("./journal-crash-child.ts", import.meta.url));
  const require = createRequire(import.meta.url);
  const tsImport =
    process.execArgv.find((a) => a.includes("@tapjs/typescript")) ??
    `--import=${new URL("dist/esm/import.mjs", `file://${path.dirname(require.resolve("@tapjs/typescript/package.json"))}/`).href}`;
  const env: NodeJS.ProcessEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: "1" };
  delete env.NODE_OPTIONS;

  const runChild = async (dir: string, mode: string, killAfterMs: number): Promise<{ acked: number[]; compacted: number[]; start: number }> => {
    const c = spawn(process.execPath, [tsImport, child, dir, mode], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const closed = new Promise<void>((r) => c.once("close", () => r()));
    const deadline = Date.now() + 20_000;
    while (!/^ack \d+$/m.test(out)) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`child did not start acknowledging: ${out.slice(0, 500)} ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, killAfterMs));
    t.equal(c.exitCode, null, `${mode}: still running when killed (stderr: ${err.trim() || "none"})`);
    c.kill("SIGKILL");
    await within(closed, 10_000, "child exit");
    const lines = out.split("\n");
    return {
      start: Number(/^start (\d+)/m.exec(out)?.[1] ?? NaN),
      acked: lines.filter((l) => l.startsWith("ack ")).map((l) => Number(l.slice(4))),
      compacted: lines.filter((l) => l.startsWith("compacted ")).map((l) => Number(l.slice(10))),
    };
  };

  for (const mode of ["stream", "compact"]) {
    const dir = await tmpdir(t);
    let allAcked: number[] = [];
    let compactions = 0;
    for (const [round, ms] of [200, 300, 450].entries()) {
      const { acked, compacted, start } = await runChild(dir, mode, ms);
      allAcked = allAcked.concat(acked);
      compactions += compacted.length;
      // The dead child's lock is taken over.
      const { journal, records, tornBytes } = await Journal.open({ dir });
      await journal.close();
      let expected = 0;
      let problem = "";
      // Expected: optionally [{upTo: n}, fillers...], then {i: n}, {i: n + 1}, ...
      const rs = records as Array<{ upTo?: number; i?: number; fill?: number }>;
      for (const [k, r] of rs.entries()) {
        if (r.upTo !== undefined) {
          if (k !== 0) problem ||= `snapshot record at ${k}`;
          expected = r.upTo;
        } else if (r.fill !== undefined) {
          const prev = rs[k - 1];
          if (prev?.upTo === undefined && prev?.fill === undefined) problem ||= `filler out of place at ${k}`;
        } else if (r.i !== expected) problem ||= `record ${k} is i=${r.i}, expected ${expected}`;
        else expected++;
      }
      const missing = allAcked.filter((i) => i >= expected);
      t.equal(problem, "", `${mode} round ${round}: records form 0..${expected - 1} without gaps or duplicates`);
      t.same(missing, [], `${mode} round ${round}: all ${allAcked.length} acknowledged records present (torn ${tornBytes} bytes, resumed at ${start})`);
      t.ok(acked.length > 0, `${mode} round ${round}: ${acked.length} acknowledged before the kill`);
      if (compacted.length > 0) t.ok((records[0] as { upTo?: number }).upTo !== undefined, `${mode} round ${round}: the file starts with the last snapshot`);
    }
    if (mode === "compact") t.ok(compactions > 0, `${compactions} compactions completed in the children`);
  }
});

t.test("lock: one opener at a time; a dead pid's lock is taken over", async (t) => {
  const dir = await tmpdir(t);
  const lockFile = path.join(dir, "journal.lock");
  const { journal } = await Journal.open({ dir, fsync: false });
  t.equal(await readFile(lockFile, "utf8"), `${process.pid}\n`, "the lock file holds our pid");
  const err = await journalError(t, Journal.open({ dir, fsync: false }), "EJOURNALLOCKED", "second open in this process");
  t.equal(err?.pid, process.pid);
  await journal.close();
  await t.rejects(readFile(lockFile), { code: "ENOENT" }, "close removes the lock file");
  const second = await Journal.open({ dir, fsync: false });
  await second.journal.close();

  // Another live process's pid.
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  t.teardown(() => sleeper.kill("SIGKILL"));
  await writeFile(lockFile, `${sleeper.pid}\n`);
  const locked = await journalError(t, Journal.open({ dir, fsync: false }), "EJOURNALLOCKED", "lock held by a live process");
  t.equal(locked?.pid, sleeper.pid);
  t.match(locked?.message, String(sleeper.pid), "the message names the pid");
  t.equal(await readFile(lockFile, "utf8"), `${sleeper.pid}\n`, "the live lock is left alone");

  // A dead one.
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const deadPid = Number(dead.stdout);
  t.ok(deadPid > 0, `dead pid ${deadPid}`);
  await writeFile(lockFile, `${deadPid}\n`);
  const taken = await Journal.open({ dir, fsync: false });
  t.equal(await readFile(lockFile, "utf8"), `${process.pid}\n`, "stale lock taken over");
  await taken.journal.close();

  // Garbage, and our own pid left by an earlier incarnation (a restarted container's pid 1).
  for (const content of ["", "not a pid", `${process.pid}\n`]) {
    await writeFile(lockFile, content);
    const o = await Journal.open({ dir, fsync: false });
    t.equal(await readFile(lockFile, "utf8"), `${process.pid}\n`, `lock containing ${JSON.stringify(content)} taken over`);
    await o.journal.close();
  }
});

t.test("I/O failure: the batch and every later call reject EJOURNALIO", async (t) => {
  const dir = await tmpdir(t);
  let failWrites = false;
  const { journal } = await Journal.open({
    dir,
    testHooks: {
      beforeWrite: () => {
        if (failWrites) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      },
    },
  });
  await journal.append({ ok: 1 });
  failWrites = true;
  const batch = [journal.append({ lost: 1 }), journal.append({ lost: 2 })];
  const e1 = await journalError(t, batch[0]!, "EJOURNALIO", "append in the failed batch");
  await journalError(t, batch[1]!, "EJOURNALIO", "the other append in that batch");
  t.match(e1?.message, "ENOSPC");
  t.equal(journal.failed, true, "failed");
  failWrites = false;
  await journalError(t, journal.append({ later: 1 }), "EJOURNALIO", "a later append");
  await journalError(t, journal.compact([]), "EJOURNALIO", "compact on a failed journal");
  t.equal(journal.shouldCompact(), false);
  await journal.close();
  await journalError(t, journal.append({ closed: 1 }), "EJOURNALCLOSED", "append after close");
  const again = await Journal.open({ dir });
  t.same(again.records, [{ ok: 1 }], "the acknowledged record is there");
  await again.journal.close();

  // An fsync failure is final too (its data may or may not be on disk).
  let failSync = false;
  const j2 = (await Journal.open({ dir, testHooks: { beforeSync: () => { if (failSync) throw new Error("EIO: i/o error, fsync"); } } })).journal;
  failSync = true;
  await journalError(t, j2.append({ x: 1 }), "EJOURNALIO", "append whose fsync fails");
  t.equal(j2.failed, true);
  await j2.close();
});

t.test("I/O failure during compaction: before the rename the journal carries on; after it, it fails", async (t) => {
  const dir = await tmpdir(t);
  let failCompact = true;
  const { journal } = await Journal.open({
    dir,
    testHooks: {
      beforeWrite: (file) => {
        if (file === "compact" && failCompact) throw new Error("ENOSPC: no space left on device, write");
      },
    },
  });
  await journal.append({ a: 1 });
  const c = journal.compact([{ snap: 1 }]);
  const during = journal.append({ a: 2 });
  await journalError(t, c, "EJOURNALIO", "compaction whose write fails");
  await during;
  t.equal(journal.failed, false, "the journal is not failed");
  await journal.append({ a: 3 });
  failCompact = false;
  await journal.close();
  t.same(await readdir(dir), ["journal"], "the temporary file is removed");
  const again = await Journal.open({ dir });
  t.same(again.records, [{ a: 1 }, { a: 2 }, { a: 3 }], "old file kept, nothing lost");
  await again.journal.close();

  // A failed rename: same.
  const r = await Journal.open({ dir, testHooks: { beforeRename: () => { throw new Error("EXDEV: rename"); } } });
  const queued = r.journal.append({ b: 1 });
  await journalError(t, r.journal.compact([{ snap: 2 }]), "EJOURNALIO", "compaction whose rename fails");
  await queued;
  await r.journal.append({ b: 2 });
  await r.journal.close();
  const r2 = await Journal.open({ dir });
  t.same(r2.records, [{ a: 1 }, { a: 2 }, { a: 3 }, { b: 1 }, { b: 2 }]);
  await r2.journal.close();

  // A failed directory fsync after the rename: which file survives a crash is unknown, so fail.
  let failDir = true;
  const s = await Journal.open({ dir, testHooks: { beforeSync: (file) => { if (file === "dir" && failDir) throw new Error("EIO: fsync dir"); } } });
  await journalError(t, s.journal.compact([{ snap: 3 }]), "EJOURNALIO", "compaction whose directory fsync fails");
  t.equal(s.journal.failed, true, "journal failed");
  await journalError(t, s.journal.append({ c: 1 }), "EJOURNALIO", "append after that");
  failDir = false;
  await s.journal.close();
  const s2 = await Journal.open({ dir });
  t.same(s2.records, [{ snap: 3 }], "the renamed file is the journal");
  await s2.journal.close();
});

t.test("records that cannot be journaled are refused alone; close, size and shouldCompact", async (t) => {
  const dir = await tmpdir(t);
  const { journal } = await Journal.open({ dir, fsync: false, compactMinBytes: 2000 });
  await journalError(t, journal.append({ f: () => 1 }), "EJOURNALRECORD", "a function");
  await journalError(t, journal.append(2n ** 64n), "EJOURNALRECORD", "a bigint beyond 64 bits");
  await journalError(t, journal.append([-(2n ** 63n) - 1n]), "EJOURNALRECORD", "a bigint below -2^63");
  await journalError(t, journal.append(new Uint8Array(64 * 1024 * 1024 + 1)), "EJOURNALRECORD", "a record over 64 MiB");
  await journalError(t, journal.compact([{ ok: 1 }, Symbol("no")]), "EJOURNALRECORD", "a snapshot with a bad record");
  t.equal(journal.failed, false, "not failed");
  t.equal(journal.size, HEADER, "nothing was queued");
  await journal.append({ __proto_: "fine", s: "__proto__ as a value is fine" });

  t.equal(journal.shouldCompact(), false, "below compactMinBytes");
  const body = "b".repeat(100);
  const pending = Array.from({ length: 30 }, (_, i) => journal.append({ i, body }));
  t.ok(journal.size > 2000, "size includes queued records");
  t.equal(journal.appendedSinceCompaction, journal.size - HEADER);
  t.equal(journal.shouldCompact(), true, "over compactMinBytes and all appended since the (empty) snapshot");
  t.equal(journal.shouldCompact(journal.size), false, "a snapshot as big as the file: not worth it");
  t.equal(journal.shouldCompact(Math.floor(journal.size / 2) + 1), false, "just over half the file live: not worth it");
  t.equal(journal.shouldCompact(Math.floor(journal.size / 3)), true, "a third of the file live: worth it");
  await Promise.all(pending);
  const snapshot = Array.from({ length: 30 }, (_, i) => ({ i, body }));
  const c = journal.compact(snapshot);
  t.equal(journal.shouldCompact(), false, "not while a compaction is pending");
  await c;
  t.equal(journal.appendedSinceCompaction, 0, "nothing appended since the snapshot");
  t.equal(journal.recordCount, 30);
  t.equal(journal.shouldCompact(), false, "just compacted");
  await Promise.all(Array.from({ length: 40 }, (_, i) => journal.append({ i, body })));
  t.equal(journal.shouldCompact(), true, "more appended since than the snapshot holds");

  const last = journal.append({ last: true });
  const closing = journal.close();
  await journalError(t, journal.append({ after: true }), "EJOURNALCLOSED", "append after close()");
  await journalError(t, journal.compact([]), "EJOURNALCLOSED", "compact after close()");
  await last;
  await closing;
  t.equal(await journal.close(), undefined, "close twice is fine");
  const again = await Journal.open({ dir, fsync: false });
  t.same(again.records.at(-1), { last: true }, "the record appended just before close is there");
  t.equal(again.records.length, 71, "30 in the snapshot, 40 after, the last");
  await again.journal.close();
});

t.test("a __proto__ key (which JSON.parse and our codec produce as an own key) reads back as one", async (t) => {
  const dir = await tmpdir(t);
  const { journal } = await Journal.open({ dir, fsync: false });
  const record = JSON.parse('{"a": {"__proto__": {"polluted": 1}, "b": 2}}') as { a: Record<string, unknown> };
  await journal.append(record);
  await journal.close();
  const again = await Journal.open({ dir, fsync: false });
  t.teardown(() => again.journal.close());
  const a = (again.records[0] as { a: Record<string, unknown> }).a;
  t.ok(Object.prototype.hasOwnProperty.call(a, "__proto__"), "an own key");
  t.same(Object.getOwnPropertyDescriptor(a, "__proto__")?.value, { polluted: 1 });
  t.equal(Object.getPrototypeOf(a), Object.prototype, "the prototype is untouched");
  t.equal(({} as Record<string, unknown>).polluted, undefined, "nothing polluted");
});
