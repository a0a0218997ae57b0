// Hand-written eMQP peers for broker tests: a DEALER that speaks the reference frames (spec/emqp.md)
// as a client, worker, scheduler or admin tool would, and lets the test read what the broker sent.

import { Buffer } from "node:buffer";
import { Dealer } from "../../src/index.js";
import { Broker, type BrokerOptions } from "../../src/broker/broker.js";
import { silentLogger, type Logger } from "../../src/log/logger.js";
import { within } from "../socket/fake-peer.js";

export const WAIT = 5000;
let seq = 0;

export interface Msg {
  command: string;
  msgid: string;
  body: string[];
  raw: Buffer[];
}

export class Peer {
  readonly dealer: Dealer;
  readonly id: string;
  private readonly inbox: Msg[] = [];
  private readonly waiters: Array<() => void> = [];
  private closed = false;

  constructor(address: string, id = `peer-${process.pid}-${++seq}`) {
    this.id = id;
    this.dealer = new Dealer({ routingId: id, linger: 0, reconnectInterval: 50 });
    this.dealer.connect(address);
    void this.pump();
  }

  private async pump(): Promise<void> {
    for (;;) {
      let m: Buffer[];
      try {
        m = await this.dealer.receive();
      } catch {
        return;
      }
      this.inbox.push({ command: String(m[2]), msgid: String(m[3]), body: m.slice(4).map(String), raw: m });
      for (const w of this.waiters.splice(0)) w();
    }
  }

  async send(command: string, ...body: (string | Buffer)[]): Promise<string> {
    const msgid = `${command.toLowerCase()}-${++seq}`;
    await this.sendRaw(["", "eMQP/1.0", command, msgid, ...body]);
    return msgid;
  }

  sendRaw(frames: (string | Buffer)[]): Promise<void> {
    return within(this.dealer.send(frames), WAIT, "send to the broker");
  }

  /** The next message matching `pred` (others stay in the inbox), within `ms`. */
  async next(pred: (m: Msg) => boolean = () => true, what = "a message", ms = WAIT): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error(`${this.id}: timed out waiting for ${what}; inbox: ${JSON.stringify(this.inbox.map((m) => [m.command, ...m.body]))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  nextCommand(command: string, ms = WAIT): Promise<Msg> {
    return this.next((m) => m.command === command, command, ms);
  }

  /** Messages received so far that match, removed from the inbox. */
  take(pred: (m: Msg) => boolean): Msg[] {
    const out: Msg[] = [];
    for (let i = 0; i < this.inbox.length; ) {
      if (pred(this.inbox[i]!)) out.push(this.inbox.splice(i, 1)[0]!);
      else i++;
    }
    return out;
  }

  close(): void {
    this.closed = true;
    this.dealer.close();
    for (const w of this.waiters.splice(0)) w();
  }
}

export const JOB = (callable = "f", args: unknown[] = []) =>
  JSON.stringify(["run", { callable, path: "m", args, kwargs: {}, class_args: [], class_kwargs: {} }]);

/** A worker peer: INFORMs, waits for the ACK, offers `slots` READYs. */
export async function worker(address: string, queues: string, slots: number, id?: string): Promise<Peer> {
  const w = new Peer(address, id);
  const inform = await w.send("INFORM", queues, "worker");
  const ack = await w.nextCommand("ACK");
  if (ack.body[0] !== inform) throw new Error(`ACK for ${ack.body[0]}, expected ${inform}`);
  for (let i = 0; i < slots; i++) await w.send("READY");
  return w;
}

/** Answers one REQUEST with a result (EventMQ order: result, then the job's msgid). */
export async function answer(w: Peer, result: unknown, ready = true): Promise<Msg> {
  const req = await w.nextCommand("REQUEST");
  await w.send("REPLY", JSON.stringify(result), req.msgid);
  if (ready) await w.send("READY");
  return req;
}

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

export function captureLogger(lines: LogLine[]): Logger {
  const make = (): Logger => ({
    debug: (msg, fields = {}) => void lines.push({ level: "debug", msg, fields }),
    info: (msg, fields = {}) => void lines.push({ level: "info", msg, fields }),
    warn: (msg, fields = {}) => void lines.push({ level: "warn", msg, fields }),
    error: (msg, fields = {}) => void lines.push({ level: "error", msg, fields }),
    child: () => make(),
  });
  return make();
}

/** A broker on free loopback ports. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const b = new Broker({
    frontend: "tcp://127.0.0.1:0",
    backend: "tcp://127.0.0.1:0",
    admin: "tcp://127.0.0.1:0",
    logger: silentLogger,
    ...options,
  });
  await b.start();
  return b;
}
