// The raw node:net baseline that every emq benchmark is compared with, measured in the same run.
//
// It is what a careful hand-written framing layer on node:net looks like, built the way emq is meant
// to be built (DESIGN.md "Fast by construction") so that the ratio emq / baseline measures only what
// ZMTP and the socket layer add:
//   - messages are a 4-byte big-endian length + body;
//   - output is staged into a 64 KiB slab and written once per turn of the event loop (setImmediate)
//     or as soon as 64 KiB are staged; bodies of 8 KiB or more are written by reference (cork/uncork)
//     instead of being copied, exactly like emq's FrameWriter;
//   - input is decoded without copying where a message lies inside one chunk; only messages that
//     straddle chunks are copied;
//   - the API on top has the same promise-per-message costs as emq: `await send(buf)` returns an
//     already-resolved promise while there is room, queues up to a high-water mark (1000 messages)
//     while the OS buffer is full, and waits beyond it; `for await (const msg of conn)` goes through
//     receive() -> promise -> iterator result, with a receive high-water mark that pauses reading.

import net from "node:net";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";

const SLAB_SIZE = 64 * 1024;
const FLUSH_THRESHOLD = 64 * 1024;
const COPY_LIMIT = 8 * 1024;
const RESOLVED = Promise.resolve();

/** FIFO with O(1) shift (same idea as emq's socket/queue.ts). */
class Queue {
  items = [];
  head = 0;
  get length() {
    return this.items.length - this.head;
  }
  push(x) {
    this.items.push(x);
  }
  peek() {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }
  shift() {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      if (this.head >= 1024) {
        this.items = [];
        this.head = 0;
      }
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  drain() {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

const closedError = () => Object.assign(new Error("connection closed"), { code: "EBADF" });

export class FramedConnection {
  constructor(sock, { sendHighWaterMark = 1000, receiveHighWaterMark = 1000 } = {}) {
    this.sock = sock;
    this.sendHighWaterMark = sendHighWaterMark;
    this.receiveHighWaterMark = receiveHighWaterMark;
    sock.setNoDelay(true);
    // output
    this.slab = Buffer.allocUnsafe(SLAB_SIZE);
    this.start = 0;
    this.pos = 0;
    this.chunks = [];
    this.pending = 0;
    this.flushScheduled = false;
    this.blocked = false;
    this.outq = new Queue(); // messages waiting for the OS buffer to drain (bounded by the HWM)
    this.sendWaiters = new Queue();
    // input
    this.hdr = Buffer.alloc(4);
    this.hdrLen = 0;
    this.body = null;
    this.bodyOff = 0;
    this.inq = new Queue();
    this.recvWaiters = new Queue();
    this.paused = false;
    this.closed = false;

    sock.on("data", (chunk) => this._input(chunk));
    sock.on("drain", () => {
      this.blocked = false;
      this._onDrain();
    });
    sock.on("error", () => {});
    sock.on("close", () => this._onClose());
  }

  // ---- sending ----------------------------------------------------------------------------------

  send(buf) {
    if (this.closed) return Promise.reject(closedError());
    if (this.sendWaiters.length === 0 && this._trySend(buf)) return RESOLVED;
    return new Promise((resolve, reject) => this.sendWaiters.push({ buf, resolve, reject }));
  }

  _trySend(buf) {
    if (this.outq.length === 0 && !this.blocked) {
      this._stage(buf);
      return true;
    }
    if (this.outq.length < this.sendHighWaterMark) {
      this.outq.push(buf);
      return true;
    }
    return false;
  }

  _stage(body) {
    const len = body.length;
    if (len >= COPY_LIMIT) {
      this._reserve(4);
      this.slab.writeUInt32BE(len, this.pos);
      this.pos += 4;
      this._cut();
      this.chunks.push(body);
    } else {
      this._reserve(4 + len);
      const slab = this.slab;
      let p = this.pos;
      slab[p] = len >>> 24;
      slab[p + 1] = (len >>> 16) & 0xff;
      slab[p + 2] = (len >>> 8) & 0xff;
      slab[p + 3] = len & 0xff;
      p += 4;
      if (len === 1) slab[p] = body[0];
      else if (len > 0) slab.set(body, p);
      this.pos = p + len;
    }
    const was = this.pending;
    this.pending = was + 4 + len;
    if (this.pending >= FLUSH_THRESHOLD) this.flush();
    else if (was === 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  _reserve(n) {
    if (this.slab.length - this.pos >= n) return;
    this._cut();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB_SIZE, n));
    this.start = this.pos = 0;
  }

  _cut() {
    if (this.pos > this.start) {
      this.chunks.push(this.slab.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }

  flush = () => {
    this.flushScheduled = false;
    this._cut();
    const chunks = this.chunks;
    if (chunks.length === 0) return;
    this.chunks = [];
    this.pending = 0;
    if (this.sock.destroyed) return;
    let ok;
    if (chunks.length === 1) {
      ok = this.sock.write(chunks[0]);
    } else {
      this.sock.cork();
      ok = true;
      for (const c of chunks) ok = this.sock.write(c);
      this.sock.uncork();
    }
    if (!ok) this.blocked = true;
  };

  _onDrain() {
    while (this.outq.length > 0 && !this.blocked) this._stage(this.outq.shift());
    let w;
    while ((w = this.sendWaiters.peek())) {
      if (!this._trySend(w.buf)) break;
      this.sendWaiters.shift();
      w.resolve();
    }
  }

  // ---- receiving --------------------------------------------------------------------------------

  _input(chunk) {
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      if (this.body) {
        const take = Math.min(this.body.length - this.bodyOff, end - off);
        chunk.copy(this.body, this.bodyOff, off, off + take);
        this.bodyOff += take;
        off += take;
        if (this.bodyOff === this.body.length) {
          const b = this.body;
          this.body = null;
          this._deliver(b);
        }
        continue;
      }
      let len;
      if (this.hdrLen === 0 && end - off >= 4) {
        len = chunk.readUInt32BE(off);
        off += 4;
      } else {
        const take = Math.min(4 - this.hdrLen, end - off);
        chunk.copy(this.hdr, this.hdrLen, off, off + take);
        this.hdrLen += take;
        off += take;
        if (this.hdrLen < 4) return;
        this.hdrLen = 0;
        len = this.hdr.readUInt32BE(0);
      }
      if (end - off >= len) {
        this._deliver(chunk.subarray(off, off + len));
        off += len;
      } else {
        this.body = Buffer.allocUnsafe(len);
        this.bodyOff = 0;
      }
    }
  }

  _deliver(msg) {
    const w = this.recvWaiters.shift();
    if (w) return w.resolve(msg);
    this.inq.push(msg);
    if (this.receiveHighWaterMark > 0 && this.inq.length >= this.receiveHighWaterMark && !this.paused) {
      this.paused = true;
      this.sock.pause();
    }
  }

  receive() {
    if (this.inq.length > 0) {
      const m = this.inq.shift();
      if (this.paused && this.inq.length < this.receiveHighWaterMark) {
        this.paused = false;
        this.sock.resume();
      }
      return Promise.resolve(m);
    }
    if (this.closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => this.recvWaiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator]() {
    return {
      next: () =>
        this.receive().then(
          (value) => ({ value, done: false }),
          (err) => {
            if (this.closed) return { value: undefined, done: true };
            throw err;
          },
        ),
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  // ---- closing ----------------------------------------------------------------------------------

  close() {
    if (this.closed) return;
    this.flush();
    this.sock.end();
    this._onClose();
  }

  destroy() {
    this.sock.destroy();
    this._onClose();
  }

  _onClose() {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.recvWaiters.drain()) w.reject(closedError());
    for (const w of this.sendWaiters.drain()) w.reject(closedError());
  }
}

/**
 * Listens on 127.0.0.1 (port 0 = any); each accepted connection is passed to onConnection as a
 * FramedConnection. Resolves to { address: "127.0.0.1:port", port, close() }.
 */
export function listen(port, onConnection, options) {
  const server = net.createServer({ noDelay: true }, (sock) => onConnection(new FramedConnection(sock, options)));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port }, () => {
      server.off("error", reject);
      const p = server.address().port;
      resolve({ address: `127.0.0.1:${p}`, port: p, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/** Connects to "host:port"; resolves to a FramedConnection once connected. */
export function dial(address, options) {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port, noDelay: true });
    sock.once("error", reject);
    sock.once("connect", () => {
      sock.off("error", reject);
      resolve(new FramedConnection(sock, options));
    });
  });
}

/** Echo server for latency: every message received is sent back on the same connection. */
export async function echoServer(port = 0) {
  const conns = new Set();
  const srv = await listen(port, async (conn) => {
    conns.add(conn);
    for await (const msg of conn) await conn.send(msg);
    conns.delete(conn);
  });
  return {
    address: srv.address,
    close: async () => {
      for (const c of conns) c.destroy();
      await srv.close();
    },
  };
}
