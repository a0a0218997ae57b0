// A hand-written broker backend for worker tests: a ROUTER on 127.0.0.1 that records every message
// a worker sends (as text frames, routing id first) and lets a test take them in order, by
// predicate, with bounded waits, and send raw eMQP frames back. It speaks only what the test makes
// it speak (ACK, REQUEST, HEARTBEAT, KBYE), so each test controls the broker side exactly.

import { Buffer } from "node:buffer";
import { Router } from "../../src/index.js";
import { sleep, within } from "../socket/fake-peer.js";

export const WAIT = 5000;

/** A message from a worker: `id` is its routing id; `frames` are the rest, as text. */
export interface Got {
  id: string;
  frames: string[];
  /** frames[2], the eMQP command. */
  cmd: string;
  at: number;
}

type Pred = (m: Got) => boolean;

export const is = (cmd: string): Pred => (m) => m.cmd === cmd;

interface Waiter {
  pred: Pred;
  resolve: (m: Got) => void;
}

export class FakeBroker {
  readonly router: Router;
  /** Every message received, in order (taken ones included). */
  readonly seen: Got[] = [];
  private readonly inbox: Got[] = [];
  private readonly waiters: Waiter[] = [];
  /** Answer every INFORM with its ACK at once. */
  autoAck = false;

  private constructor(router: Router) {
    this.router = router;
  }

  /** Binds a ROUTER (port 0: any free port; a given port is retried while still in use). */
  static async start(port = 0): Promise<FakeBroker> {
    const router = new Router({ linger: 0 });
    for (let i = 0; ; i++) {
      try {
        await router.bind(`tcp://127.0.0.1:${port}`);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== "EADDRINUSE" || i > 100) {
          router.close();
          throw err;
        }
        await sleep(20);
      }
    }
    const b = new FakeBroker(router);
    void b.loop();
    return b;
  }

  get address(): string {
    return this.router.lastEndpoint!;
  }

  get port(): number {
    return Number(new URL(this.address.replace("tcp://", "http://")).port);
  }

  close(): void {
    this.router.linger = 0;
    this.router.close();
  }

  private async loop(): Promise<void> {
    try {
      for await (const msg of this.router) {
        const frames = msg.map((f) => f.toString("utf8"));
        const m: Got = { id: frames[0]!, frames: frames.slice(1), cmd: frames[3] ?? "", at: Date.now() };
        this.seen.push(m);
        if (this.autoAck && m.cmd === "INFORM") void this.ack(m).catch(() => {});
        const i = this.waiters.findIndex((w) => w.pred(m));
        if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
        else this.inbox.push(m);
      }
    } catch {
      // closed
    }
  }

  /** The first unread message that matches (waiting up to `ms` for one); it is taken. */
  take(pred: Pred | string, what?: string, ms = WAIT): Promise<Got> {
    const p = typeof pred === "string" ? is(pred) : pred;
    const i = this.inbox.findIndex(p);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return within(new Promise<Got>((resolve) => this.waiters.push({ pred: p, resolve })), ms, what ?? (typeof pred === "string" ? pred : "a message")).catch(
      (err: Error) => {
        const j = this.waiters.findIndex((w) => w.pred === p);
        if (j >= 0) this.waiters.splice(j, 1);
        throw err;
      },
    );
  }

  /** The next unread message of any kind except HEARTBEATs. */
  next(what = "a message", ms = WAIT): Promise<Got> {
    return this.take((m) => m.cmd !== "HEARTBEAT", what, ms);
  }

  /** Unread messages (not taken), optionally only those that match; they stay unread. */
  unread(pred: Pred | string = () => true): Got[] {
    const p = typeof pred === "string" ? is(pred) : pred;
    return this.inbox.filter(p);
  }

  /** Drops every unread message that matches. */
  discard(pred: Pred | string = () => true): void {
    const p = typeof pred === "string" ? is(pred) : pred;
    for (let i = this.inbox.length - 1; i >= 0; i--) if (p(this.inbox[i]!)) this.inbox.splice(i, 1);
  }

  /** Sends `['', 'eMQP/1.0', cmd, msgid, ...body]` to a worker. */
  send(id: string, cmd: string, ...body: (string | Buffer)[]): Promise<void> {
    return this.raw(id, ["", "eMQP/1.0", cmd, `b-${Math.random().toString(36).slice(2)}`, ...body]);
  }

  /** Sends arbitrary frames after the routing id. */
  raw(id: string | Buffer, frames: (string | Buffer)[]): Promise<void> {
    return this.router.send([id, ...frames]);
  }

  ack(inform: Got): Promise<void> {
    return this.send(inform.id, "ACK", inform.frames[3]!);
  }

  /** A REQUEST as our broker forwards it: queue, headers, job body. */
  request(id: string, msgid: string, job: unknown, headers = "reply-requested", queue = "default"): Promise<void> {
    const body = typeof job === "string" ? job : JSON.stringify(["run", job]);
    return this.raw(id, ["", "eMQP/1.0", "REQUEST", msgid, queue, headers, body]);
  }

  /** INFORM -> ACK; resolves with the worker's routing id once its READYs (n of them) are in. */
  async register(readys: number, what = "registration"): Promise<string> {
    const inform = await this.take("INFORM", `${what}: INFORM`);
    await this.ack(inform);
    for (let i = 0; i < readys; i++) await this.take("READY", `${what}: READY #${i + 1}`);
    return inform.id;
  }
}
