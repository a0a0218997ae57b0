// Property tests for the wire codec: frames, greeting, metadata and commands round-trip; any split
// of the input decodes the same; random and mutated input never throws and ends in a typed error
// or a clean result; claimed sizes allocate nothing until the bytes arrive.

import t from "tap";
import fc from "fast-check";
import {
  COMMAND,
  COPY_LIMIT,
  FrameDecoder,
  FrameWriter,
  LONG,
  MORE,
  PING_CONTEXT_MAX,
  Session,
  ZmtpError,
  checkGreetingPrefix,
  concat,
  encodeCommand,
  encodeError,
  encodeFrame,
  encodeGreeting,
  encodeMetadata,
  encodePing,
  encodePong,
  encodeReady,
  parseCommand,
  parseError,
  parseGreeting,
  parseMetadata,
  parsePing,
  type Command,
  type PeerInfo,
  type Property,
} from "../../src/zmtp/index.js";

const CODES = new Set(["EPROTO", "EMSGSIZE", "ETIMEDOUT", "ENOCOMPATPROTO", "EPEERERROR", "EACCES"]);
const PREALLOCATE_LIMIT = 64 * 1024; // decoder.ts: straddling bodies up to this are preallocated
const ascii = (s: string) => new TextEncoder().encode(s);

interface Frame {
  flags: number;
  body: Uint8Array;
}

/** Deterministic filler, so large bodies need not be generated octet by octet. */
function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    b[i] = x >>> 24;
  }
  return b;
}

const smallBody = fc.uint8Array({ minLength: 0, maxLength: 300, size: "max" });
const largeBody = fc
  .record({ len: fc.integer({ min: COPY_LIMIT - 2, max: 200 * 1024 }), seed: fc.integer() })
  .map(({ len, seed }) => pattern(len, seed));
const edgeBody = fc
  .constantFrom(0, 1, 254, 255, 256, 257, COPY_LIMIT - 1, COPY_LIMIT, PREALLOCATE_LIMIT, PREALLOCATE_LIMIT + 1)
  .map((len) => pattern(len, len));
const body = fc.oneof({ arbitrary: smallBody, weight: 8 }, { arbitrary: edgeBody, weight: 1 }, { arbitrary: largeBody, weight: 1 });
/** Any flags but LONG, which the encoder owns. */
const flagsArb = fc.oneof(fc.constantFrom(0, MORE, COMMAND), fc.integer({ min: 0, max: 255 }).map((f) => f & ~LONG));
const frameArb: fc.Arbitrary<Frame> = fc.record({ flags: flagsArb, body });
const framesArb = fc.array(frameArb, { minLength: 0, maxLength: 12, size: "max" });
const smallFramesArb = fc.array(fc.record({ flags: flagsArb, body: smallBody }), { minLength: 1, maxLength: 8, size: "max" });

/** What the decoder must hand back for a frame we encoded: LONG set exactly when the body exceeds 255. */
const wireFlags = (f: Frame) => (f.body.length > 255 ? f.flags | LONG : f.flags);

function decodeAll(chunks: Uint8Array[], maxFrameSize?: number) {
  const frames: Frame[] = [];
  const d = new FrameDecoder((flags, b) => frames.push({ flags, body: b.slice() }), { maxFrameSize });
  let error: ZmtpError | undefined;
  for (const c of chunks) {
    const e = d.push(c);
    if (e) {
      error = e;
      break;
    }
  }
  return { frames, error };
}

function sameFrames(got: Frame[], want: Frame[]): boolean {
  return (
    got.length === want.length &&
    got.every((g, i) => g.flags === wireFlags(want[i]!) && Buffer.compare(g.body, want[i]!.body) === 0)
  );
}

