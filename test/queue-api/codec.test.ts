// The queue API payload codec (src/queue-api/codec.ts): sniffing, decoding under the value rules
// (one explicit example per rule, both codecs), round trips and cross-encoding of random values,
// byte-for-byte agreement with @msgpack/msgpack and JSON.stringify where the models overlap,
// random and mutated frames (a value or a 400 CodecError, nothing else), Accept negotiation and
// encodedSize.

import t, { type Test } from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { deepStrictEqual } from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { Decoder, Encoder } from "@msgpack/msgpack";
import { ApiError, TITLE } from "../../src/queue-api/errors.js";
import {
  CodecError,
  MAX_DEPTH,
  decodeFrame,
  encodeValue,
  encodedSize,
  negotiateAccept,
  sniffFormat,
  type Format,
} from "../../src/queue-api/codec.js";

const FORMATS: Format[] = ["msgpack", "json"];
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const cat = (...parts: (Uint8Array | string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p as Uint8Array))));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const u64 = (v: bigint): number[] => [...Buffer.from(BigInt.asUintN(64, v).toString(16).padStart(16, "0"), "hex")];
/** A msgpack str header and bytes. */
const mpStr = (b: number[] | Uint8Array): number[] => {
  const n = b.length;
  const head = n < 32 ? [0xa0 | n] : n < 256 ? [0xd9, n] : [0xda, n >> 8, n & 0xff];
  return [...head, ...b];
};
/** A one-entry msgpack map {k: <raw value bytes>}. */
const mpMap1 = (key: string, value: number[] | Uint8Array): Uint8Array => cat([0x81], mpStr([...Buffer.from(key)]), [...value]);

/** Runs decodeFrame: its result, or the CodecError it threw; anything else thrown is a failure. */
function outcome(frame: Uint8Array): { format: Format; value: unknown } | CodecError {
  try {
    return decodeFrame(frame);
  } catch (err) {
    if (err instanceof CodecError) {
      if (!(err instanceof ApiError) || err.status !== 400 || err.title !== TITLE.invalidBody || err.code !== "E400") throw new Error(`bad CodecError shape: ${err.message}`);
      if (err.format !== "msgpack" && err.format !== "json") throw new Error(`bad CodecError format ${String(err.format)}`);
      return err;
    }
    throw err;
  }
}

/** Asserts that the frame is refused with a 400 whose description matches, answered in `format`. */
function refused(t: Test, frame: Uint8Array, description: RegExp, format: Format, what: string): void {
  const got = outcome(frame);
  if (!(got instanceof CodecError)) {
    t.fail(`${what}: accepted as ${String(got.value)}`);
    return;
  }
  t.match(got.description, description, `${what}: ${got.description}`);
  t.equal(got.format, format, `${what}: answered in ${format}`);
}

/** Asserts that the frame decodes to `value` in `format`. */
function accepted(t: Test, frame: Uint8Array, value: unknown, format: Format, what: string): void {
  const got = outcome(frame);
  if (got instanceof CodecError) {
    t.fail(`${what}: refused: ${got.description}`);
    return;
  }
  t.equal(got.format, format, `${what}: format ${format}`);
  try {
    deepStrictEqual(got.value, value);
    t.pass(`${what}: value`);
  } catch (err) {
    t.fail(`${what}: ${(err as Error).message}`);
  }
}

// ---- arbitraries --------------------------------------------------------------------------------

// Strings: any code point (surrogate pairs included), ASCII-heavy, and lengths that cross the
// decoder's short/cached/long string paths (16 and 48 bytes) and the size helpers' 256 chars.
const anyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 40, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "href", "action", "__proto__", "constructor", "\u0000", "\ufeffbom", "\u{1F600}", "a\"b\\c\n\t\u0001", "é".repeat(20)) },
);
const bigOutsideSafe = fc.oneof(
  fc.bigInt({ min: SAFE + 1n, max: INT64_MAX }),
  fc.bigInt({ min: INT64_MIN, max: -SAFE - 1n }),
  fc.constantFrom(INT64_MAX, INT64_MIN, SAFE + 1n, -SAFE - 1n),
);
const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  fc.constantFrom(2 ** 53, 2 ** 60, -(2 ** 63), 1e20, 1e21, 1.5e300, Number.MAX_VALUE, Number.MIN_VALUE, 0.1, 1e-7),
);

/** Values of the decoded model (what decodeFrame can give), with or without bigints. */
function valueArb(withBig: boolean): { value: fc.Arbitrary<unknown>; map: fc.Arbitrary<Record<string, unknown>> } {
  const leaf = withBig ? fc.oneof(fc.constant(null), fc.boolean(), number, anyString, bigOutsideSafe) : fc.oneof(fc.constant(null), fc.boolean(), number, anyString);
  const tree = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("map")),
    array: fc.array(tie("value"), { maxLength: 6 }),
    map: fc.dictionary(anyString, tie("value"), { maxKeys: 6, noNullPrototype: true }),
  }));
  return { value: tree.value, map: tree.map as fc.Arbitrary<Record<string, unknown>> };
}
const withBig = valueArb(true);
const noBig = valueArb(false);

