// The queue API's durable journal: an append-only file of opaque store mutation records, with group
// commit (one write + one fsync per batch), torn-tail recovery on open, compaction by snapshot, and
// a pid lock on the directory. It knows nothing about what the records mean.
//
// Files in the journal directory:
//   journal       the live journal
//   journal.tmp   a journal being built (first creation, compaction); renamed over `journal` once
//                 written and fsynced, so `journal` always starts with a complete header. A leftover
//                 one (crash mid-compaction) is deleted on open.
//   journal.lock  the pid of the process that has the journal open
//
// File format (header, frames, salted frame-header checksums): see journal-format.ts. The lock:
// dir-lock.ts. CRC-32: crc32.ts.
//
// Reading (open):
//   - no file, or an empty one: a new journal.
//   - a file shorter than the header whose bytes are a prefix of a header: a creation cut short;
//     treated as a new journal and reported in tornBytes. Anything else that does not start with a
//     valid header: EJOURNALCORRUPT (a header is always written whole before any record).
//   - records are read in order. At the first frame that is cut short or fails a checksum, the
//     rest of the file is searched for a valid frame header (length in range, salted checksum
//     right). If there is one, the damage is in the middle: EJOURNALCORRUPT naming the file and
//     the bad frame's offset, and nothing is dropped. If there is none, it is a torn tail (a crash
//     during a write): the file is truncated there and the byte count returned as tornBytes. A frame
//     whose checksums hold but whose payload does not decode is EJOURNALCORRUPT too.
//   Caveat: after a power loss (not a process crash), a file system that persists the pages of one
//   unacknowledged write out of order can leave garbage followed by valid frames in the last batch;
//   that is reported as EJOURNALCORRUPT rather than guessed at. To recover by hand, truncate the
//   file at the reported offset (losing what follows it).
//
// Writing: appends are encoded at once (so later mutation of the record object does not matter)
// and queued; a flush runs on the next turn (setImmediate), writes everything queued with one
// write() (chunks of 8 MiB for huge batches), fdatasyncs once, and resolves the batch. Records
// appended meanwhile form the next batch. On macOS fdatasync is not a full flush to the platter
// (that needs F_FULLFSYNC, which node does not expose).
//
// Compaction: see compact().

import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink, type FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { setImmediate } from "node:timers";
import { acquireLock } from "./dir-lock.js";
import { JournalError, errno } from "./journal-error.js";
import { ChunkBuilder, HEADER_SIZE, encodeFrame, isHeaderPrefix, makeHeader, parseHeader, readRecords, saltState, stamp } from "./journal-format.js";

export { crc32 } from "./crc32.js";
export { JournalError, type JournalErrorCode } from "./journal-error.js";
export { MAX_RECORD_BYTES } from "./journal-format.js";

export interface JournalOptions {
  /** Directory holding the journal; created if missing (recursive). */
  dir: string;
  /** fdatasync each batch before acknowledging it (default true). false: write() only, for tests and benchmarks. */
  fsync?: boolean;
  /** shouldCompact() never suggests compacting a file smaller than this (default 64 MiB). */
  compactMinBytes?: number;
  /** TEST ONLY: fault injection. Not part of the supported API. */
  testHooks?: JournalTestHooks;
}

/**
 * TEST ONLY. Each hook runs before the operation it names (for writes and fsyncs the journal makes
 * after open); throwing or rejecting makes that operation fail as if the system call had.
 */
export interface JournalTestHooks {
  beforeWrite?(file: "live" | "compact", bytes: number): void | Promise<void>;
  beforeSync?(file: "live" | "compact" | "dir"): void | Promise<void>;
  beforeRename?(): void | Promise<void>;
}

export interface JournalStats {
  /** append() calls accepted. */
  appends: number;
  /** write() system calls (journal and compaction files). */
  writes: number;
  /** fdatasync/fsync calls (files and directory). */
  fsyncs: number;
  /** Bytes written (journal and compaction files). */
  bytesWritten: number;
  /** Compactions completed. */
  compactions: number;
}

// ---- limits and file names ----

/** Batches are written in chunks of at most this (one chunk unless the batch is huge). */
const MAX_WRITE = 8 * 1024 * 1024;
const DEFAULT_COMPACT_MIN = 64 * 1024 * 1024;

