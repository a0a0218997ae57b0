// Runs the conformance table (cases.ts) without a test framework, for Bun and Deno (Node runs the
// same table through tap: conformance.test.ts). Prints `ok - name` or `not ok - name: error` per
// case, then `N passed, N failed` as the last line; exits 1 if any case failed.
//
//   bun test/conformance/run.ts
//   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --sloppy-imports test/conformance/run.ts
//     (--allow-write for the queue API journal; --allow-run for its stale-lock check, process.kill(pid, 0))
//   node --experimental-strip-types test/conformance/run.ts   (Node >= 22.6 only; not needed on Node)
//
// An optional argument filters cases by substring: `bun test/conformance/run.ts fake-peer`.

import process from "node:process";
import { CASE_TIMEOUT_MS, cases, withTimeout } from "./cases.js";

const filter = process.argv[2];
const selected = filter ? cases.filter((c) => c.name.includes(filter)) : cases;
const runtime =
  typeof (globalThis as { Deno?: { version: { deno: string } } }).Deno !== "undefined"
    ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
    : typeof (globalThis as { Bun?: { version: string } }).Bun !== "undefined"
      ? `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
      : `node ${process.version}`;

console.log(`# emq conformance on ${runtime}: ${selected.length} cases`);
let passed = 0;
let failed = 0;
for (const c of selected) {
  const start = Date.now();
  try {
    await withTimeout(c.run(), CASE_TIMEOUT_MS, c.name);
    passed++;
    console.log(`ok - ${c.name} (${Date.now() - start} ms)`);
  } catch (err) {
    failed++;
    const msg = err instanceof Error ? err.message : String(err);
    console.log(`not ok - ${c.name}: ${msg.replace(/\s*\n\s*/g, " ")}`);
    if (err instanceof Error && err.stack && process.env.CONFORMANCE_STACK) console.log(err.stack);
  }
}
if (selected.length === 0) {
  failed++;
  console.log(`not ok - no case matches ${JSON.stringify(filter)}`);
}
console.log(`${passed} passed, ${failed} failed`);
// Exit explicitly: a case that failed mid-way may leave a socket or timer behind.
process.exit(failed > 0 ? 1 : 0);