/** Bigints that a reference decoder gives for 64-bit encodings of safe integers, as numbers. */
function normalize(v: unknown): unknown {
  if (typeof v === "bigint") return v >= -SAFE && v <= SAFE ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: normalize((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** Whether some leaf of v passes the test. */
function anyLeaf(v: unknown, test: (x: unknown) => boolean): boolean {
  if (Array.isArray(v)) return v.some((x) => anyLeaf(x, test));
  if (v !== null && typeof v === "object") return Object.values(v).some((x) => anyLeaf(x, test));
  return test(v);
}
/** Whether v holds an integral double beyond 2^53 (JSON.stringify writes it as an integer literal). */
const hasUnsafeIntegral = (v: unknown): boolean => anyLeaf(v, (x) => typeof x === "number" && Number.isInteger(x) && !Number.isSafeInteger(x));
const hasBigint = (v: unknown): boolean => anyLeaf(v, (x) => typeof x === "bigint");
/** Whether v holds a "__proto__" key (which @msgpack/msgpack's decoder refuses). */
function hasProtoKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasProtoKey);
  if (v !== null && typeof v === "object") return Object.keys(v).some((k) => k === "__proto__" || hasProtoKey((v as Record<string, unknown>)[k]));
  return false;
}

const refDecoder = new Decoder({ useBigInt64: true });
const refEncoder = new Encoder({ ignoreUndefined: true });
const refBigEncoder = new Encoder({ useBigInt64: true, maxDepth: 1000 });

// ---- round trips ----------------------------------------------------------------------------------

t.test("round trip: encodeValue then decodeFrame gives the value back, in each format", async (t) => {
  fc.assert(
    fc.property(withBig.map, (v) => {
      for (const f of FORMATS) {
        const frame = encodeValue(v, f);
        const got = decodeFrame(frame);
        if (got.format !== f) throw new Error(`format ${got.format}, want ${f}`);
        deepStrictEqual(got.value, v);
      }
    }),
    { numRuns: 1500 },
  );
  t.pass("1500 maps round-tripped through msgpack and JSON");
});

t.test("cross-encoding: a decoded msgpack value written as JSON (and back) is the same value", async (t) => {
  fc.assert(
    fc.property(withBig.map, (v) => {
      // Frames from an independent encoder (which writes safe integers beyond 2^32 as floats).
      const fromMsgpack = decodeFrame(refBigEncoder.encode(v));
      if (fromMsgpack.format !== "msgpack") throw new Error("not sniffed as msgpack");
      deepStrictEqual(fromMsgpack.value, v);
      const asJson = decodeFrame(encodeValue(fromMsgpack.value, "json"));
      deepStrictEqual(asJson.value, v);
      const backToMsgpack = decodeFrame(encodeValue(asJson.value, "msgpack"));
      deepStrictEqual(backToMsgpack.value, v);
    }),
    { numRuns: 1000 },
  );
  t.pass("1000 maps crossed msgpack → JSON → msgpack");
});

t.test("an independent msgpack decoder reads our msgpack as the same value", async (t) => {
  fc.assert(
    fc.property(withBig.map, (v) => {
      fc.pre(!hasProtoKey(v));
      deepStrictEqual(normalize(refDecoder.decode(encodeValue(v, "msgpack"))), v);
    }),
    { numRuns: 1000 },
  );
  t.pass("1000 maps read back by @msgpack/msgpack");
});

t.test("without bigints, our bytes equal @msgpack/msgpack's and JSON.stringify's", async (t) => {
  fc.assert(
    fc.property(noBig.map, (v) => {
      const mp = encodeValue(v, "msgpack");
      const ref = refEncoder.encode(v);
      if (hex(mp) !== hex(ref)) throw new Error(`msgpack ${hex(mp)} != reference ${hex(ref)}`);
      // JSON.stringify writes integral doubles beyond 2^53 as digits; ours adds an exponent (tested below).
      if (hasUnsafeIntegral(v)) return;
      const js = Buffer.from(encodeValue(v, "json")).toString("utf8");
      if (js !== JSON.stringify(v)) throw new Error(`json ${js} != ${JSON.stringify(v)}`);
      deepStrictEqual(JSON.parse(js), v);
    }),
    { numRuns: 1000 },
  );
  t.pass("1000 maps encoded byte for byte like the references");
});

t.test("JSON texts with escapes and whitespace decode like JSON.parse, on both JSON paths", async (t) => {
  // Python's json.dumps escapes every non-ASCII character (surrogate pairs as two \u escapes).
  const asciiEscaped = (s: string): string => s.replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  fc.assert(
    fc.property(noBig.map, fc.constantFrom(0, 2, "\t", " \r\n "), fc.boolean(), (v, indent, escape) => {
      fc.pre(!hasUnsafeIntegral(v)); // those read back as bigints, by design
      let text = JSON.stringify(v, null, indent);
      if (escape) text = asciiEscaped(text);
      const want = JSON.parse(text) as Record<string, unknown>;
      // As is: the scan-then-JSON.parse path (unless the text itself needs the exact parser).
      deepStrictEqual(decodeFrame(Buffer.from(text)).value, want);
      // With a 19-digit integer first: the exact parser must give the same map plus that key.
      const forced = text.replace("{", '{"~big":1234567890123456789' + (text.trim() === "{}" ? "" : ","));
      const got = decodeFrame(Buffer.from(" \n" + forced)).value as Record<string, unknown>;
      if (got["~big"] !== 1234567890123456789n) throw new Error("forced key missing");
      delete got["~big"];
      deepStrictEqual(got, want);
    }),
    { numRuns: 1000 },
  );
  t.pass("1000 JSON texts agree with JSON.parse on both paths");
});

// ---- sniffing -------------------------------------------------------------------------------------

t.test("sniffing: JSON after whitespace, every msgpack map header kind", async (t) => {
  t.equal(sniffFormat(Buffer.from("{}")), "json");
  t.equal(sniffFormat(Buffer.from(" \t\r\n{}")), "json", "JSON whitespace before {");
  t.equal(sniffFormat(bytes(0x80)), "msgpack", "fixmap 0x80");
  t.equal(sniffFormat(bytes(0x8f)), "msgpack", "fixmap 0x8f");
  t.equal(sniffFormat(bytes(0xde, 0, 0)), "msgpack", "map16");
  t.equal(sniffFormat(bytes(0xdf, 0, 0, 0, 0)), "msgpack", "map32");
  for (const [frame, what] of [
    [bytes(), "empty"],
    [Buffer.from("[1]"), "JSON array"],
    [Buffer.from("   "), "only whitespace"],
    [Buffer.from(" \u000b{}"), "vertical tab is not JSON whitespace"],
    [Buffer.from('"x"'), "JSON string"],
    [bytes(0x90), "fixarray"],
    [bytes(0xdc, 0, 0), "array16"],
    [bytes(0xa1, 0x61), "fixstr"],
    [bytes(0xc0), "nil"],
    [bytes(0x20, 0x81), "space then a msgpack map"],
    [bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d), "UTF-8 BOM before {"],
  ] as const) t.equal(sniffFormat(frame), undefined, what);

  accepted(t, Buffer.from(' \t\r\n{"a":1}\n'), { a: 1 }, "json", "JSON with leading and trailing whitespace");
  accepted(t, bytes(0x81, 0xa1, 0x61, 0x01), { a: 1 }, "msgpack", "fixmap");
  accepted(t, bytes(0xde, 0x00, 0x01, 0xa1, 0x61, 0x01), { a: 1 }, "msgpack", "map16");
  accepted(t, bytes(0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 0x61, 0x01), { a: 1 }, "msgpack", "map32");
  const sixteen: Record<string, number> = {};
  for (let i = 0; i < 16; i++) sixteen[`k${i}`] = i;
  t.equal(encodeValue(sixteen, "msgpack")[0], 0xde, "16 entries are written as map16");
  accepted(t, encodeValue(sixteen, "msgpack"), sixteen, "msgpack", "map16 of 16 entries");
  // A frame that is a view into a bigger buffer (as socket frames are).
  const inner = encodeValue({ href: "/v1/queues/q", long: "é".repeat(40), mid: "x".repeat(30) }, "msgpack");
  const padded = new Uint8Array(inner.length + 20).fill(0xc1);
  padded.set(inner, 7);
  accepted(t, padded.subarray(7, 7 + inner.length), { href: "/v1/queues/q", long: "é".repeat(40), mid: "x".repeat(30) }, "msgpack", "a subarray frame");
});

