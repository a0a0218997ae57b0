// Handler names and lookup order, handlers collected from module exports, loading a handlers module
// (ESM, CommonJS, TypeScript when the runtime can import it, and the errors), and runJob's outcomes.

import t from "tap";
import fc from "fast-check";
import { fileURLToPath } from "node:url";
import { HandlerRegistry, candidateNames, handlersFromModule, type Handler } from "../../src/worker/handlers.js";
import { loadHandlers } from "../../src/worker/load-handlers.js";
import { runJob, thrownFailure } from "../../src/worker/run-job.js";
import { within } from "../socket/fake-peer.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const ctx = { msgid: "m", queue: "q", headers: {}, job: { callable: "f" } };

t.test("candidate names: path.callable, path:callable, callable; only callable without a path", async (t) => {
  t.same(candidateNames({ path: "a.b", callable: "c" }), ["a.b.c", "a.b:c", "c"]);
  t.same(candidateNames({ path: "mod:Cls", callable: "m" }), ["mod:Cls.m", "mod:Cls:m", "m"]);
  t.same(candidateNames({ callable: "c" }), ["c"]);
  t.same(candidateNames({ path: "", callable: "c" }), ["c"]);
});

t.test("lookup takes the most specific registered name (property)", async (t) => {
  const names = fc.stringMatching(/^[a-z]{1,3}$/);
  fc.assert(
    fc.property(names, names, fc.subarray([0, 1, 2]), (path, callable, present) => {
      const reg = new HandlerRegistry();
      const cands = candidateNames({ path, callable });
      for (const i of present) reg.add(cands[i]!, () => i);
      const hit = reg.lookup({ path, callable });
      if (present.length === 0) return hit === undefined;
      const want = Math.min(...present);
      return hit?.name === cands[want] && hit.fn([], {}, { ...ctx, signal: new AbortController().signal }) === want;
    }),
  );
});

t.test("handlersFromModule: exported functions, the handlers object (wins), a CommonJS default", async (t) => {
  const f = () => 1;
  const g = () => 2;
  const h = () => 3;
  const got = handlersFromModule({ f, g, value: 5, handlers: { g: h, "a.b": f, nope: 1 } });
  t.same([...got.keys()].sort(), ["a.b", "f", "g"]);
  t.equal(got.get("g"), h, "the handlers object wins over a same-named export");
  const cjs = handlersFromModule({ default: { twice: f, handlers: { "m.x": g } } });
  t.same([...cjs.keys()].sort(), ["m.x", "twice"]);
  t.equal(handlersFromModule({ default: () => 1 }).size, 0, "a default function has no name to go by");
});

t.test("loadHandlers: an ES module, a CommonJS module, and TypeScript when the runtime imports it", async (t) => {
  const esm = await loadHandlers("handlers.mjs", fixtures);
  t.same([...esm.keys()].sort(), ["add", "jobs_demo.touch", "nap"]);
  t.equal(esm.get("add")!([2, 3], {}, { ...ctx, signal: new AbortController().signal }), 5);
  const cjs = await loadHandlers(`${fixtures}common.cjs`);
  t.same([...cjs.keys()].sort(), ["m.f", "twice"]);
  // tap runs this file with a TypeScript loader, so .ts imports work here as under Bun and Deno;
  // test/worker/cli.test.ts checks what plain Node 20 says instead.
  const ts = await loadHandlers("typed.ts", fixtures);
  t.equal(ts.get("greet")!(["you"], {}, { ...ctx, signal: new AbortController().signal }), "hello you");
});

t.test("loadHandlers errors: missing file, nothing exported, a module that throws", async (t) => {
  await t.rejects(loadHandlers("nope.mjs", fixtures), { code: "EINVAL", message: /handlers module nope\.mjs not found/ });
  await t.rejects(loadHandlers("no-handlers.mjs", fixtures), { code: "EINVAL", message: /exports no functions/ });
  await t.rejects(loadHandlers("broken.mjs", fixtures), { code: "EINVAL", message: /cannot load handlers module broken\.mjs: this module is broken on purpose/ });
});

t.test("runJob: value, undefined as null, sync and async throws, thrown non-errors", async (t) => {
  const run = (fn: Handler, seconds = 5) => within(runJob(fn, [1], { k: 2 }, ctx, seconds).result, 2000, "the result");
  t.same(await run((a, k) => [a, k]), { ok: true, value: [[1], { k: 2 }] });
  t.same(await run(() => undefined), { ok: true, value: null });
  t.same(await run(async () => 7), { ok: true, value: 7 });
  t.same(await run(() => {
    throw new SyntaxError("bad");
  }), { ok: false, error: { code: "EJOBFAILED", message: "bad", name: "SyntaxError" } });
  t.same(await run(() => Promise.reject({ why: "x" })), { ok: false, error: { code: "EJOBFAILED", message: '{"why":"x"}' } });
  t.same(thrownFailure(undefined), { code: "EJOBFAILED", message: "undefined" });
  const r = runJob(() => new Promise(() => {}), [], {}, ctx, 0.05);
  t.same(await within(r.result, 2000, "timeout"), { ok: false, error: { code: "ETIMEDOUT", message: "the job ran past its timeout of 0.05 s" } });
});

t.test("runJob.cancel settles once, aborts the signal, and a later return changes nothing", async (t) => {
  let signal: AbortSignal | undefined;
  let finish!: (v: unknown) => void;
  const r = runJob((_a, _k, c) => {
    signal = c.signal;
    return new Promise((res) => (finish = res));
  }, [], {}, ctx, 60);
  r.cancel({ code: "ESHUTDOWN", message: "bye" });
  r.cancel({ code: "OTHER", message: "ignored" });
  t.same(await r.result, { ok: false, error: { code: "ESHUTDOWN", message: "bye" } });
  t.equal(signal?.aborted, true);
  finish("late");
  await within(r.handlerDone, 1000, "handlerDone");
  t.same(await r.result, { ok: false, error: { code: "ESHUTDOWN", message: "bye" } });
});