/** Cuts `bytes` at the given offsets (any order, duplicates allowed, so empty chunks occur). */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => Math.min(a, bytes.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

t.test("frames: encodeFrame and FrameWriter round-trip through FrameDecoder", async (t) => {
  fc.assert(
    fc.property(framesArb, fc.array(fc.nat(), { maxLength: 20, size: "max" }), (frames, cuts) => {
      const encoded = concat(frames.map((f) => encodeFrame(f.flags, f.body)));
      const w = new FrameWriter();
      for (const f of frames) w.frame(f.flags, f.body);
      const written = concat(w.take());
      if (Buffer.compare(encoded, written) !== 0) return false;
      const whole = decodeAll([encoded]);
      if (whole.error || !sameFrames(whole.frames, frames)) return false;
      const pieces = decodeAll(cut(encoded, cuts.map((c) => c % (encoded.length + 1))));
      return !pieces.error && sameFrames(pieces.frames, frames);
    }),
    { numRuns: 150 },
  );
});

t.test("frames: every single split offset decodes identically", async (t) => {
  fc.assert(
    fc.property(smallFramesArb, (frames) => {
      const bytes = concat(frames.map((f) => encodeFrame(f.flags, f.body)));
      for (let i = 0; i <= bytes.length; i++) {
        const r = decodeAll([bytes.subarray(0, i), bytes.subarray(i)]);
        if (r.error || !sameFrames(r.frames, frames)) return false;
      }
      const bytewise = decodeAll(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
      return !bytewise.error && sameFrames(bytewise.frames, frames);
    }),
    { numRuns: 60 },
  );
});

t.test("frames: large straddling bodies on both sides of the preallocation limit", async (t) => {
  for (const len of [COPY_LIMIT, PREALLOCATE_LIMIT - 1, PREALLOCATE_LIMIT, PREALLOCATE_LIMIT + 1, 200 * 1024]) {
    const f: Frame = { flags: MORE, body: pattern(len, len) };
    const bytes = concat([encodeFrame(f.flags, f.body), encodeFrame(0, ascii("end"))]);
    const want = [f, { flags: 0, body: ascii("end") }];
    for (const step of [1000, 4096, 65536, 65537]) {
      const chunks: Uint8Array[] = [];
      for (let o = 0; o < bytes.length; o += step) chunks.push(bytes.subarray(o, o + step));
      const allocs: number[] = [];
      const frames: Frame[] = [];
      const d = new FrameDecoder((flags, b) => frames.push({ flags, body: b }), {
        alloc: (n) => (allocs.push(n), new Uint8Array(n)),
      });
      for (const c of chunks) t.equal(d.push(c), undefined);
      t.ok(sameFrames(frames, want), `len ${len} step ${step}: frames`);
      t.ok(allocs.every((n) => n <= len), `len ${len} step ${step}: no allocation beyond the body (${allocs})`);
      t.ok(allocs.length <= 2, `len ${len} step ${step}: at most one allocation per straddling frame`);
    }
  }
  // A frame wholly inside one chunk is a view of it, not a copy.
  const bytes = encodeFrame(0, pattern(1000, 1));
  let view: Uint8Array | undefined;
  new FrameDecoder((_f, b) => (view = b)).push(bytes);
  t.equal(view!.buffer, bytes.buffer, "zero-copy for an unsplit frame");
});

t.test("frames: a huge claimed size allocates nothing and waits (or fails on maxFrameSize)", async (t) => {
  const header = Uint8Array.of(LONG, 0, 0, 1, 0, 0, 0, 0, 0); // 2^40
  const allocs: number[] = [];
  const frames: Frame[] = [];
  const d = new FrameDecoder((flags, b) => frames.push({ flags, body: b }), { alloc: (n) => (allocs.push(n), new Uint8Array(n)) });
  const before = process.memoryUsage().arrayBuffers;
  t.equal(d.push(header), undefined, "header accepted without limit");
  for (let i = 0; i < 64; i++) t.equal(d.push(new Uint8Array(1024)), undefined);
  const grew = process.memoryUsage().arrayBuffers - before;
  t.same(frames, [], "no frame yet");
  t.same(allocs, [], "nothing allocated for the claimed size");
  t.ok(grew < 16 * 1024 * 1024, `memory grew by ${grew} bytes only`);

  const allocs2: number[] = [];
  const d2 = new FrameDecoder(() => t.fail("no frame"), { maxFrameSize: 1 << 20, alloc: (n) => (allocs2.push(n), new Uint8Array(n)) });
  const err = d2.push(header);
  t.equal(err?.code, "EMSGSIZE");
  t.equal(err?.reason, "frame-too-large");
  t.equal(err?.reconnect, false);
  t.same(allocs2, []);
  t.equal(d2.push(encodeFrame(0, ascii("x"))), err, "error is sticky");
  t.equal(d2.error, err);

  // Header split byte by byte: same verdict once the 9th octet arrives.
  const d3 = new FrameDecoder(() => t.fail("no frame"), { maxFrameSize: 1 << 20 });
  for (let i = 0; i < 8; i++) t.equal(d3.push(header.subarray(i, i + 1)), undefined);
  t.equal(d3.push(header.subarray(8))?.code, "EMSGSIZE");
});

t.test("frames: maxFrameSize is enforced exactly, per frame", async (t) => {
  fc.assert(
    fc.property(smallFramesArb, fc.integer({ min: 0, max: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (frames, max, cuts) => {
      const bytes = concat(frames.map((f) => encodeFrame(f.flags, f.body)));
      const r = decodeAll(cut(bytes, cuts.map((c) => c % (bytes.length + 1))), max);
      const firstBad = frames.findIndex((f) => f.body.length > max);
      if (firstBad < 0) return !r.error && sameFrames(r.frames, frames);
      return r.error?.code === "EMSGSIZE" && sameFrames(r.frames, frames.slice(0, firstBad));
    }),
    { numRuns: 200 },
  );
});

t.test("frames: random and mutated streams never throw", async (t) => {
  const check = (chunks: Uint8Array[], max: number | undefined): boolean => {
    const frames: number[] = [];
    const d = new FrameDecoder((_f, b) => frames.push(b.length), { maxFrameSize: max });
    let err: ZmtpError | undefined;
    for (const c of chunks) {
      const before = frames.length;
      err = d.push(c);
      if (err) {
        if (!(err instanceof ZmtpError) || !CODES.has(err.code) || !err.reason) return false;
        // Dead after an error: later input yields the same error and no frames.
        if (d.push(Uint8Array.of(0, 0)) !== err || frames.length < before) return false;
        break;
      }
    }
    return max === undefined || frames.every((n) => n <= max);
  };
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 64, size: "max" }), { maxLength: 20, size: "max" }),
      fc.option(fc.integer({ min: 0, max: 1000 })),
      (chunks, max) => check(chunks, max ?? undefined),
    ),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      smallFramesArb,
      fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.option(fc.integer({ min: 0, max: 300 })),
      (frames, mutations, cuts, max) => {
        const bytes = concat(frames.map((f) => encodeFrame(f.flags, f.body)));
        for (const m of mutations) if (bytes.length) bytes[m.at % bytes.length] = m.value;
        return check(cut(bytes, cuts.map((c) => c % (bytes.length + 1))), max ?? undefined);
      },
    ),
    { numRuns: 500 },
  );
});

