// Queue API throughput (issue 6): posts/s and claim+delete/s for 256-character message bodies from
// pipelined clients against ONE QueueServer (dist/queue-api/server.js) in its own process, in memory
// and durable (journal in a fresh temp dir, fsync on or off). Every role has its own process: the
// server, and CLIENTS client processes that each keep WINDOW requests in flight.
//
// Cases (a case = kind x impl x mode x batch):
//   post     each client posts `count` messages, `batch` per request (QueueClient.post with an array
//            of `batch` {ttl: 3600, body}), WINDOW requests in flight, all into the queue "bench".
//            A message counts when its post is acknowledged (201; in durable mode the server answers
//            only after the journal write, and with fsync after the fsync).
//   consume  the queue is filled first, untimed (each client posts `count` messages in batches of 20),
//            then each client keeps CLAIMS_IN_FLIGHT claims in flight (limit 20, ttl 60, grace 60) and
//            deletes every claimed message with its claim id as soon as the claim comes back (the
//            deletes are pipelined too: up to ~CLAIMS_IN_FLIGHT x 20 + CLAIMS_IN_FLIGHT requests in
//            flight), until a claim finds the queue empty and its own deletes are answered. A
//            message counts when its delete is acknowledged (204).
//   impl lib QueueClient, the real client class (promise and timer per call, request encoded per call,
//            reply fully decoded).
//   impl raw a bare Dealer with requests encoded by the codec once (all posts are the same bytes, no
//            X-Request-ID: replies come in request order per peer) and replies checked by their first
//            bytes (status); claim replies are decoded (their hrefs are the delete hrefs). This shows
//            what the server can do when the clients cost little.
//
// Baselines, in the same run and with the same clients x window: an echo of one message as big as an
// encoded batch-1 post request (as QueueClient builds it) off an emq ROUTER in another process
// ("echo emq": DEALER -> ROUTER -> DEALER) and over bench/baseline.mjs ("echo net", raw node:net).
// ratio = messages/s of a case / echo msg/s of the same repetition (run.mjs runs the echoes before and
// after a repetition's cases and takes the mean), median over repetitions: one
// batch-1 post is one request/reply round trip of about the echo's size, so the ratio is the
// fraction of a bare round trip the API keeps (batch-10 rows can exceed 1).
//
// Clocks: each client times from the parent's "go" (after its warm-up, and for consume after the
// fill) to its last acknowledgement; rate = all timed messages / (latest end - earliest start).
// CPU: the server process's CPU time between "mark" (just before "go") and "report" (after the
// last client finished) per message; clients' summed CPU per message is in the JSON.
//
// Checks: every reply must have the expected status; after the run the server must hold exactly the
// messages posted (post) or none (consume), and have answered no request with an error.
//
// Imported by run.mjs for measureQueue() and measureQueueEcho(). Run directly, it runs
// `run.mjs --only=queue` with the same arguments. The child roles are `--child <role> ...`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { all, controls, now, profileArgs, runChild, serveCpu, serveEcho, spawnChild } from "./common.mjs";

const SCRIPT = fileURLToPath(import.meta.url);

/** Client processes. */
export const CLIENTS = 2;
/** Requests each client keeps in flight (posts; echo). */
export const WINDOW = 256;
/** Claims each client keeps in flight in the consume cases (each followed by up to CLAIM_LIMIT deletes). */
export const CLAIMS_IN_FLIGHT = 8;
export const CLAIM_LIMIT = 20;
/** A message body: a string of this many ASCII characters (msgpack: 2-byte str8 header + 256 bytes). */
export const BODY_CHARS = 256;
const BODY = "m".repeat(BODY_CHARS);
const TTL = 3600;
const QUEUE = "bench";
const FILL_BATCH = 20;

// ---- temp dirs: removed after each case, and on exit whatever happens (watchdog, signals) ---------

const tempDirs = new Set();
let exitHookInstalled = false;
function makeTempDir() {
  const dir = mkdtempSync(join(tmpdir(), "emq-bench-queue-"));
  tempDirs.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}
function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** The size in bytes of a batch-1 post request as QueueClient encodes it (5-digit X-Request-ID). */
export async function postRequestSize(batch = 1) {
  const { encodeValue } = await import("../dist/queue-api/codec.js");
  return encodeValue(postRequest(randomUUID(), "10000", batch), "msgpack").length;
}

