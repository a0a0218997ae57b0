// PUB -> N SUB throughput (N = 1 or 4): one publisher process, one process holding the N subscribers.
//
// emq: a Publisher binds tcp://127.0.0.1:0; N Subscribers connect and subscribe to "tick", and every
// message starts with "tick". Baseline: a raw node:net server writing to N client sockets with the
// length-prefix framing of bench/baseline.mjs; for N > 1 it frames each message once and copies that
// one buffer into every connection's output (what emq's PUB does with its encode-once fan-out), for
// N = 1 it stages the body directly (emq does the same). The baseline does no topic matching.
//
// PUB drops a message for a subscriber whose queue is full, so an unpaced publisher would "publish"
// at any rate it likes. To count only what arrives:
//   - each subscriber reports its count to the publisher over a separate raw TCP side channel every
//     ACK_EVERY messages (and every 50 ms if it changed), and the publisher never runs more than
//     `window` messages ahead of the slowest subscriber; window < the publisher's send HWM, so no
//     queue can fill and nothing is dropped by design (the same pacing for emq and the baseline);
//   - the clock stops when every subscriber has reported the last message; if reports stop coming
//     for STALL_MS, the run ends there and the result carries `drops` = messages not delivered, and
//     msg/s is computed from what was delivered (run.mjs then records an error);
//   - before timing, the publisher sends probe messages (a different length, not counted) until each
//     subscriber has seen one, so every subscription is in place when the clock starts.
// Reported: msg/s published (each delivered to all N), deliveries/s (= N x msg/s), and the CPU time
// of each process per message: publisher CPU per published message is what shows whether a message is
// encoded once (it should grow much less than N-fold from N = 1 to N = 4).
//
// Imported by run.mjs for measurePubSub(). Run directly, it runs `run.mjs --only=pubsub` with the
// same arguments. The child roles are `--child pub|subs ...`.

import net from "node:net";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { performance } from "node:perf_hooks";
import { profileArgs, runChild, spawnChild } from "./common.mjs";

const SCRIPT = fileURLToPath(import.meta.url);
const TOPIC = "tick";
/** A subscriber reports its count every this many messages. */
const ACK_EVERY = 500;
/** Defaults: the publisher may run this many messages ahead of the slowest subscriber... */
const WINDOW = 4000;
/** ...which must stay below its send HWM (per subscriber), or PUB would drop. */
const HWM = 10_000;
/** No report for this long after the publisher stopped sending: messages were lost. */
const STALL_MS = 1000;
/** Same as baseline.mjs (and emq's writer): bodies this large are written by reference. */
const COPY_LIMIT = 8 * 1024;
const RESOLVED = Promise.resolve();

/**
 * One measurement in two fresh processes. Resolves to { impl, size, subs, count, published,
 * delivered, drops, seconds, msgsPerSec, deliveriesPerSec, mbPerSec, pubCpuUsPerMsg,
 * subCpuUsPerDelivery }. `window` and `hwm` are there to show what happens without pacing (a window
 * above the HWM drops). With `profileDir`, both processes run under --cpu-prof.
 */
export async function measurePubSub({ impl, size, subs, count, window = WINDOW, hwm = HWM, timeoutMs = 20_000, profileDir }) {
  if (size < TOPIC.length + 1) throw new Error(`size must be at least ${TOPIC.length + 1}`);
  const tag = `${impl}-${size}B-${subs}sub-${Date.now()}`;
  const pub = spawnChild(SCRIPT, ["--child", "pub", impl, String(size), String(count), String(subs), String(window), String(hwm)], {
    execArgv: profileArgs(profileDir, `ps-pub-${tag}`),
    label: `${impl} pub ${size}B x${subs}`,
  });
  let sub;
  try {
    const { endpoint, side } = await pub.next("ready", 10_000);
    sub = spawnChild(SCRIPT, ["--child", "subs", impl, String(size), String(count), String(subs), endpoint, side], {
      execArgv: profileArgs(profileDir, `ps-subs-${tag}`),
      label: `${impl} sub ${size}B x${subs}`,
    });
    // Subscribers that fail (or die) fail the measurement at once rather than at the timeout.
    const subsP = sub.next("subs", timeoutMs);
    subsP.catch(() => {}); // only awaited when nothing was dropped (else it never comes)
    const failed = subsP.then(
      () => new Promise(() => {}),
      (err) => {
        throw err;
      },
    );
    failed.catch(() => {});
    const result = await Promise.race([pub.next("result", timeoutMs), failed]);
    const subsResult = result.drops === 0 ? await subsP : undefined;
    return {
      impl,
      size,
      subs,
      ...result,
      subCpuUsPerDelivery: subsResult ? (subsResult.cpuSeconds * 1e6) / result.delivered : NaN,
    };
  } finally {
    await Promise.all([sub?.stop(), pub.stop()]);
  }
}