// ---- the value rules, one example each -----------------------------------------------------------

t.test("refusals are ApiError 400 'Invalid request body' that carry the reply format", async (t) => {
  let err: unknown;
  try {
    decodeFrame(Buffer.from("{nope}"));
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ApiError, "an ApiError");
  t.ok(err instanceof CodecError, "a CodecError");
  const e = err as CodecError;
  t.equal(e.status, 400);
  t.equal(e.code, "E400");
  t.equal(e.title, TITLE.invalidBody);
  t.equal(e.format, "json");
  t.same(e.body(), { title: "Invalid request body", description: e.description });
});

t.test("not msgpack or JSON, and top-level values that are not maps", async (t) => {
  refused(t, bytes(), /not msgpack or JSON/, "msgpack", "empty frame");
  refused(t, bytes(0xc1), /not msgpack or JSON/, "msgpack", "0xc1");
  refused(t, bytes(0xa1, 0x61), /not msgpack or JSON/, "msgpack", "msgpack str");
  refused(t, Buffer.from("42"), /not msgpack or JSON/, "msgpack", "a bare number (also a msgpack fixint)");
  refused(t, Buffer.from('"x"'), /not msgpack or JSON/, "msgpack", "a bare JSON string");
  refused(t, Buffer.from("  \n"), /not msgpack or JSON/, "json", "only whitespace: text, so answered in JSON");
  refused(t, Buffer.from("[1,2]"), /Expected a map/, "json", "JSON top-level array");
  refused(t, Buffer.from(" \n[]"), /Expected a map/, "json", "JSON top-level array after whitespace");
  refused(t, bytes(0x92, 0x01, 0x02), /Expected a map/, "msgpack", "msgpack fixarray");
  refused(t, bytes(0xdc, 0x00, 0x00), /Expected a map/, "msgpack", "msgpack array16");
  refused(t, bytes(0xdd, 0x00, 0x00, 0x00, 0x00), /Expected a map/, "msgpack", "msgpack array32");
});

t.test("undecodable bytes: truncated msgpack, trailing bytes, invalid JSON", async (t) => {
  refused(t, bytes(0x81), /truncated/, "msgpack", "fixmap without entries");
  refused(t, bytes(0x81, 0xa1, 0x61), /truncated/, "msgpack", "key without value");
  refused(t, bytes(0x81, 0xa3, 0x61), /truncated/, "msgpack", "str shorter than its header");
  refused(t, bytes(0x81, 0xa1, 0x61, 0xcb, 0, 0), /truncated/, "msgpack", "float64 cut short");
  refused(t, bytes(0xde, 0x00), /truncated/, "msgpack", "map16 header cut short");
  refused(t, bytes(0xdf, 0xff, 0xff, 0xff, 0xff), /truncated/, "msgpack", "map32 claiming 4G entries (refused at once)");
  refused(t, mpMap1("a", [0xdd, 0xff, 0xff, 0xff, 0xff]), /truncated/, "msgpack", "array32 claiming 4G elements");
  refused(t, mpMap1("a", [0xdb, 0xff, 0xff, 0xff, 0xff]), /truncated/, "msgpack", "str32 claiming 4 GB");
  refused(t, mpMap1("a", [0xc1]), /invalid msgpack type/, "msgpack", "0xc1 (never used) as a value");
  refused(t, cat(mpMap1("a", [1]), [0xc0]), /extra bytes/, "msgpack", "a nil after the map");
  refused(t, cat(mpMap1("a", [1]), mpMap1("b", [2])), /extra bytes/, "msgpack", "two maps in one frame");
  refused(t, Buffer.from('{"a":1} x'), /malformed JSON/, "json", "text after the JSON object");
  refused(t, Buffer.from('{"a":1}{}'), /malformed JSON/, "json", "two JSON objects");
  refused(t, Buffer.from('{"a":1,}'), /malformed JSON/, "json", "trailing comma");
  refused(t, Buffer.from('{"a":1'), /malformed JSON/, "json", "unterminated object");
  refused(t, Buffer.from('{"a":"x}'), /malformed JSON/, "json", "unterminated string");
  refused(t, Buffer.from("{'a':1}"), /malformed JSON/, "json", "single quotes");
  refused(t, Buffer.from('{"a":NaN}'), /malformed JSON/, "json", "NaN literal");
});

t.test("the exact JSON parser refuses what JSON.parse refuses", async (t) => {
  // Each body goes through the exact parser (the 19-digit integer first forces it).
  const bodies = ['"a":01', '"a":-', '"a":1.', '"a":.5', '"a":+1', '"a":1e', '"a":1e+', '"a":-x', '"a":tru', '"a":nul', '"a":falsey', '"a":"\\x"', '"a":"\\u12"', '"a":"\\u12G4"',
    '"a":"\u0001"', '"a" 1', '"a":[1,]', '"a":[1 2]', '"a":{"b"}', '"a":{"b":1,}', '"a":"x', '"a":1}', "a:1", '"a":1,', '"a":[', '"a":"\\', '"a":[1]]', '"a":\u00a01'];
  for (const body of bodies) {
    const plain = `{${body}}`;
    let parses = true;
    try {
      JSON.parse(plain);
    } catch {
      parses = false;
    }
    t.notOk(parses, `JSON.parse refuses {${body}}`);
    refused(t, Buffer.from(`{"n":1234567890123456789,${body}}`), /malformed JSON/, "json", `exact parser: {${body}}`);
    refused(t, Buffer.from(plain), /malformed JSON/, "json", `fast path: {${body}}`);
  }
  accepted(t, Buffer.from('{"n":1234567890123456789,"e":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00","f":[1.5e3,-0.25E-2,0,-0,true,false,null,{}], "g" : { "h" : [ ] } }'),
    { n: 1234567890123456789n, e: '"\\/\b\f\n\r\t\u00e9\u20ac\u{1F600}', f: [1500, -0.0025, 0, -0, true, false, null, {}], g: { h: [] } }, "json", "every escape and literal, exact parser");
});