function postRequest(clientId, requestId, batch) {
  const headers = { "Client-ID": clientId };
  if (requestId !== undefined) headers["X-Request-ID"] = requestId;
  headers.Accept = "application/x-msgpack";
  const body = [];
  for (let i = 0; i < batch; i++) body.push({ ttl: TTL, body: BODY });
  return { href: `/v1/queues/${QUEUE}/messages`, action: "POST", headers, body };
}

function spawner(profileDir, kids) {
  return (args, name, label) => {
    const h = spawnChild(SCRIPT, ["--child", ...args], { execArgv: profileArgs(profileDir, name), label });
    kids.push(h);
    return h;
  };
}

/**
 * One case in fresh processes: a QueueServer (`mode` memory | durable | nofsync) and `clients`
 * clients. kind "post": `count` messages per client in requests of `batch`, after `warmup` untimed
 * ones. kind "consume": each client fills `count` messages (untimed), then all consume the queue.
 * Resolves to { kind, impl, mode, batch, clients, window, count, requests, seconds, msgsPerSec,
 * reqPerSec, serverCpuUsPerMsg, clientCpuUsPerMsg, server: counters, store: counters }.
 */
export async function measureQueue({ kind, impl, mode, batch = 1, clients = CLIENTS, window = WINDOW, count, warmup, timeoutMs = 60_000, profileDir }) {
  const tag = `${kind}-${impl}-${mode}-b${batch}-${Date.now()}`;
  const kids = [];
  const spawn = spawner(profileDir, kids);
  const dir = mode === "memory" ? undefined : makeTempDir();
  try {
    const server = spawn(["server", mode, dir ?? ""], `queue-server-${tag}`, `queue server (${mode})`);
    const { endpoint } = await server.next("ready", 10_000);
    const cs = [];
    for (let i = 0; i < clients; i++) {
      cs.push(
        spawn(
          [`client-${kind}-${impl}`, endpoint, String(i), String(window), String(batch), String(warmup), String(count)],
          `queue-client${i}-${tag}`,
          `queue ${kind} ${impl} client ${i}`,
        ),
      );
    }
    const warm = await all(cs, "warm", timeoutMs);
    await all([server], "marked", 5000, { type: "mark" });
    const results = await all(cs, "result", timeoutMs, { type: "go" });
    const [s] = await all([server], "cpu", 5000, { type: "report" });
    const t0 = Math.min(...results.map((r) => r.t0));
    const t1 = Math.max(...results.map((r) => r.t1));
    const total = results.reduce((a, r) => a + r.count, 0);
    const requests = results.reduce((a, r) => a + r.requests, 0);
    const seconds = (t1 - t0) / 1000;
    // The server must hold what the clients were told it holds, and have refused nothing.
    const expected = kind === "post" ? warm.reduce((a, w) => a + w.posted, 0) + total : 0;
    if (kind === "consume" && total !== clients * count) throw new Error(`consumed ${total} messages, filled ${clients * count}`);
    if (s.store.messages !== expected) throw new Error(`the server holds ${s.store.messages} messages, expected ${expected}`);
    if (s.server.errors !== 0) throw new Error(`the server answered ${s.server.errors} requests with an error`);
    return {
      kind,
      impl,
      mode,
      batch,
      clients,
      window,
      count: total,
      requests,
      seconds,
      msgsPerSec: total / seconds,
      reqPerSec: requests / seconds,
      serverCpuUsPerMsg: s.cpuUs / total,
      clientCpuUsPerMsg: results.reduce((a, r) => a + r.cpuUs, 0) / total,
      server: s.server,
      store: s.store,
    };
  } finally {
    await Promise.all(kids.map((k) => k.stop()));
    if (dir) removeTempDir(dir);
  }
}

/**
 * The echo baseline: `clients` processes with `window` messages of `size` bytes each in flight to one
 * echo process (impl "emq": a ROUTER; "net": bench/baseline.mjs). Resolves to { impl, size, clients,
 * window, count, seconds, msgsPerSec, serverCpuUsPerMsg, clientCpuUsPerMsg }.
 */