// ---- the baseline publisher's connections -----------------------------------------------------------

/**
 * A baseline connection that can also take bytes already framed (once, for all connections): small
 * ones are copied into the slab, big ones written by reference, like emq's FrameWriter.encoded().
 * Queued while the OS buffer is full like any message, up to the HWM.
 */
async function encodedConnectionClass() {
  const { FramedConnection } = await import("./baseline.mjs");
  return class EncodedConnection extends FramedConnection {
    /** A PUB never waits: false means the queue is full and the message is dropped here. */
    tryPublish(buf, encoded) {
      if (this.closed) return false;
      if (this.outq.length === 0 && !this.blocked) {
        if (encoded) this._stageEncoded(buf);
        else this._stage(buf);
        return true;
      }
      if (this.outq.length < this.sendHighWaterMark) {
        this.outq.push(encoded ? { encoded: buf } : buf);
        return true;
      }
      return false;
    }

    _stageEncoded(bytes) {
      const len = bytes.length;
      if (len >= COPY_LIMIT) {
        this._cut();
        this.chunks.push(bytes);
      } else {
        this._reserve(len);
        this.slab.set(bytes, this.pos);
        this.pos += len;
      }
      const was = this.pending;
      this.pending = was + len;
      if (this.pending >= 64 * 1024) this.flush();
      else if (was === 0 && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    }

    _onDrain() {
      while (this.outq.length > 0 && !this.blocked) {
        const m = this.outq.shift();
        if (m.encoded) this._stageEncoded(m.encoded);
        else this._stage(m);
      }
    }
  };
}

/** 4-byte big-endian length + body, in one buffer from Node's pool (emq's encodeOnce does likewise). */
function frameOnce(body) {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** Binds the publisher; resolves to { endpoint, connected(), publish(msg) -> Promise, close() }. */
async function makePublisher(impl, hwm) {
  if (impl === "emq") {
    const { Publisher } = await import("../dist/index.js");
    const pub = new Publisher({ sendHighWaterMark: hwm });
    await pub.bind("tcp://127.0.0.1:0");
    return {
      endpoint: pub.lastEndpoint,
      connected: () => true, // emq's probes find out
      publish: (msg) => pub.send(msg),
      close: () => pub.close(),
    };
  }
  const EncodedConnection = await encodedConnectionClass();
  const conns = [];
  const server = net.createServer({ noDelay: true }, (sock) => conns.push(new EncodedConnection(sock, { sendHighWaterMark: hwm })));
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, resolve);
  });
  return {
    endpoint: `127.0.0.1:${server.address().port}`,
    connected: (n) => conns.length >= n,
    publish(msg) {
      const n = conns.length;
      if (n === 1) conns[0].tryPublish(msg, false);
      else if (n > 1) {
        const enc = frameOnce(msg);
        for (let i = 0; i < n; i++) conns[i].tryPublish(enc, true);
      }
      return RESOLVED; // like emq's send() when it does not wait
    },
    close() {
      for (const c of conns) c.destroy();
      server.close();
    },
  };
}

// ---- child processes ------------------------------------------------------------------------------

async function child(role, args, send, setOnExit) {
  // runChild keeps one exit hook; sockets are opened one by one, so collect their closers.
  const closers = [];
  setOnExit(() => {
    for (const c of closers.reverse()) c();
  });
  const onExit = (fn) => closers.push(fn);
  if (role === "pub") await pubChild(args, send, onExit);
  else if (role === "subs") await subsChild(args, send, onExit);
  else throw new Error(`unknown role ${role}`);
}