t.test("FrameWriter: many messages equal concatenated encodeFrame output; taken chunks stay intact", async (t) => {
  const messages = fc.array(fc.array(body, { minLength: 1, maxLength: 4, size: "max" }), { minLength: 1, maxLength: 40, size: "max" });
  fc.assert(
    fc.property(messages, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (msgs, takes) => {
      const expected: Uint8Array[] = [];
      for (const m of msgs) m.forEach((f, i) => expected.push(encodeFrame(i < m.length - 1 ? MORE : 0, f)));
      let pendings = 0;
      const w = new FrameWriter();
      w.onPending = () => pendings++;
      const taken: Uint8Array[] = [];
      const snapshots: Uint8Array[] = [];
      let staged = 0;
      let emptyToFull = 0;
      msgs.forEach((m, i) => {
        if (staged === 0) emptyToFull++;
        w.message(m);
        staged += m.reduce((n, f) => n + (f.length > 255 ? 9 : 2) + f.length, 0);
        if (w.pending !== staged) throw new Error(`pending ${w.pending} != ${staged}`);
        if (takes[i]) {
          for (const c of w.take()) {
            taken.push(c);
            snapshots.push(c.slice());
          }
          staged = 0;
          if (w.pending !== 0) throw new Error("pending not reset by take()");
        }
      });
      for (const c of w.take()) {
        taken.push(c);
        snapshots.push(c.slice());
      }
      // Chunks taken early were not overwritten by later writes.
      if (!taken.every((c, i) => Buffer.compare(c, snapshots[i]!) === 0)) return false;
      if (pendings !== emptyToFull) return false;
      // Large bodies travel by reference.
      const large = msgs.flat().filter((f) => f.length >= COPY_LIMIT);
      if (!large.every((f) => taken.includes(f))) return false;
      return Buffer.compare(concat(taken), concat(expected)) === 0;
    }),
    { numRuns: 100 },
  );
  // message(frames, start) skips leading frames (ROUTER's routing id).
  const w = new FrameWriter();
  w.message([ascii("id"), ascii("a"), ascii("b")], 1);
  t.same([...concat(w.take())], [...concat([encodeFrame(MORE, ascii("a")), encodeFrame(0, ascii("b"))])]);
  // Raw bytes (the greeting) then frames, across several slabs.
  const w2 = new FrameWriter();
  const g = encodeGreeting("NULL", false);
  w2.raw(g);
  const many: Uint8Array[] = [g];
  for (let i = 0; i < 2000; i++) {
    const b = pattern(i % 300, i);
    w2.frame(0, b);
    many.push(encodeFrame(0, b));
  }
  t.equal(Buffer.compare(concat(w2.take()), concat(many)), 0, "raw + 2000 frames over several slabs");
  t.same(w2.take(), [], "nothing left");
});