export async function measureQueueEcho({ impl, size, clients = CLIENTS, window = WINDOW, count, warmup, timeoutMs = 30_000, profileDir }) {
  const tag = `${impl}-${Date.now()}`;
  const kids = [];
  const spawn = spawner(profileDir, kids);
  try {
    const server = spawn([`echo-${impl}`], `queue-echo-${tag}`, `${impl} echo`);
    const { endpoint } = await server.next("ready", 10_000);
    const cs = [];
    for (let i = 0; i < clients; i++) {
      cs.push(spawn([`echoclient-${impl}`, endpoint, String(i), String(window), String(size), String(warmup), String(count)], `queue-echoclient${i}-${tag}`, `${impl} echo client ${i}`));
    }
    await all(cs, "warm", timeoutMs);
    await all([server], "marked", 5000, { type: "mark" });
    const results = await all(cs, "result", timeoutMs, { type: "go" });
    const [s] = await all([server], "cpu", 5000, { type: "report" });
    const t0 = Math.min(...results.map((r) => r.t0));
    const t1 = Math.max(...results.map((r) => r.t1));
    const total = results.reduce((a, r) => a + r.count, 0);
    const seconds = (t1 - t0) / 1000;
    return {
      impl,
      size,
      clients,
      window,
      count: total,
      seconds,
      msgsPerSec: total / seconds,
      serverCpuUsPerMsg: s.cpuUs / total,
      clientCpuUsPerMsg: results.reduce((a, r) => a + r.cpuUs, 0) / total,
    };
  } finally {
    await Promise.all(kids.map((k) => k.stop()));
  }
}

// ---- child processes ------------------------------------------------------------------------------

/**
 * Runs ops 0..n-1 with at most `window` in flight; `op(i, done)` starts op i and calls done(err)
 * when it is answered. Resolves when all are, rejects on the first error.
 */
function pipelined(n, window, op) {
  return new Promise((resolve, reject) => {
    if (n === 0) return resolve();
    let next = 0;
    let finished = 0;
    let failed = false;
    const done = (err) => {
      if (failed) return;
      if (err) {
        failed = true;
        return reject(err);
      }
      finished++;
      if (next < n) start();
      else if (finished === n) resolve();
    };
    const start = () => op(next++, done);
    while (next < n && next < window) start();
  });
}

/**
 * Consumes `queue` until a claim finds it empty: `claimsInFlight` claims in flight, each claimed
 * message deleted at once. api.claim(cb(err, messages|undefined)), api.del(message, cb(err)).
 * Resolves to { count: messages deleted, requests }.
 */
function consume(api, claimsInFlight) {
  return new Promise((resolve, reject) => {
    let claims = 0;
    let deletes = 0;
    let count = 0;
    let requests = 0;
    let stopped = false;
    let failed = false;
    const fail = (err) => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    const settle = () => {
      if (stopped && claims === 0 && deletes === 0 && !failed) resolve({ count, requests });
    };
    const claim = () => {
      claims++;
      requests++;
      api.claim((err, msgs) => {
        claims--;
        if (err) return fail(err);
        if (!msgs || msgs.length === 0) {
          // Nothing free: every message is claimed (claims outlive the run), so the queue is done
          // once the deletes in flight are answered.
          stopped = true;
          return settle();
        }
        for (const m of msgs) {
          deletes++;
          requests++;
          api.del(m, (e) => {
            deletes--;
            if (e) return fail(e);
            count++;
            settle();
          });
        }
        if (!stopped) claim();
      });
    };
    for (let i = 0; i < claimsInFlight; i++) claim();
  });
}

/** A request/reply channel over a bare Dealer: replies come in request order (the server's rule). */
function rawChannel(sock, fail) {
  const waiting = [];
  let head = 0;
  void (async () => {
    for (;;) {
      let m;
      try {
        m = await sock.receive();
      } catch {
        return; // closed
      }
      if (head >= waiting.length) return fail(new Error("a reply nobody asked for"));
      const cb = waiting[head];
      waiting[head++] = undefined;
      if (head === waiting.length) {
        waiting.length = 0;
        head = 0;
      } else if (head >= 4096) {
        waiting.splice(0, head);
        head = 0;
      }
      try {
        cb(m[m.length - 1]);
      } catch (err) {
        return fail(err);
      }
    }
  })();
  return {
    call(frame, cb) {
      waiting.push(cb);
      sock.send(frame).catch(fail);
    },
  };
}

/** Checks a raw reply's status by its first bytes (status is the first key the server encodes). */
function statusChecker(encodeValue, decodeFrame) {
  const prefixes = new Map();
  const prefixOf = (status) => {
    let p = prefixes.get(status);
    if (!p) {
      const full = encodeValue({ status, headers: {}, body: null }, "msgpack");
      // fixmap header, "status" (1 + 6 bytes), the integer (at most 3 bytes here).
      p = Buffer.from(full.subarray(0, 1 + 7 + (status < 128 ? 1 : status < 256 ? 2 : 3)));
      prefixes.set(status, p);
    }
    return p;
  };
  return (frame, status) => {
    const p = prefixOf(status);
    if (frame.length >= p.length && frame.compare(p, 0, p.length, 0, p.length) === 0) return;
    let what;
    try {
      what = JSON.stringify(decodeFrame(frame).value);
    } catch {
      what = `${frame.length} undecodable bytes`;
    }
    throw new Error(`expected status ${status}, got ${what}`);
  };
}

