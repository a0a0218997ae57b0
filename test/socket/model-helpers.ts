// Scaffolding for the model-based tests in model.test.ts: receivers that count what reached them
// (so a test can wait for "everything sent has arrived" without reading, then check exactly what
// is queued), a per-run socket tracker, endpoints for both transports, and small assertion helpers
// that throw (fast-check treats a thrown error as a failed run and shrinks from there).

import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { Dealer, Pull, Subscriber, type Socket } from "../../src/index.js";
import type { Pipe } from "../../src/socket/pipe.js";
import { until, within } from "./fake-peer.js";

/** Bound for waits on things that take milliseconds when all is well (only reached on failure). */
export const WAIT = 5000;

export const TRANSPORTS = ["tcp", "inproc"] as const;
export type Transport = (typeof TRANSPORTS)[number];

let seq = 0;
/** Where to bind: an ephemeral tcp port on 127.0.0.1, or a fresh inproc name. */
export const bindAddress = (tr: Transport): string =>
  tr === "tcp" ? "tcp://127.0.0.1:0" : `inproc://model-${process.pid}-${++seq}`;

export async function bound(s: Socket, tr: Transport): Promise<string> {
  await s.bind(bindAddress(tr));
  return s.lastEndpoint!;
}

export const strs = (m: Buffer[]): string[] => m.map((f) => f.toString("latin1"));

export const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);

/** The next message, or undefined if none comes within `ms`. (Not AbortSignal.timeout(): its timer
 * is unref'd, and over inproc nothing else may keep the process alive while we wait.) */
export async function receiveOrNothing(s: Socket, ms: number): Promise<Buffer[] | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return await s.receive({ signal: ac.signal });
  } catch (e) {
    if ((e as { code?: string }).code === "ABORT_ERR") return undefined;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** The error code a promise rejects with, or undefined if it resolves. */
export const code = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: string }) => e.code ?? String(e),
  );

/** Lets pending I/O callbacks and the microtasks they queue run. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A socket that counts the messages that reached it from the network, read or not. */
export interface Counting extends Socket {
  /** Messages handed to the socket by its connections (counted before any filtering). */
  arrived: number;
  /** Messages the test has read (kept by the test, for expectQueued). */
  taken: number;
}

export class CountingPull extends Pull implements Counting {
  arrived = 0;
  taken = 0;
  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    this.arrived++;
    return super._xrecv(pipe, frames);
  }
}

export class CountingDealer extends Dealer implements Counting {
  arrived = 0;
  taken = 0;
  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    this.arrived++;
    return super._xrecv(pipe, frames);
  }
}

export class CountingSubscriber extends Subscriber implements Counting {
  arrived = 0;
  taken = 0;
  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    this.arrived++;
    return super._xrecv(pipe, frames);
  }
}

/**
 * Waits (up to `ms`) until `r` has `want.length` unread messages, checks that it has no more than
 * that, and reads them without waiting: they must be exactly `want` (single-frame messages), in
 * order. With ms = 0 the messages must have arrived already.
 */
export async function expectQueued(r: Counting, want: readonly string[], label: string, ms = WAIT): Promise<void> {
  if (ms > 0) await until(() => r.arrived - r.taken >= want.length, `${label}: ${want.length} message(s) to arrive`, ms);
  assert.equal(r.arrived - r.taken, want.length, `${label}: exactly ${want.length} message(s) arrived`);
  const got: string[] = [];
  for (let i = 0; i < want.length; i++) {
    assert.ok(r.readable, `${label}: message ${i + 1} of ${want.length} is readable`);
    const m = await r.receive();
    r.taken++;
    assert.equal(m.length, 1, `${label}: single-frame message`);
    got.push(m[0]!.toString("latin1"));
  }
  assert.deepEqual(got, want, `${label}: the messages, in order`);
}

/** Waits until `total` messages have arrived over all of `receivers`, and checks there are no more. */
export async function allArrived(receivers: readonly Counting[], total: number, what: string): Promise<void> {
  const sum = () => receivers.reduce((n, r) => n + r.arrived, 0);
  await until(() => sum() >= total, `${total} message(s) to arrive (${what})`, WAIT);
  assert.equal(sum(), total, `no more than ${total} message(s) arrived (${what})`);
}

/** Sockets made during one property run, all closed (linger 0) at its end. */
export class RunSockets {
  private readonly all: Socket[] = [];

  add<S extends Socket>(s: S): S {
    this.all.push(s);
    return s;
  }

  closeAll(): void {
    for (const s of this.all) {
      s.linger = 0;
      s.close();
    }
    this.all.length = 0;
  }
}

/** Tracks whether a promise has settled (and how), without awaiting it. */
export class Tracked {
  state: "pending" | "resolved" | "rejected" = "pending";
  error: unknown;
  constructor(readonly promise: Promise<unknown>) {
    promise.then(
      () => (this.state = "resolved"),
      (e: unknown) => {
        this.state = "rejected";
        this.error = e;
      },
    );
  }
}

/** fast-check options shared by the model properties: a failing property must not shrink forever
 * over real sockets (each shrink step may wait for a timeout). */
export const FC_LIMITS = { interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true } as const;