t.test("greeting: round trip and prefix checks", async (t) => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[A-Z0-9_.+-]{1,20}$/),
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      (mechanism, asServer, minor) => {
        const g = encodeGreeting(mechanism, asServer, minor);
        if (g.length !== 64) return false;
        for (let n = 0; n <= 64; n++) if (checkGreetingPrefix(g, n)) return false;
        const p = parseGreeting(g);
        return !(p instanceof ZmtpError) && p.major === 3 && p.minor === minor && p.mechanism === mechanism && p.asServer === asServer;
      },
    ),
    { numRuns: 300 },
  );
  t.throws(() => encodeGreeting("null", false), TypeError);
  t.throws(() => encodeGreeting("", false), TypeError);
  t.throws(() => encodeGreeting("A".repeat(21), false), TypeError);
  // Random 64 octets: a typed verdict, never an exception; acceptance implies the fixed fields.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 80, size: "max" }), fc.boolean(), (raw, sig) => {
      const g = raw.slice();
      if (sig && g.length >= 11) {
        g[0] = 0xff;
        g[9] = 0x7f;
        g[10] = 3;
      }
      const p = parseGreeting(g);
      if (p instanceof ZmtpError) return CODES.has(p.code);
      return g.length >= 64 && g[0] === 0xff && (g[9]! & 1) === 1 && g[10]! >= 3 && g[32]! <= 1;
    }),
    { numRuns: 500 },
  );
});

const propName = fc.stringMatching(/^[A-Za-z0-9_.+-]{1,40}$/);
const propsArb = fc
  .uniqueArray(fc.tuple(propName, fc.uint8Array({ maxLength: 300, size: "max" })), {
    maxLength: 8,
    selector: ([n]) => n.toLowerCase(),
  })
  .map((ps) => ps as Property[]);

t.test("metadata: round trip; random bytes never throw", async (t) => {
  fc.assert(
    fc.property(propsArb, (props) => {
      const m = parseMetadata(encodeMetadata(props));
      if (m instanceof ZmtpError || m.size !== props.length) return false;
      return props.every(([n, v]) => {
        const got = m.get(n.toLowerCase());
        return got !== undefined && Buffer.compare(got, v) === 0;
      });
    }),
    { numRuns: 300 },
  );
  // A 255-octet name and an empty value are legal.
  const long = "N".repeat(255);
  const m = parseMetadata(encodeMetadata([[long, new Uint8Array(0)]]));
  t.ok(m instanceof Map && m.get(long.toLowerCase())?.length === 0);
  t.throws(() => encodeMetadata([["bad name", new Uint8Array(0)]]), TypeError);
  t.throws(() => encodeMetadata([["N".repeat(256), new Uint8Array(0)]]), TypeError);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200, size: "max" }), (raw) => {
      const r = parseMetadata(raw);
      return r instanceof ZmtpError ? r.code === "EPROTO" && r.reason === "malformed-metadata" : r instanceof Map;
    }),
    { numRuns: 500 },
  );
  // Truncating a valid encoding anywhere inside a property is an error.
  fc.assert(
    fc.property(propsArb.filter((p) => p.length > 0), fc.nat(), (props, at) => {
      const enc = encodeMetadata(props);
      const ends = new Set<number>([0]);
      let off = 0;
      for (const [n, v] of props) ends.add((off += 1 + n.length + 4 + v.length));
      const n = at % enc.length;
      const r = parseMetadata(enc.subarray(0, n));
      return ends.has(n) ? r instanceof Map : r instanceof ZmtpError;
    }),
    { numRuns: 300 },
  );
});