async function pubChild(args, send, onExit) {
  const [impl, sizeArg, countArg, subsArg, windowArg, hwmArg] = args;
  const size = Number(sizeArg);
  const count = Number(countArg);
  const n = Number(subsArg);
  const window = Number(windowArg);
  const hwm = Number(hwmArg);
  const { listen } = await import("./baseline.mjs");

  const pub = await makePublisher(impl, hwm);
  onExit(() => pub.close());

  // The side channel: reports [subscriber index u32, count i32] (-1 = "saw a probe").
  const acked = new Array(n).fill(0);
  const probed = new Array(n).fill(false);
  let minAcked = 0;
  let lastReport = performance.now();
  let waiter = null; // { target, resolve }
  const check = () => {
    if (waiter && minAcked >= waiter.target) {
      const w = waiter;
      waiter = null;
      w.resolve(true);
    }
  };
  let sideConnected;
  const sideReady = new Promise((r) => (sideConnected = r));
  const side = await listen(0, async (conn) => {
    sideConnected();
    onExit(() => conn.destroy());
    for await (const m of conn) {
      const i = m.readUInt32BE(0);
      const c = m.readInt32BE(4);
      if (c < 0) probed[i] = true;
      else {
        acked[i] = c;
        minAcked = Math.min(...acked);
        lastReport = performance.now();
        check();
      }
    }
  });
  onExit(() => void side.close());
  send({ type: "ready", endpoint: pub.endpoint, side: side.address });

  /** Resolves true once every subscriber reported `target` messages, false if reports stall. */
  const reached = (target) => {
    if (minAcked >= target) return Promise.resolve(true);
    lastReport = Math.max(lastReport, performance.now());
    return new Promise((resolve) => (waiter = { target, resolve }));
  };
  const stallCheck = setInterval(() => {
    if (waiter && performance.now() - lastReport > STALL_MS) {
      const w = waiter;
      waiter = null;
      w.resolve(false);
    }
  }, 50);
  onExit(() => clearInterval(stallCheck));

  await sideReady;
  while (!pub.connected(n)) await sleep(2);
  // Probes (TOPIC + one byte more than a real message) until every subscriber has seen one.
  const probe = Buffer.alloc(size + 1, 0x70);
  probe.write(TOPIC, 0);
  while (probed.includes(false)) {
    await pub.publish(probe);
    await sleep(2);
  }

  const msg = Buffer.alloc(size, 0x61);
  msg.write(TOPIC, 0);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let published = 0;
  for (; published < count; published++) {
    // Pace in chunks of ACK_EVERY: the whole next chunk must fit in the window.
    if (published % ACK_EVERY === 0 && minAcked + window < published + ACK_EVERY) {
      if (!(await reached(published + ACK_EVERY - window))) break;
    }
    await pub.publish(msg);
  }
  const complete = await reached(published);
  clearInterval(stallCheck);
  const t1 = complete ? performance.now() : lastReport;
  const cpu = process.cpuUsage(cpu0);
  const delivered = acked.reduce((a, b) => a + b, 0);
  const seconds = (t1 - t0) / 1000;
  const deliveriesPerSec = delivered / seconds;
  send({
    type: "result",
    count,
    published,
    delivered,
    drops: published * n - delivered,
    seconds,
    msgsPerSec: deliveriesPerSec / n,
    deliveriesPerSec,
    mbPerSec: (deliveriesPerSec * size) / 1e6,
    pubCpuUsPerMsg: (cpu.user + cpu.system) / published,
  });
}

async function subsChild(args, send, onExit) {
  const [impl, sizeArg, countArg, subsArg, endpoint, sideAddr] = args;
  const size = Number(sizeArg);
  const count = Number(countArg);
  const n = Number(subsArg);
  const { dial } = await import("./baseline.mjs");

  const side = await dial(sideAddr);
  onExit(() => side.destroy());
  const report = (i, c) => {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32BE(i, 0);
    b.writeInt32BE(c, 4);
    void side.send(b);
  };

  const counts = new Array(n).fill(0);
  const reported = new Array(n).fill(0);
  // Between the regular reports too, so that a stalled run still learns the exact counts.
  setInterval(() => {
    for (let i = 0; i < n; i++) {
      if (counts[i] !== reported[i]) report(i, (reported[i] = counts[i]));
    }
  }, 50).unref();

  let t0 = 0;
  let cpu0;
  let bad = 0;
  const consume = async (i, source) => {
    let probed = false;
    for await (const m of source) {
      const body = impl === "emq" ? m[0] : m;
      if (body.length !== size) {
        if (body.length === size + 1) {
          if (!probed) report(i, -1);
          probed = true;
        } else bad++;
        continue;
      }
      if (t0 === 0) {
        t0 = performance.now();
        cpu0 = process.cpuUsage();
      }
      const c = ++counts[i];
      if (c % ACK_EVERY === 0 || c === count) report(i, (reported[i] = c));
      if (c === count) break;
    }
  };

  const loops = [];
  if (impl === "emq") {
    const { Subscriber } = await import("../dist/index.js");
    for (let i = 0; i < n; i++) {
      const sub = new Subscriber();
      onExit(() => sub.close());
      sub.connect(endpoint);
      sub.subscribe(TOPIC);
      loops.push(consume(i, sub));
    }
  } else {
    for (let i = 0; i < n; i++) {
      const conn = await dial(endpoint);
      onExit(() => conn.destroy());
      loops.push(consume(i, conn));
    }
  }
  await Promise.all(loops);
  const cpu = process.cpuUsage(cpu0);
  if (bad) throw new Error(`${bad} messages had an unexpected size`);
  send({ type: "subs", seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (process.argv[1] === SCRIPT) {
  if (process.argv[2] === "--child") runChild(child);
  else {
    // No top-level await here: run.mjs imports this module, which must finish evaluating first.
    import("./run.mjs").then(({ main }) => main(["--only=pubsub", ...process.argv.slice(2)]));
  }
}