t.test("map keys must be strings (msgpack)", async (t) => {
  refused(t, bytes(0x81, 0x01, 0xa1, 0x61), /keys must be strings/, "msgpack", "integer key");
  refused(t, bytes(0x81, 0xc0, 0x01), /keys must be strings/, "msgpack", "nil key");
  refused(t, bytes(0x81, 0xc3, 0x01), /keys must be strings/, "msgpack", "boolean key");
  refused(t, bytes(0x81, 0x90, 0x01), /keys must be strings/, "msgpack", "array key");
  refused(t, bytes(0x81, 0x80, 0x01), /keys must be strings/, "msgpack", "map key");
  refused(t, bytes(0x81, 0xc4, 0x01, 0x61, 0x01), /keys must be strings/, "msgpack", "bin key");
  refused(t, bytes(0x81, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x01), /keys must be strings/, "msgpack", "float key");
  refused(t, mpMap1("a", [0x81, 0x05, 0x01]), /keys must be strings/, "msgpack", "integer key in a nested map");
  accepted(t, bytes(0x81, 0xd9, 0x01, 0x61, 0x01), { a: 1 }, "msgpack", "str8 key");
  accepted(t, bytes(0x81, 0xda, 0x00, 0x01, 0x61, 0x01), { a: 1 }, "msgpack", "str16 key");
  accepted(t, bytes(0x81, 0xdb, 0x00, 0x00, 0x00, 0x01, 0x61, 0x01), { a: 1 }, "msgpack", "str32 key");
});

t.test("strings must be valid UTF-8, in every string path", async (t) => {
  const invalid: [string, number[]][] = [
    ["0xff", [0xff]],
    ["lone continuation byte", [0x80]],
    ["overlong NUL (C0 80)", [0xc0, 0x80]],
    ["overlong 2-byte lead C1", [0xc1, 0xbf]],
    ["overlong 3-byte (E0 80 AF)", [0xe0, 0x80, 0xaf]],
    ["overlong 4-byte (F0 80 80 AF)", [0xf0, 0x80, 0x80, 0xaf]],
    ["CESU surrogate (ED A0 80)", [0xed, 0xa0, 0x80]],
    ["above U+10FFFF (F4 90 80 80)", [0xf4, 0x90, 0x80, 0x80]],
    ["F5 lead", [0xf5, 0x80, 0x80, 0x80]],
    ["truncated 3-byte sequence", [0xe2, 0x82]],
    ["truncated 2-byte sequence", [0xc3]],
    ["bad continuation", [0xc3, 0x28]],
  ];
  // 0, 20 and 60 bytes of ASCII before the bad bytes: the cached (<=16), short (<=48) and native paths.
  for (const pad of [0, 20, 60]) {
    for (const [what, bad] of invalid) {
      const s = [...Buffer.from("x".repeat(pad)), ...bad];
      refused(t, mpMap1("a", mpStr(s)), /valid UTF-8/, "msgpack", `msgpack str value, ${pad} bytes before ${what}`);
    }
  }
  for (const [what, bad] of invalid) refused(t, cat([0x81], mpStr(bad), [0x01]), /valid UTF-8/, "msgpack", `msgpack key: ${what}`);
  for (const [what, bad] of invalid) refused(t, cat('{"a":"', bad, '"}'), /valid UTF-8/, "json", `JSON: ${what}`);
  refused(t, cat('{"', [0xff], '":1}'), /valid UTF-8/, "json", "JSON key with 0xff");
  // Valid multi-byte text in every path, decoded twice (the second time from the cache).
  for (const s of ["é", "€", "\u{1F600}", "\ufeff", "aé€\u{1F600}", "é".repeat(8), "€".repeat(12), "\u{10FFFF}".repeat(20), "\u{1F600}x".repeat(30)]) {
    const frame = encodeValue({ [s]: s }, "msgpack");
    accepted(t, frame, { [s]: s }, "msgpack", `valid ${JSON.stringify(s).slice(0, 20)} (${Buffer.byteLength(s)} bytes)`);
    accepted(t, frame, { [s]: s }, "msgpack", `valid ${JSON.stringify(s).slice(0, 20)} again`);
  }
  // Same length and hash bucket do not mix strings up.
  accepted(t, encodeValue({ ab: "ba", ba: "ab" }, "msgpack"), { ab: "ba", ba: "ab" }, "msgpack", "cached strings of equal length");
  // Lone surrogate escapes in JSON are not Unicode text either.
  refused(t, Buffer.from('{"a":"\\ud800"}'), /valid UTF-8/, "json", "lone high surrogate escape");
  refused(t, Buffer.from('{"a":"\\udc00"}'), /valid UTF-8/, "json", "lone low surrogate escape");
  refused(t, Buffer.from('{"a":"\\ude00\\ud83d"}'), /valid UTF-8/, "json", "reversed surrogate pair");
  refused(t, Buffer.from('{"a":"\\ud83d\\u0041"}'), /valid UTF-8/, "json", "high surrogate then a BMP escape");
  refused(t, Buffer.from('{"a":"\\ud83d\u{1F600}"}'), /valid UTF-8/, "json", "high surrogate escape then a raw emoji");
  refused(t, Buffer.from('{"\\udfff":1}'), /valid UTF-8/, "json", "lone surrogate escape in a key");
  accepted(t, Buffer.from('{"a":"\\ud83d\\ude00\\uD83D\\uDE00"}'), { a: "\u{1F600}\u{1F600}" }, "json", "escaped surrogate pairs");
});