t.test("commands: round trip; typed commands; random bodies never throw", async (t) => {
  const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,30}$/);
  fc.assert(
    fc.property(name, fc.uint8Array({ maxLength: 300, size: "max" }), (n, data) => {
      const frame = encodeFrame(COMMAND, encodeCommand(n, data));
      let got: Command | ZmtpError | undefined;
      const d = new FrameDecoder((flags, b) => {
        if (flags & COMMAND) got = parseCommand(b);
      });
      if (d.push(frame)) return false;
      return got !== undefined && !(got instanceof ZmtpError) && got.name === n && Buffer.compare(got.data, data) === 0;
    }),
    { numRuns: 300 },
  );
  t.throws(() => encodeCommand(""), TypeError);
  t.throws(() => encodeCommand("X".repeat(256)), TypeError);
  const c255 = parseCommand(encodeCommand("X".repeat(255)));
  t.ok(!(c255 instanceof ZmtpError) && c255.name.length === 255 && c255.data.length === 0, "255-octet name");
  // PING / PONG.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 40, size: "max" }), (ttl, ctx) => {
      const c = parseCommand(encodePing(ttl, ctx));
      if (c instanceof ZmtpError || c.name !== "PING") return false;
      const p = parsePing(c.data);
      const keep = ctx.subarray(0, PING_CONTEXT_MAX);
      if (p instanceof ZmtpError || p.ttlDeciseconds !== ttl || Buffer.compare(p.context, keep) !== 0) return false;
      const pong = parseCommand(encodePong(ctx));
      return !(pong instanceof ZmtpError) && pong.name === "PONG" && Buffer.compare(pong.data, keep) === 0;
    }),
    { numRuns: 300 },
  );
  // TTL is clamped to 16 bits and floored.
  const ttlOf = (x: number) => {
    const c = parseCommand(encodePing(x)) as Command;
    return (parsePing(c.data) as { ttlDeciseconds: number }).ttlDeciseconds;
  };
  t.same([ttlOf(-5), ttlOf(0.99), ttlOf(12.7), ttlOf(70000)], [0, 0, 12, 0xffff]);
  // ERROR: reason round trip, cut at 255 octets.
  fc.assert(
    fc.property(fc.stringMatching(/^[ -~]{0,300}$/), (reason) => {
      const c = parseCommand(encodeError(reason));
      if (c instanceof ZmtpError || c.name !== "ERROR") return false;
      return parseError(c.data) === reason.slice(0, 255);
    }),
    { numRuns: 300 },
  );
  // READY carries metadata.
  fc.assert(
    fc.property(propsArb, (props) => {
      const c = parseCommand(encodeReady(props));
      if (c instanceof ZmtpError || c.name !== "READY") return false;
      const m = parseMetadata(c.data);
      return m instanceof Map && m.size === props.length;
    }),
    { numRuns: 100 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100, size: "max" }), (raw) => {
      for (const r of [parseCommand(raw), parsePing(raw), parseError(raw)]) {
        if (r instanceof ZmtpError && (r.code !== "EPROTO" || r.reason !== "malformed-command")) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
});

// ---- Sessions fed hostile input

const greetingArb = fc.constantFrom(
  encodeGreeting("NULL", false),
  encodeGreeting("NULL", false, 0),
  Uint8Array.from(Buffer.from("ff00000000000000007f03004e554c4c" + "00".repeat(48), "hex")),
);
const readyFrom = (type: string, extra: Property[] = []) =>
  encodeFrame(COMMAND, encodeReady([["Socket-Type", ascii(type)], ...extra]));

/** Plausible traffic from a ROUTER peer: READY, messages, PINGs, PONGs, SUBSCRIBE, unknown commands. */
const trafficArb = fc
  .array(
    fc.oneof(
      fc.array(smallBody, { minLength: 1, maxLength: 4 }).map((fs) => concat(fs.map((f, i) => encodeFrame(i < fs.length - 1 ? MORE : 0, f)))),
      fc.tuple(fc.integer({ min: 0, max: 0xffff }), smallBody).map(([ttl, c]) => encodeFrame(COMMAND, encodePing(ttl, c))),
      smallBody.map((c) => encodeFrame(COMMAND, encodePong(c))),
      smallBody.map((c) => encodeFrame(COMMAND, encodeCommand("SUBSCRIBE", c))),
      smallBody.map((c) => encodeFrame(COMMAND, encodeCommand("JOIN", c))),
    ),
    { maxLength: 10, size: "max" },
  )
  .map((parts) => concat([readyFrom("ROUTER", [["Identity", ascii("peer")]]), ...parts]));