const FILE = "journal";
const TMP = "journal.tmp";

// ---- the journal ----

interface Pending {
  frame: Buffer;
  resolve(): void;
  reject(e: Error): void;
}

interface Compaction {
  salt: Buffer;
  salted: number;
  /** Header and snapshot frames, written in order. */
  chunks: Buffer[];
  snapshotRecords: number;
  snapshotEnd: number;
  /** Frames appended since the call: they follow the snapshot in the new file. */
  forNext: Buffer[];
  resolve(): void;
  reject(e: Error): void;
}

const asIoError = (e: unknown, what: string, file: string): JournalError =>
  e instanceof JournalError ? e : new JournalError("EJOURNALIO", `${what} ${file}: ${(e as Error)?.message ?? String(e)}`, { file, cause: e });

async function syncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, "r");
    await h.sync();
  } catch (e) {
    // Windows cannot open or fsync a directory; rename there is already durable enough.
    if (process.platform === "win32") return;
    throw e;
  } finally {
    await h?.close().catch(() => {});
  }
}

export class Journal {
  private handle: FileHandle;
  private salted: number;
  /** Bytes in the live file, written. */
  private livePos: number;
  private snapshotEnd: number;
  private fileRecords: number;

  private queue: Pending[] = [];
  private queuedBytes = 0;
  private inFlightBytes = 0;
  /** Queued records taken by a compaction's swap (counted in size until the swap is done). */
  private takenBytes = 0;
  private flushScheduled = false;
  private flushing = false;
  /** A compaction is swapping files: the flusher must not start a batch. */
  private swapping = false;

  private readonly compactions: Compaction[] = [];
  private compacting = false;

  private failure: JournalError | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly counters: JournalStats = { appends: 0, writes: 0, fsyncs: 0, bytesWritten: 0, compactions: 0 };

  private readonly dir: string;
  private readonly file: string;
  private readonly tmp: string;
  private readonly fsync: boolean;
  private readonly compactMinBytes: number;
  private readonly hooks: JournalTestHooks | undefined;
  private readonly releaseLock: () => Promise<void>;

  private constructor(
    options: Required<Pick<JournalOptions, "dir" | "fsync" | "compactMinBytes">> & { testHooks: JournalTestHooks | undefined },
    releaseLock: () => Promise<void>,
    live: { handle: FileHandle; salt: Buffer; pos: number; snapshotEnd: number; records: number },
  ) {
    this.dir = options.dir;
    this.file = path.join(options.dir, FILE);
    this.tmp = path.join(options.dir, TMP);
    this.fsync = options.fsync;
    this.compactMinBytes = options.compactMinBytes;
    this.hooks = options.testHooks;
    this.releaseLock = releaseLock;
    this.handle = live.handle;
    this.salted = saltState(live.salt);
    this.livePos = live.pos;
    this.snapshotEnd = Math.min(live.snapshotEnd, live.pos);
    this.fileRecords = live.records;
  }