t.test("integers must fit in int64; beyond 2^53 they are exact bigints", async (t) => {
  const TOO_LARGE = /JSON contains integer that is too large\./;
  // msgpack
  accepted(t, mpMap1("n", [0xcf, ...u64(INT64_MAX)]), { n: INT64_MAX }, "msgpack", "uint64 2^63-1");
  refused(t, mpMap1("n", [0xcf, ...u64(INT64_MAX + 1n)]), TOO_LARGE, "msgpack", "uint64 2^63");
  refused(t, mpMap1("n", [0xcf, ...u64((1n << 64n) - 1n)]), TOO_LARGE, "msgpack", "uint64 2^64-1");
  accepted(t, mpMap1("n", [0xd3, ...u64(INT64_MIN)]), { n: INT64_MIN }, "msgpack", "int64 -2^63 (msgpack cannot express -2^63-1)");
  accepted(t, mpMap1("n", [0xd3, ...u64(INT64_MAX)]), { n: INT64_MAX }, "msgpack", "int64 2^63-1");
  accepted(t, mpMap1("n", [0xcf, ...u64(SAFE)]), { n: Number.MAX_SAFE_INTEGER }, "msgpack", "uint64 2^53-1 is a number");
  accepted(t, mpMap1("n", [0xcf, ...u64(SAFE + 1n)]), { n: SAFE + 1n }, "msgpack", "uint64 2^53 is a bigint");
  accepted(t, mpMap1("n", [0xd3, ...u64(-SAFE)]), { n: Number.MIN_SAFE_INTEGER }, "msgpack", "int64 -(2^53-1) is a number");
  accepted(t, mpMap1("n", [0xd3, ...u64(-SAFE - 1n)]), { n: -SAFE - 1n }, "msgpack", "int64 -2^53 is a bigint");
  accepted(t, mpMap1("n", [0xd3, ...u64(-1n)]), { n: -1 }, "msgpack", "int64 -1");
  accepted(t, mpMap1("n", [0xcf, ...u64(5n)]), { n: 5 }, "msgpack", "uint64 5");
  // every smaller integer form
  const ints: [number[], number][] = [[[0x7f], 127], [[0xe0], -32], [[0xff], -1], [[0xcc, 0xff], 255], [[0xcd, 0xff, 0xff], 65535], [[0xce, 0xff, 0xff, 0xff, 0xff], 2 ** 32 - 1],
    [[0xd0, 0x80], -128], [[0xd0, 0x7f], 127], [[0xd1, 0x80, 0x00], -32768], [[0xd2, 0x80, 0, 0, 0], -(2 ** 31)], [[0xd2, 0x7f, 0xff, 0xff, 0xff], 2 ** 31 - 1]];
  for (const [enc, want] of ints) accepted(t, mpMap1("n", enc), { n: want }, "msgpack", `${hex(bytes(...enc))} = ${want}`);
  // JSON
  accepted(t, Buffer.from('{"n":9223372036854775807}'), { n: INT64_MAX }, "json", "2^63-1");
  refused(t, Buffer.from('{"n":9223372036854775808}'), TOO_LARGE, "json", "2^63");
  accepted(t, Buffer.from('{"n":-9223372036854775808}'), { n: INT64_MIN }, "json", "-2^63");
  refused(t, Buffer.from('{"n":-9223372036854775809}'), TOO_LARGE, "json", "-2^63-1");
  refused(t, Buffer.from('{"n":[1,{"m":123456789012345678901234567890}]}'), TOO_LARGE, "json", "30 digits, nested");
  accepted(t, Buffer.from('{"n":9007199254740991}'), { n: Number.MAX_SAFE_INTEGER }, "json", "2^53-1 is a number");
  accepted(t, Buffer.from('{"n":9007199254740992}'), { n: SAFE + 1n }, "json", "2^53 is a bigint");
  accepted(t, Buffer.from('{"n":-9007199254740992}'), { n: -SAFE - 1n }, "json", "-2^53 is a bigint");
  accepted(t, Buffer.from('{"n":1234567890123456}'), { n: 1234567890123456 }, "json", "16 digits within 2^53 is a number");
  accepted(t, Buffer.from('{"n":9223372036854775808.0}'), { n: 9223372036854775808 }, "json", "2^63 written as a float is a float");
  accepted(t, Buffer.from('{"n":1e19}'), { n: 1e19 }, "json", "1e19 is a float");
  // exact both ways
  for (const n of [INT64_MAX, INT64_MIN, SAFE + 1n, -SAFE - 1n, 1234567890123456789n]) {
    for (const f of FORMATS) accepted(t, encodeValue({ n }, f), { n }, f, `${n} round trip in ${f}`);
  }
  t.equal(hex(encodeValue({ n: INT64_MAX }, "msgpack")), "81a16ecf7fffffffffffffff", "2^63-1 written as uint64");
  t.equal(hex(encodeValue({ n: INT64_MIN }, "msgpack")), "81a16ed38000000000000000", "-2^63 written as int64");
  t.equal(Buffer.from(encodeValue({ n: INT64_MIN, m: SAFE + 1n }, "json")).toString(), '{"n":-9223372036854775808,"m":9007199254740992}', "bigints written as plain digits");
  t.equal(hex(encodeValue({ n: 5n }, "msgpack")), "81a16e05", "a small bigint takes the smallest form");
});