function feedSession(chunks: Uint8Array[], opts: { maxMessageSize?: number } = {}) {
  const ev = { ready: [] as PeerInfo[], messages: 0, commands: 0, errors: [] as ZmtpError[], afterError: 0 };
  const s = new Session(
    { socketType: "DEALER", maxMessageSize: opts.maxMessageSize },
    {
      ready: (p) => (ev.errors.length ? ev.afterError++ : ev.ready.push(p)),
      message: (frames) => {
        if (ev.errors.length) ev.afterError++;
        if (!frames.length) throw new Error("empty message");
        ev.messages++;
      },
      command: () => (ev.errors.length ? ev.afterError++ : ev.commands++),
      error: (e) => ev.errors.push(e),
    },
  );
  s.start(0);
  let now = 0;
  for (const c of chunks) s.input(c, (now += 10));
  s.poll(now);
  s.writer.take();
  return { s, ev };
}

function sessionOk(s: Session, ev: ReturnType<typeof feedSession>["ev"]): boolean {
  if (ev.afterError > 0 || ev.errors.length > 1) return false;
  if (ev.errors.length === 1) {
    const e = ev.errors[0]!;
    return e instanceof ZmtpError && CODES.has(e.code) && typeof e.reason === "string" && s.state === "closed";
  }
  if (s.state === "closed") return false;
  return ev.ready.length === (s.state === "ready" ? 1 : 0);
}

t.test("session: a peer sending a greeting then garbage never throws", async () => {
  fc.assert(
    fc.property(
      greetingArb,
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 64, size: "max" }), { maxLength: 10, size: "max" }),
      (g, garbage) => {
        const { s, ev } = feedSession([g, ...garbage]);
        return sessionOk(s, ev);
      },
    ),
    { numRuns: 500 },
  );
  // Garbage without a greeting.
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 100, size: "max" }), { maxLength: 5 }), (chunks) => {
      const { s, ev } = feedSession(chunks);
      return sessionOk(s, ev) && (ev.errors.length === 1 || s.state === "greeting" || chunks.every((c) => c.length === 0) || s.state !== "ready");
    }),
    { numRuns: 300 },
  );
});

t.test("session: valid traffic, cut anywhere, is delivered; mutated traffic fails cleanly", async (t) => {
  fc.assert(
    fc.property(greetingArb, trafficArb, fc.array(fc.nat(), { maxLength: 10 }), (g, traffic, cuts) => {
      const bytes = concat([g, traffic]);
      const { s, ev } = feedSession(cut(bytes, cuts.map((c) => c % (bytes.length + 1))));
      return sessionOk(s, ev) && ev.errors.length === 0 && s.state === "ready" && ev.ready[0]!.socketType === "ROUTER";
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(
      greetingArb,
      trafficArb,
      fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.option(fc.integer({ min: 0, max: 300 })),
      (g, traffic, mutations, cuts, max) => {
        const bytes = concat([g, traffic]);
        for (const m of mutations) bytes[m.at % bytes.length] = m.value;
        const { s, ev } = feedSession(cut(bytes, cuts.map((c) => c % (bytes.length + 1))), { maxMessageSize: max ?? undefined });
        return sessionOk(s, ev);
      },
    ),
    { numRuns: 500 },
  );
  t.pass("properties hold");
});

t.test("writer: a message with no frame after `start` is refused, nothing staged", async (t) => {
  const w = new FrameWriter();
  const id = new Uint8Array([0, 1, 2, 3, 4]);
  t.throws(() => w.message([id], 1), RangeError);
  t.throws(() => w.message([], 0), RangeError);
  t.equal(w.pending, 0, "nothing was staged");
  w.message([id, new Uint8Array([9])], 1);
  t.same([...concat(w.take())], [0, 1, 9], "start skips the routing-id frame");
});