/** The client side of every case: warm-up and fill, "warm", wait for "go", timed part, "result". */
async function clientPhases({ warm, timed }, send, waitFor) {
  const w = (await warm()) ?? {};
  send({ type: "warm", posted: w.posted ?? 0 });
  await waitFor("go");
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const r = await timed();
  const t1 = now();
  const cpu = process.cpuUsage(cpu0);
  send({ type: "result", t0, t1, count: r.count, requests: r.requests, cpuUs: cpu.user + cpu.system });
}

async function child(role, args, send, onExit) {
  const waitFor = controls();
  const fail = (err) => {
    send({ type: "error", message: err?.stack ?? String(err) });
    setImmediate(() => process.exit(1));
  };

  if (role === "server") {
    const [mode, dir] = args;
    const { QueueServer } = await import("../dist/queue-api/server.js");
    const { silentLogger } = await import("../dist/log/logger.js");
    const options = { endpoint: "tcp://127.0.0.1:0", logger: silentLogger };
    if (mode === "durable") Object.assign(options, { dataDir: dir, fsync: true });
    else if (mode === "nofsync") Object.assign(options, { dataDir: dir, fsync: false });
    else if (mode !== "memory") throw new Error(`unknown mode ${mode}`);
    const server = new QueueServer(options);
    onExit(() => void server.stop());
    await server.start();
    serveCpu(waitFor, send, () => ({ server: { ...server.counters }, store: { ...server.store.counters } }));
    send({ type: "ready", endpoint: server.endpoint });
    return;
  }

  if (await serveEcho(role, waitFor, send, onExit)) return;

  const [endpoint, indexArg, windowArg, fourth, warmupArg, countArg] = args;
  const index = Number(indexArg);
  const window = Number(windowArg);
  const warmup = Number(warmupArg);
  const count = Number(countArg);

  if (role === "echoclient-emq" || role === "echoclient-net") {
    const size = Number(fourth);
    // The same bytes every time, as the raw clients send: the cheapest client there is.
    const msg = Buffer.alloc(size, 0x61);
    let call;
    if (role === "echoclient-emq") {
      const { Dealer } = await import("../dist/index.js");
      const sock = new Dealer({ routingId: randomUUID(), linger: 0 });
      onExit(() => sock.close());
      sock.connect(endpoint);
      const ch = rawChannel(sock, fail);
      call = (done) => ch.call(msg, (r) => done(r.length === size ? undefined : new Error(`echo of ${r.length} bytes`)));
    } else {
      const { dial } = await import("./baseline.mjs");
      const conn = await dial(endpoint);
      onExit(() => conn.destroy());
      const waiting = [];
      let head = 0;
      void (async () => {
        try {
          for await (const r of conn) {
            const cb = waiting[head];
            waiting[head++] = undefined;
            if (head === waiting.length) {
              waiting.length = 0;
              head = 0;
            }
            cb(r.length === size ? undefined : new Error(`echo of ${r.length} bytes`));
          }
        } catch (err) {
          fail(err);
        }
      })();
      call = (done) => {
        waiting.push(done);
        conn.send(msg).catch(fail);
      };
    }
    const op = (_i, done) => call(done);
    return clientPhases(
      {
        warm: () => pipelined(warmup, window, op),
        timed: async () => {
          await pipelined(count, window, op);
          return { count, requests: count };
        },
      },
      send,
      waitFor,
    );
  }

  const batch = Number(fourth);
  const { QueueClient } = await import("../dist/queue-api/client.js");
  // Setup (creating the queues) always goes through QueueClient; the raw cases then use a Dealer.
  const lib = new QueueClient({ address: endpoint, timeout: 20_000 });
  onExit(() => lib.close());
  await lib.createQueue(QUEUE);
  const items = (n) => Array.from({ length: n }, () => ({ ttl: TTL, body: BODY }));
  const libPost = (queue, n) => (_i, done) =>
    lib.post(queue, items(n)).then((ids) => done(ids.length === n ? undefined : new Error(`posted ${n}, got ${ids.length} ids`)), done);
  /** Posts `total` messages into `queue` in requests of `n` (the last one smaller). */
  const fill = (queue, total, n, post = libPost) => {
    const full = Math.floor(total / n);
    const rest = total - full * n;
    return pipelined(full, window, post(queue, n)).then(() => (rest > 0 ? pipelined(1, 1, post(queue, rest)) : undefined));
  };
  const libConsumer = (queue) => ({
    claim: (cb) =>
      lib.claim(queue, { ttl: 60, grace: 60, limit: CLAIM_LIMIT }).then((c) => cb(undefined, c?.messages), cb),
    del: (m, cb) => lib.delete(queue, m).then(() => cb(), cb),
  });

  let raw;
  if (role.endsWith("-raw")) {
    const { Dealer } = await import("../dist/index.js");
    const { encodeValue, decodeFrame } = await import("../dist/queue-api/codec.js");
    const sock = new Dealer({ routingId: randomUUID(), linger: 0 });
    const prev = () => lib.close();
    onExit(() => {
      prev();
      sock.close();
    });
    sock.connect(endpoint);
    const ch = rawChannel(sock, fail);
    const check = statusChecker(encodeValue, decodeFrame);
    const enc = (v) => {
      const b = encodeValue(v, "msgpack");
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    };
    const headers = { "Client-ID": lib.clientId, Accept: "application/x-msgpack" };
    raw = {
      post(queue, n) {
        const frame = enc({ ...postRequest(lib.clientId, undefined, n), href: `/v1/queues/${queue}/messages` });
        return (_i, done) =>
          ch.call(frame, (r) => {
            try {
              check(r, 201);
            } catch (err) {
              return done(err);
            }
            done();
          });
      },
      consumer(queue) {
        const claimFrame = enc({ href: `/v1/queues/${queue}/claims?limit=${CLAIM_LIMIT}`, action: "POST", headers, body: { ttl: 60, grace: 60 } });
        return {
          claim: (cb) =>
            ch.call(claimFrame, (r) => {
              let reply;
              try {
                reply = decodeFrame(r).value;
              } catch (err) {
                return cb(err);
              }
              if (reply.status === 204) return cb(undefined, undefined);
              if (reply.status !== 201) return cb(new Error(`claim: status ${reply.status} ${JSON.stringify(reply.body)}`));
              cb(undefined, reply.body);
            }),
          // A claimed message's href is /v1/queues/q/messages/<id>?claim_id=<claim>: the delete's href.
          del: (m, cb) =>
            ch.call(enc({ href: m.href, action: "DELETE", headers }), (r) => {
              try {
                check(r, 204);
              } catch (err) {
                return cb(err);
              }
              cb();
            }),
        };
      },
    };
  }

  if (role === "client-post-lib" || role === "client-post-raw") {
    const post = raw ? (q, n) => raw.post(q, n) : libPost;
    const requests = Math.ceil(count / batch);
    return clientPhases(
      {
        warm: async () => {
          await fill(QUEUE, warmup, batch, post);
          return { posted: warmup };
        },
        timed: async () => {
          await fill(QUEUE, count, batch, post);
          return { count, requests };
        },
      },
      send,
      waitFor,
    );
  }

  if (role === "client-consume-lib" || role === "client-consume-raw") {
    const consumer = (q) => (raw ? raw.consumer(q) : libConsumer(q));
    const warmQueue = `warm-${index}`;
    return clientPhases(
      {
        warm: async () => {
          // Warm the whole path on a queue of our own, then fill the shared one.
          await lib.createQueue(warmQueue);
          await fill(warmQueue, warmup, FILL_BATCH);
          const w = await consume(consumer(warmQueue), CLAIMS_IN_FLIGHT);
          if (w.count !== warmup) throw new Error(`warm-up consumed ${w.count} of ${warmup}`);
          await fill(QUEUE, count, FILL_BATCH);
        },
        timed: () => consume(consumer(QUEUE), CLAIMS_IN_FLIGHT),
      },
      send,
      waitFor,
    );
  }

  throw new Error(`unknown role ${role}`);
}

if (process.argv[1] === SCRIPT) {
  if (process.argv[2] === "--child") runChild(child);
  else {
    // No top-level await here: run.mjs imports this module, which must finish evaluating first.
    import("./run.mjs").then(({ main }) => main(["--only=queue", ...process.argv.slice(2)]));
  }
}