t.test("floats must be finite", async (t) => {
  const NOT_FINITE = /must be finite/;
  refused(t, mpMap1("x", [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), NOT_FINITE, "msgpack", "float64 NaN");
  refused(t, mpMap1("x", [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]), NOT_FINITE, "msgpack", "float64 +Infinity");
  refused(t, mpMap1("x", [0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0]), NOT_FINITE, "msgpack", "float64 -Infinity");
  refused(t, mpMap1("x", [0xca, 0x7f, 0xc0, 0, 0]), NOT_FINITE, "msgpack", "float32 NaN");
  refused(t, mpMap1("x", [0xca, 0x7f, 0x80, 0, 0]), NOT_FINITE, "msgpack", "float32 +Infinity");
  refused(t, Buffer.from('{"x":1e400}'), NOT_FINITE, "json", "1e400 overflows");
  refused(t, Buffer.from('{"x":-1e400}'), NOT_FINITE, "json", "-1e400 overflows");
  refused(t, Buffer.from('{"x":[1e309]}'), NOT_FINITE, "json", "1e309 overflows");
  refused(t, Buffer.from('{"x":18e307}'), NOT_FINITE, "json", "18e307 overflows");
  accepted(t, Buffer.from('{"x":17976931348623157e292,"y":1e308}'), { x: Number.MAX_VALUE, y: 1e308 }, "json", "the largest double with many digits and an exponent");
  refused(t, Buffer.from(`{"x":1${"0".repeat(400)}.5}`), NOT_FINITE, "json", "400 integer digits and a fraction");
  accepted(t, mpMap1("x", [0xca, 0x3f, 0xc0, 0, 0]), { x: 1.5 }, "msgpack", "float32 1.5");
  accepted(t, mpMap1("x", [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0]), { x: -0 }, "msgpack", "float64 -0");
  accepted(t, Buffer.from('{"x":1e-400,"y":1.7976931348623157e308,"z":0.1e309}'), { x: 0, y: Number.MAX_VALUE, z: 1e308 }, "json", "underflow to 0 and the largest doubles");
  accepted(t, Buffer.from('{"x":1e-7,"y":2.5E+3}'), { x: 1e-7, y: 2500 }, "json", "ordinary exponents");
  for (const f of FORMATS) {
    const back = decodeFrame(encodeValue({ a: NaN, b: [Infinity] }, f)).value;
    t.same(back, { a: null, b: [null] }, `${f}: non-finite numbers are written as null`);
  }
  t.equal(Buffer.from(encodeValue({ x: 2 ** 60, y: 1e21 }, "json")).toString(), '{"x":1.152921504606847e+18,"y":1e+21}', "integral doubles beyond 2^53 keep an exponent in JSON");
  t.equal(hex(encodeValue({ x: 2 ** 60 }, "msgpack")), "81a178cb43b0000000000000", "and are float64 in msgpack");
});

t.test("msgpack bin and ext are refused (Document type not supported)", async (t) => {
  const UNSUPPORTED = /Document type not supported\./;
  const cases: [string, number[]][] = [
    ["bin8", [0xc4, 0x01, 0x61]],
    ["bin16", [0xc5, 0x00, 0x01, 0x61]],
    ["bin32", [0xc6, 0x00, 0x00, 0x00, 0x01, 0x61]],
    ["fixext1", [0xd4, 0x01, 0x00]],
    ["fixext2", [0xd5, 0x01, 0x00, 0x00]],
    ["fixext4 (timestamp 32)", [0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]],
    ["fixext8 (timestamp 64)", [0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 1]],
    ["fixext16", [0xd8, 0x01, ...new Array<number>(16).fill(0)]],
    ["ext8", [0xc7, 0x01, 0x05, 0x00]],
    ["ext8 (timestamp 96)", [0xc7, 0x0c, 0xff, ...new Array<number>(12).fill(0)]],
    ["ext16", [0xc8, 0x00, 0x01, 0x05, 0x00]],
    ["ext32", [0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00]],
  ];
  for (const [what, value] of cases) {
    refused(t, mpMap1("v", value), UNSUPPORTED, "msgpack", what);
    refused(t, mpMap1("v", [0x91, 0x81, 0xa1, 0x78, ...value]), UNSUPPORTED, "msgpack", `${what}, nested`);
  }
  refused(t, new Encoder().encode({ when: new Date(0) }), UNSUPPORTED, "msgpack", "a Date from @msgpack/msgpack (timestamp ext)");
  refused(t, new Encoder().encode({ blob: new Uint8Array([1, 2]) }), UNSUPPORTED, "msgpack", "a Uint8Array from @msgpack/msgpack (bin)");
});

t.test(`nesting: ${MAX_DEPTH} levels accepted, ${MAX_DEPTH + 1} refused, hostile depths cheap`, async (t) => {
  const TOO_DEEP = /nested too deeply/;
  // The top-level map is level 1; {"a": [[...]]} with k arrays has k + 1 levels.
  const nest = (k: number): Record<string, unknown> => {
    let v: unknown = 1;
    for (let i = 0; i < k; i++) v = [v];
    return { a: v };
  };
  const mp = (k: number): Uint8Array => cat([0x81, 0xa1, 0x61], new Array<number>(k).fill(0x91), [0x01]);
  const js = (k: number, extra = ""): Uint8Array => Buffer.from(`{${extra}"a":${"[".repeat(k)}1${"]".repeat(k)}}`);
  accepted(t, mp(MAX_DEPTH - 1), nest(MAX_DEPTH - 1), "msgpack", "msgpack, 128 levels");
  refused(t, mp(MAX_DEPTH), TOO_DEEP, "msgpack", "msgpack, 129 levels");
  accepted(t, js(MAX_DEPTH - 1), nest(MAX_DEPTH - 1), "json", "JSON, 128 levels");
  refused(t, js(MAX_DEPTH), TOO_DEEP, "json", "JSON, 129 levels");
  accepted(t, js(MAX_DEPTH - 1, '"n":1234567890123456789,'), { n: 1234567890123456789n, ...nest(MAX_DEPTH - 1) }, "json", "JSON exact parser, 128 levels");
  refused(t, js(MAX_DEPTH, '"n":1234567890123456789,'), TOO_DEEP, "json", "JSON exact parser, 129 levels");
  // maps count as levels too
  const maps = (k: number): Uint8Array => cat(new Array<number>(k).fill(0).flatMap(() => [0x81, 0xa1, 0x6b]), [0xc0]);
  t.notOk(outcome(maps(MAX_DEPTH)) instanceof CodecError, "128 nested maps accepted");
  refused(t, maps(MAX_DEPTH + 1), TOO_DEEP, "msgpack", "129 nested maps");
  refused(t, Buffer.from(`{"k":${'{"k":'.repeat(200)}1${"}".repeat(201)}`), TOO_DEEP, "json", "201 nested JSON objects");
  // Hostile: a megabyte of openers is refused quickly and without a stack overflow.
  const t0 = performance.now();
  refused(t, cat([0x81, 0xa1, 0x61], new Uint8Array(1 << 20).fill(0x91)), TOO_DEEP, "msgpack", "1 MiB of msgpack fixarray headers");
  refused(t, Buffer.from(`{"a":${"[".repeat(1 << 20)}`), TOO_DEEP, "json", "1 MiB of [");
  t.ok(performance.now() - t0 < 1000, "hostile nesting refused in under a second");
  // What decodeFrame accepts at the limit, encodeValue writes (the reply adds a level or two).
  for (const f of FORMATS) {
    const reply = { status: 200, body: decodeFrame(mp(MAX_DEPTH - 1)).value };
    t.ok(encodeValue(reply, f).length > 0, `${f}: a reply holding a 128-level body encodes`);
  }
});

t.test("duplicate keys: the last value wins; __proto__ is an ordinary key", async (t) => {
  accepted(t, bytes(0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02), { a: 2 }, "msgpack", "msgpack duplicate key");
  accepted(t, Buffer.from('{"a":1,"a":2}'), { a: 2 }, "json", "JSON duplicate key");
  accepted(t, Buffer.from('{"n":1234567890123456789,"a":1,"a":2}'), { n: 1234567890123456789n, a: 2 }, "json", "JSON duplicate key, exact parser");
  const protoFrames: [Uint8Array, Format][] = [
    [cat([0x81], mpStr([...Buffer.from("__proto__")]), [0x81, 0xa1, 0x78, 0x01]), "msgpack"],
    [Buffer.from('{"__proto__":{"x":1}}'), "json"],
    [Buffer.from('{"n":1234567890123456789,"__proto__":{"x":1}}'), "json"],
  ];
  for (const [frame, f] of protoFrames) {
    const v = decodeFrame(frame).value as Record<string, unknown>;
    t.equal(Object.getPrototypeOf(v), Object.prototype, `${f}: prototype untouched`);
    t.ok(Object.prototype.hasOwnProperty.call(v, "__proto__"), `${f}: __proto__ is an own key`);
    t.same(Object.getOwnPropertyDescriptor(v, "__proto__")?.value, { x: 1 }, `${f}: with its value`);
    for (const g of FORMATS) {
      const back = decodeFrame(encodeValue(v, g)).value as Record<string, unknown>;
      t.same(Object.getOwnPropertyDescriptor(back, "__proto__")?.value, { x: 1 }, `${f} → ${g}: __proto__ survives re-encoding`);
    }
  }
});

// ---- encodeValue outside the decoded model ---------------------------------------------------------

t.test("encodeValue: undefined, unsupported types, bigints beyond int64, cycles", async (t) => {
  for (const f of FORMATS) {
    t.same(decodeFrame(encodeValue({ a: undefined, b: [undefined, 1] }, f)).value, { b: [null, 1] }, `${f}: undefined skipped in maps, null in arrays`);
    t.equal(encodedSize({ a: undefined, b: [undefined, 1] }, f), encodeValue({ a: undefined, b: [undefined, 1] }, f).length, `${f}: encodedSize agrees`);
    for (const [what, bad] of [["a Uint8Array", new Uint8Array(1)], ["a Date", new Date(0)], ["a Map", new Map()], ["a function", () => 1], ["a symbol", Symbol("s")]] as const) {
      t.throws(() => encodeValue({ x: bad }, f), TypeError, `${f}: ${what} is a TypeError`);
      t.throws(() => encodedSize({ x: bad }, f), TypeError, `${f}: encodedSize of ${what} is a TypeError`);
    }
    t.throws(() => encodeValue({ x: INT64_MAX + 1n }, f), RangeError, `${f}: 2^63 bigint is a RangeError`);
    t.throws(() => encodeValue({ x: INT64_MIN - 1n }, f), RangeError, `${f}: -2^63-1 bigint is a RangeError`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    t.throws(() => encodeValue(cyclic, f), RangeError, `${f}: a cycle is a RangeError, not a stack overflow`);
    // A failed encode leaves the encoder usable.
    t.same(decodeFrame(encodeValue({ ok: true }, f)).value, { ok: true }, `${f}: encoder fine after a failure`);
  }
  // Large values: the reused buffer grows and is given back.
  const big = { s: "x".repeat(3 << 20), t: "é".repeat(70000) };
  for (const f of FORMATS) {
    const frame = encodeValue(big, f);
    t.equal(frame.length, encodedSize(big, f), `${f}: 3 MiB value size`);
    t.same(decodeFrame(frame).value, big, `${f}: 3 MiB value round trip`);
  }
  t.equal(hex(encodeValue({}, "msgpack")), "80");
  t.equal(Buffer.from(encodeValue({}, "json")).toString(), "{}");
});

// ---- random, mutated and truncated frames --------------------------------------------------------

let slowest = 0;
/** decodeFrame on a hostile frame: a value (which must re-encode and read back) or a 400 CodecError. */
function survive(frame: Uint8Array): "ok" | "refused" {
  const t0 = performance.now();
  const got = outcome(frame);
  slowest = Math.max(slowest, performance.now() - t0);
  if (got instanceof CodecError) return "refused";
  for (const f of FORMATS) deepStrictEqual(decodeFrame(encodeValue(got.value, f)).value, got.value);
  return "ok";
}

const validFrame = fc.tuple(withBig.map, fc.constantFrom(...FORMATS)).map(([v, f]) => encodeValue(v, f));
type Mutation = { kind: "flip" | "insert" | "delete" | "set"; at: number; byte: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("flip" as const, "insert" as const, "delete" as const, "set" as const),
  at: fc.nat(),
  byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39, 0x65, 0x2d, 0x80, 0xc1, 0xcf, 0xd3, 0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xff)),
});
function mutate(frame: Uint8Array, ms: Mutation[]): Uint8Array {
  const b = [...frame];
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === "insert" ? 1 : 0));
    if (m.kind === "insert") b.splice(at, 0, m.byte);
    else if (b.length === 0) continue;
    else if (m.kind === "delete") b.splice(at, 1);
    else if (m.kind === "flip") b[at] = b[at]! ^ (1 << (m.byte & 7));
    else b[at] = m.byte;
  }
  return Uint8Array.from(b);
}

