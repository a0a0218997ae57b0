// A hand-written eMQP broker for client tests: a ROUTER on 127.0.0.1 that hands the test every
// message it receives (routing id + frames as text) and sends whatever the test scripts, so the
// tests can assert the exact frames a Client or Admin sends and answer in either broker's shape.

import { Buffer } from "node:buffer";
import { Router } from "../../src/index.js";
import { newMsgid } from "../../src/emqp/index.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { DEFAULT_WAIT, scope, sleep } from "../socket/fake-peer.js";

export type Scope = ReturnType<typeof scope>;

export interface Received {
  /** The sender's routing id. */
  id: Buffer;
  /** The frames after the routing id, as UTF-8 text. */
  frames: string[];
}

export const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export class FakeBroker {
  readonly router: Router;
  readonly address: string;

  private constructor(router: Router, address: string) {
    this.router = router;
    this.address = address;
  }

  /** Binds a fake broker on `port` (0: a fresh one). Retries for a while if the port is still held
   * by a broker the test just closed. */
  static async start(s: Scope, port = 0): Promise<FakeBroker> {
    const end = Date.now() + DEFAULT_WAIT;
    for (;;) {
      const router = s.sock(new Router({ receiveTimeout: DEFAULT_WAIT, linger: 0 }));
      try {
        await router.bind(`tcp://127.0.0.1:${port}`);
        return new FakeBroker(router, router.lastEndpoint!);
      } catch (err) {
        router.close();
        if ((err as { code?: string }).code !== "EADDRINUSE" || Date.now() > end) throw err;
        await sleep(20);
      }
    }
  }

  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(":") + 1));
  }

  /** The next message (rejects with EAGAIN after `ms`). */
  async next(ms = DEFAULT_WAIT): Promise<Received> {
    this.router.receiveTimeout = ms;
    const [id, ...frames] = await this.router.receive();
    return { id: id!, frames: frames.map((f) => f.toString("utf8")) };
  }

  /** Whether anything arrives within `ms` (for "nothing else is sent" assertions). */
  async nothingWithin(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch (err) {
      if ((err as { code?: string }).code === "EAGAIN") return true;
      throw err;
    }
  }

  /** Sends `'' eMQP/1.0 CMD <fresh msgid> ...body` to the peer `id`. */
  send(id: Buffer, command: string, ...body: string[]): Promise<void> {
    return this.router.send([id, "", "eMQP/1.0", command, newMsgid(), ...body]);
  }

  reply(id: Buffer, ...body: string[]): Promise<void> {
    return this.send(id, "REPLY", ...body);
  }

  close(): void {
    this.router.close();
  }
}

/** A logger that keeps its lines, for asserting what a role logged. */
export function captureLogger(level: "debug" | "info" | "warn" = "debug"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level, format: "json", write: (l) => lines.push(l) }), lines };
}