  /**
   * Opens (or creates) the journal in `dir` and reads every intact record. A torn tail is
   * truncated away and its length returned as `tornBytes`; damage followed by valid data throws
   * EJOURNALCORRUPT. Takes the directory lock (EJOURNALLOCKED if a live process holds it).
   */
  static async open(options: JournalOptions): Promise<{ journal: Journal; records: unknown[]; tornBytes: number }> {
    const dir = path.resolve(options.dir);
    const opts = {
      dir,
      fsync: options.fsync ?? true,
      compactMinBytes: options.compactMinBytes ?? DEFAULT_COMPACT_MIN,
      testHooks: options.testHooks,
    };
    const file = path.join(dir, FILE);
    const tmp = path.join(dir, TMP);
    try {
      // Directories created here must themselves survive a crash: fsync each new one's parent.
      const created = await mkdir(dir, { recursive: true });
      if (created !== undefined && opts.fsync) {
        for (let d = dir; ; d = path.dirname(d)) {
          await syncDir(path.dirname(d));
          if (d === created || d === path.dirname(d)) break;
        }
      }
    } catch (e) {
      throw asIoError(e, "cannot create journal directory", dir);
    }
    let release: () => Promise<void>;
    try {
      release = await acquireLock(dir);
    } catch (e) {
      throw asIoError(e, "cannot lock journal directory", dir);
    }
    let handle: FileHandle | undefined;
    try {
      await unlink(tmp).catch((e: unknown) => {
        if (errno(e) !== "ENOENT") throw e;
      });
      try {
        handle = await open(file, "r+");
      } catch (e) {
        if (errno(e) !== "ENOENT") throw e;
      }
      let tornBytes = 0;
      if (handle) {
        const size = (await handle.stat()).size;
        if (size >= HEADER_SIZE) {
          const h = Buffer.alloc(HEADER_SIZE);
          await handle.read(h, 0, HEADER_SIZE, 0);
          const { salt, snapshotEnd } = parseHeader(h, file);
          const { records, end } = await readRecords(handle, file, size, saltState(salt));
          if (end < size) {
            tornBytes = size - end;
            await handle.truncate(end);
            if (opts.fsync) await handle.datasync();
          }
          const journal = new Journal(opts, release, { handle, salt, pos: end, snapshotEnd, records: records.length });
          return { journal, records, tornBytes };
        }
        if (size > 0) {
          const b = Buffer.alloc(size);
          await handle.read(b, 0, size, 0);
          if (!isHeaderPrefix(b)) {
            throw new JournalError("EJOURNALCORRUPT", `journal ${file} is corrupt at offset 0: not an emq journal (bad magic)`, { file, offset: 0 });
          }
          tornBytes = size; // a creation cut short inside the header: start afresh
        }
        await handle.close();
        handle = undefined;
      }
      // A new journal: built aside and renamed in, so `journal` never lacks a header.
      const salt = randomBytes(4);
      handle = await open(tmp, "w");
      const header = makeHeader(salt, HEADER_SIZE);
      await handle.write(header, 0, HEADER_SIZE, 0);
      if (opts.fsync) await handle.datasync();
      await rename(tmp, file);
      if (opts.fsync) await syncDir(dir);
      const journal = new Journal(opts, release, { handle, salt, pos: HEADER_SIZE, snapshotEnd: HEADER_SIZE, records: 0 });
      return { journal, records: [], tornBytes };
    } catch (e) {
      await handle?.close().catch(() => {});
      await release();
      throw asIoError(e, "cannot open journal", file);
    }
  }