t.test("random bytes: a value or a 400, nothing else", async (t) => {
  const seen = { ok: 0, refused: 0 };
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.tuple(fc.constantFrom(0x80, 0x81, 0x82, 0x8f, 0xde, 0xdf, 0x7b, 0x20), fc.uint8Array({ maxLength: 64 })).map(([h, rest]) => cat([h], rest)),
        fc.string({ unit: fc.constantFrom(..."{}[]\":,0123456789-+.eE \\ntrufalse\u00e9"), maxLength: 40 }).map((s) => Buffer.from("{" + s)),
      ),
      (frame) => {
        seen[survive(frame)]++;
      },
    ),
    { numRuns: 3000 },
  );
  t.ok(seen.refused > 0, `refused ${seen.refused} of 3000`);
  t.pass(`accepted ${seen.ok} of 3000 random frames, every one re-encodes`);
});

t.test("mutated valid frames: a value or a 400, nothing else", async (t) => {
  const seen = { ok: 0, refused: 0 };
  fc.assert(
    fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, ms) => {
      seen[survive(mutate(frame, ms))]++;
    }),
    { numRuns: 3000 },
  );
  t.ok(seen.ok > 0 && seen.refused > 0, `accepted ${seen.ok}, refused ${seen.refused} of 3000 mutated frames`);
});

t.test("every truncation of a valid frame is refused with a 400", async (t) => {
  let prefixes = 0;
  const smallFrame = validFrame.filter((f) => f.length <= 400);
  fc.assert(
    fc.property(smallFrame, (frame) => {
      for (let n = 0; n < frame.length; n++) {
        prefixes++;
        const got = outcome(frame.subarray(0, n));
        if (!(got instanceof CodecError)) throw new Error(`prefix ${n} of ${hex(frame)} accepted`);
      }
    }),
    { numRuns: 300 },
  );
  t.pass(`${prefixes} strict prefixes of 300 frames refused`);
  t.ok(slowest < 250, `slowest hostile decode ${slowest.toFixed(2)} ms`);
});

// ---- negotiateAccept -------------------------------------------------------------------------------

t.test("negotiateAccept", async (t) => {
  const cases: [string | undefined, Format | undefined][] = [
    [undefined, "msgpack"],
    ["", "msgpack"],
    ["   ", "msgpack"],
    [" , ", "msgpack"],
    ["*/*", "msgpack"],
    ["*", "msgpack"],
    ["application/*", "msgpack"],
    ["application/json", "json"],
    ["APPLICATION/JSON", "json"],
    [" application/json ; charset=utf-8 ", "json"],
    ["application/x-msgpack", "msgpack"],
    ["application/msgpack", "msgpack"],
    ["application/messagepack", "msgpack"],
    ["application/x-messagepack", "msgpack"],
    ["text/plain", undefined],
    ["application/xml", undefined],
    ["text/html, application/xhtml+xml", undefined],
    ["text/*", undefined],
    ["application/json;q=0", undefined],
    ["*/*;q=0", undefined],
    ["application/json, application/x-msgpack", "json"], // equal q: the earlier entry
    ["application/x-msgpack, application/json", "msgpack"],
    ["application/json;q=0.5, application/x-msgpack;q=0.9", "msgpack"],
    ["application/x-msgpack;q=0.4, application/json;q=0.8", "json"],
    ["application/json, */*", "json"], // a named type beats the wildcard at equal q
    ["application/json, text/plain, */*", "json"],
    ["*/*, application/json", "json"],
    ["*/*;q=0.1, application/json", "json"],
    ["application/json;q=0.5, */*", "msgpack"], // msgpack via */* at q=1
    ["application/json;q=0, */*", "msgpack"], // the specific q=0 excludes JSON despite */*
    ["application/x-msgpack;q=0, */*", "json"],
    ["application/x-msgpack;q=0, application/*;q=0.3", "json"],
    ["application/*;q=0.2, application/json;q=0.1", "msgpack"],
    ["text/plain;q=1, application/json;q=0.001", "json"],
    ["application/json; Q = 0.7 , application/msgpack ; q=0.7", "json"],
    ["application/json;q=abc", undefined], // a malformed q voids its entry
    ["application/json;q=2, application/x-msgpack;q=0.1", "msgpack"], // q above 1 is malformed
    ["application/json;q=-1", undefined],
    ["application/json;level=1;q=0.9, application/msgpack;q=0.8", "json"],
    ["application/json;q=0.5, application/json;q=0.9, application/x-msgpack;q=0.8", "json"], // the best q of a type
  ];
  for (const [accept, want] of cases) t.equal(negotiateAccept(accept), want, `${JSON.stringify(accept)} → ${String(want)}`);
});

// ---- encodedSize -----------------------------------------------------------------------------------

t.test("encodedSize equals the encoded length, in both formats", async (t) => {
  // Besides decoded values: lone surrogates (U+FFFD in msgpack, \\udxxx in JSON), long strings.
  const lone = fc.string({ unit: fc.constantFrom("\ud800", "\udfff", "a", "é", "\u{1F600}", "\u0001", '"', "\\"), maxLength: 300 });
  const sized = fc.oneof(withBig.map, lone.map((s) => ({ [s]: s })), fc.array(lone, { maxLength: 5 }).map((a) => ({ a })));
  fc.assert(
    fc.property(sized, (v) => {
      for (const f of FORMATS) {
        const n = encodedSize(v, f);
        const len = encodeValue(v, f).length;
        if (n !== len) throw new Error(`${f}: encodedSize ${n}, encoded ${len}`);
      }
      if (!hasUnsafeIntegral(v) && !hasBigint(v)) {
        const n = Buffer.byteLength(JSON.stringify(v));
        if (encodedSize(v, "json") !== n) throw new Error(`json: encodedSize ${encodedSize(v, "json")}, JSON.stringify ${n}`);
      }
    }),
    { numRuns: 2000 },
  );
  t.pass("2000 values measured exactly");
  // A post body right at a limit: the size is the one of the compact encoding.
  const body = [{ ttl: 300, body: "x".repeat(1000) }];
  t.equal(encodedSize(body, "json"), Buffer.byteLength(JSON.stringify(body)), "json: the JSON.stringify length");
  t.equal(encodedSize(body, "msgpack"), refEncoder.encode(body).length, "msgpack: the @msgpack/msgpack length");
  for (const f of FORMATS) t.equal(encodedSize("\ud800", f), encodeValue("\ud800", f).length, `${f}: lone surrogate as a top-level string`);
});