  /**
   * Queues a record; resolves once it is on disk (written and, unless fsync is off, fsynced).
   * Records appended in one turn of the event loop, and while a batch is being written, go out
   * together with one write and one fsync. Disk order is call order. A failed write rejects with
   * EJOURNALIO and fails the journal for good; a record that cannot be encoded rejects with
   * EJOURNALRECORD and changes nothing.
   */
  append(record: unknown): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.failure) return Promise.reject(this.failedError());
    let frame: Buffer;
    try {
      frame = encodeFrame(record);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ frame, resolve, reject });
      this.queuedBytes += frame.length;
      this.fileRecords++;
      this.counters.appends++;
      for (const c of this.compactions) c.forNext.push(frame);
      this.scheduleFlush();
    });
  }

  /** Bytes in the current journal file, including queued-but-unwritten records. */
  get size(): number {
    return this.livePos + this.inFlightBytes + this.queuedBytes + this.takenBytes;
  }

  /** Bytes of records after the snapshot the current file starts with (all records, for a file never compacted). */
  get appendedSinceCompaction(): number {
    return Math.max(0, this.size - this.snapshotEnd);
  }

  /** Records in the current file, including queued ones. */
  get recordCount(): number {
    return this.fileRecords;
  }

  /**
   * Whether compacting now is worthwhile. Never while a compaction is pending, and never below
   * compactMinBytes. Then, with `liveBytesEstimate` (about how big a snapshot taken now would be):
   * when the file is more than twice that, i.e. most of it is superseded. Bytes, not records: a
   * live record may stand for one message while a journal record holds a batch of twenty.
   * Without it: when more than half the file's bytes were appended since its snapshot, i.e. the
   * file has at least doubled since it was last compacted (the cost of compacting is then at most
   * proportional to what was appended since).
   */
  shouldCompact(liveBytesEstimate?: number): boolean {
    if (this.closed || this.failure || this.compactions.length > 0) return false;
    const size = this.size;
    if (size < this.compactMinBytes) return false;
    if (liveBytesEstimate !== undefined) return size > 2 * liveBytesEstimate;
    return this.appendedSinceCompaction * 2 > size;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** I/O counters since open (for tests and benchmarks). */
  get stats(): Readonly<JournalStats> {
    return { ...this.counters };
  }

  /**
   * Replaces the journal with `snapshot`, records that rebuild the current state. The iterable is
   * encoded synchronously, here, so it is the state at the moment of the call; records appended
   * after the call follow it in the new file, and records appended before it are superseded by it.
   *
   * How: the new file (header, snapshot) is written aside in chunks, concurrently with normal
   * batches, and fsynced. Appends go on being written to the old file meanwhile (and are
   * acknowledged from it) and are also kept for the new one. Then the swap: the flusher is paused,
   * everything appended since the call (acknowledged or still queued) is written after the
   * snapshot, the file is fsynced, renamed over the old one and the directory fsynced; records that
   * were queued then are acknowledged by that, and later ones go to the new file. A crash before
   * the rename leaves the old file with every record; after it, the new file has the snapshot and
   * every record appended since the call.
   *
   * Resolves when the swap is done. If writing the new file fails the old one stays in use and this
   * rejects with EJOURNALIO without failing the journal (only a failed directory fsync after the
   * rename fails it: which file survives a crash is then unknown). Several calls are run in turn.
   */
  compact(snapshot: Iterable<unknown>): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.failure) return Promise.reject(this.failedError());
    const salt = randomBytes(4);
    const salted = saltState(salt);
    const builder = new ChunkBuilder(salted);
    try {
      for (const record of snapshot) builder.add(record);
    } catch (e) {
      return Promise.reject(e);
    }
    const snapshotEnd = HEADER_SIZE + builder.bytes;
    const chunks = [makeHeader(salt, snapshotEnd), ...builder.finish()];
    return new Promise<void>((resolve, reject) => {
      this.compactions.push({ salt, salted, chunks, snapshotRecords: builder.records, snapshotEnd, forNext: [], resolve, reject });
      if (!this.compacting) void this.compactLoop();
    });
  }

  /** Writes what is queued, lets pending compactions finish, closes the file and releases the lock. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  // ---- internals ----

  private closedError(): JournalError {
    return new JournalError("EJOURNALCLOSED", `journal ${this.file} is closed`, { file: this.file });
  }

  private failedError(): JournalError {
    const f = this.failure!;
    return new JournalError("EJOURNALIO", `journal ${this.file} failed earlier: ${f.message}`, { file: this.file, cause: f });
  }

  private async shutdown(): Promise<void> {
    for (;;) {
      this.scheduleFlush();
      if (!this.flushScheduled && !this.flushing && !this.compacting) break;
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
    await this.handle.close().catch(() => {});
    await this.releaseLock();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing || this.swapping || this.failure || this.queue.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0 && !this.failure && !this.swapping) {
        const batch = this.queue;
        this.queue = [];
        const bytes = this.queuedBytes;
        this.queuedBytes = 0;
        this.inFlightBytes = bytes;
        try {
          await this.writeFrames(this.handle, "live", batch, this.salted, this.livePos);
          this.livePos += bytes;
          this.inFlightBytes = 0;
          if (this.fsync) await this.syncFile(this.handle, "live");
        } catch (e) {
          this.inFlightBytes = 0;
          this.fail(e, batch);
          break;
        }
        for (const p of batch) p.resolve();
      }
    } finally {
      this.flushing = false;
      this.notifyIdle();
    }
  }

  /** Fails the journal: rejects `batch` and everything queued; later calls reject. */
  private fail(cause: unknown, batch: Pending[]): void {
    if (!this.failure) this.failure = asIoError(cause, "write failed on journal", this.file);
    const err = this.failure;
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const p of batch) p.reject(err);
    for (const p of queued) p.reject(err);
  }

  /** Writes frames (stamped for the target file's salt) in copies of up to MAX_WRITE bytes; returns the end position. */
  private async writeFrames(handle: FileHandle, target: "live" | "compact", frames: ReadonlyArray<Pending | Buffer>, salted: number, pos: number): Promise<number> {
    let i = 0;
    while (i < frames.length) {
      const group: Buffer[] = [];
      let total = 0;
      // Stamp and copy together, synchronously: a frame may be shared with a compaction's list.
      while (i < frames.length) {
        const f = frames[i]!;
        const frame = Buffer.isBuffer(f) ? f : (f as Pending).frame;
        if (group.length > 0 && total + frame.length > MAX_WRITE) break;
        stamp(frame, salted);
        group.push(frame);
        total += frame.length;
        i++;
      }
      const chunk = Buffer.concat(group, total);
      await this.writeAll(handle, target, chunk, pos);
      pos += total;
    }
    return pos;
  }

  private async writeAll(handle: FileHandle, target: "live" | "compact", buf: Buffer, pos: number): Promise<void> {
    await this.hooks?.beforeWrite?.(target, buf.length);
    let off = 0;
    while (off < buf.length) {
      this.counters.writes++;
      const { bytesWritten } = await handle.write(buf, off, buf.length - off, pos + off);
      if (bytesWritten <= 0) throw new Error("write() wrote nothing");
      off += bytesWritten;
      this.counters.bytesWritten += bytesWritten;
    }
  }

  private async syncFile(handle: FileHandle, target: "live" | "compact"): Promise<void> {
    await this.hooks?.beforeSync?.(target);
    this.counters.fsyncs++;
    await handle.datasync();
  }

  private async compactLoop(): Promise<void> {
    this.compacting = true;
    try {
      while (this.compactions.length > 0) {
        await this.runCompaction(this.compactions[0]!);
        this.compactions.shift();
      }
    } finally {
      this.compacting = false;
      this.notifyIdle();
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failedError();
  }

  /** One compaction; settles comp's promise, never throws. */
  private async runCompaction(comp: Compaction): Promise<void> {
    let handle: FileHandle | undefined;
    let taken: Pending[] | null = null;
    let renamed = false;
    let pos = 0;
    try {
      this.throwIfFailed();
      handle = await open(this.tmp, "w");
      while (comp.chunks.length > 0) {
        this.throwIfFailed();
        const chunk = comp.chunks.shift()!;
        await this.writeAll(handle, "compact", chunk, pos);
        pos += chunk.length;
      }
      if (this.fsync) await this.syncFile(handle, "compact");

      // The swap. Pause the flusher and take what it has not written yet: the records among them
      // appended before the call are covered by the snapshot, the others are in forNext.
      this.swapping = true;
      while (this.flushing) await new Promise<void>((r) => this.idleWaiters.push(r));
      this.throwIfFailed();
      taken = this.queue;
      this.queue = [];
      this.takenBytes = this.queuedBytes;
      this.queuedBytes = 0;
      const tail = comp.forNext;
      comp.forNext = [];
      pos = await this.writeFrames(handle, "compact", tail, comp.salted, pos);
      if (this.fsync && tail.length > 0) await this.syncFile(handle, "compact");
      await this.hooks?.beforeRename?.();
      await rename(this.tmp, this.file);
      renamed = true;
      if (this.fsync) {
        await this.hooks?.beforeSync?.("dir");
        this.counters.fsyncs++;
        await syncDir(this.dir);
      }

      const old = this.handle;
      this.handle = handle;
      handle = undefined;
      this.salted = comp.salted;
      this.livePos = pos;
      this.snapshotEnd = comp.snapshotEnd;
      this.fileRecords = comp.snapshotRecords + tail.length + this.queue.length;
      this.takenBytes = 0;
      this.swapping = false;
      this.counters.compactions++;
      const done = taken;
      taken = null;
      for (const p of done) p.resolve();
      comp.resolve();
      await old.close().catch(() => {});
    } catch (e) {
      const err = asIoError(e, "compaction failed for journal", this.file);
      if (renamed && !this.failure) {
        // The rename may or may not survive a crash: nothing written from now on can be promised.
        this.failure = err;
      }
      if (taken) {
        this.takenBytes = 0;
        if (this.failure) {
          for (const p of taken) p.reject(this.failure);
        } else {
          // Back to the front of the queue: they go to the old file, which stays.
          this.queue = taken.concat(this.queue);
          this.queuedBytes = this.queue.reduce((n, p) => n + p.frame.length, 0);
        }
      }
      if (this.failure) this.fail(this.failure, []);
      await handle?.close().catch(() => {});
      if (!renamed) await unlink(this.tmp).catch(() => {});
      this.swapping = false;
      comp.reject(err);
    } finally {
      this.swapping = false;
      this.scheduleFlush();
    }
  }
}
