#!/usr/bin/env node
// `npm test`: runs tap (config: package.json "tap") with the raw TAP reporter, streams its output
// to the console unchanged, and prints as its LAST line exactly `N passed, N failed`.
//
// What N counts: assertions (test points), as tap itself counts them. tap's root process ends
// its TAP with a comment like `# { total: 174, pass: 166, fail: 5, todo: 1, skip: 2 }`, which
// tallies every assertion in every test file (a subtest's own summary point is not counted again;
// a test file that crashes before asserting anything counts as one failure). We print
// `<pass> passed, <fail> failed`; skipped and todo assertions are in neither number (they are
// listed on the line before). If tap exits non-zero but reported no failed assertion (a plan
// mismatch, a bail-out, a crash of the runner itself, a missing summary), we report at least
// `1 failed`, so the last line never says "0 failed" for a failing run. The exit code is non-zero
// whenever tap's is or any assertion failed.
//
// Extra arguments go to tap: `npm test -- test/zmtp`, `npm test -- test/socket/router-dealer.test.ts`,
// `npm test -- --grep=dealer test/socket`. A directory argument is expanded here to the
// `*.test.ts` files under it (tap itself would run every file in a directory, helper modules
// included). The reporter is always `tap` (raw TAP), because that is what carries the counts.

import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** tap's CLI script, run with this same node (no PATH or shell lookup). */
function tapBin() {
  const pkgPath = require.resolve("tap/package.json", { paths: [root] });
  const pkg = require(pkgPath);
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin.tap;
  return join(dirname(pkgPath), bin);
}

function testFilesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFilesUnder(p));
    else if (entry.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

/** Directory arguments become the *.test.ts files under them; everything else is passed as is. */
function expandArgs(args) {
  const out = [];
  for (const arg of args) {
    let isDir = false;
    if (!arg.startsWith("-")) {
      try {
        isDir = statSync(resolve(root, arg)).isDirectory();
      } catch {
        isDir = false;
      }
    }
    if (!isDir) {
      out.push(arg);
      continue;
    }
    const files = testFilesUnder(resolve(root, arg)).map((f) => relative(root, f));
    if (files.length === 0) {
      console.error(`scripts/test.mjs: no *.test.ts files under ${arg}`);
      console.log("0 passed, 1 failed");
      process.exit(1);
    }
    out.push(...files);
  }
  return out;
}

const args = [tapBin(), ...expandArgs(process.argv.slice(2)), "--reporter=tap"];
const child = spawn(process.execPath, args, {
  cwd: root,
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, FORCE_COLOR: "0" },
});

// Stream tap's output through untouched; keep the last root-level `# { total: ... }` comment.
let counts;
let partial = "";
const COUNTS = /^# \{ (total: \d+(?:, \w+: \d+)*) \}\s*$/;
const scan = (line) => {
  const m = COUNTS.exec(line);
  if (!m) return;
  counts = {};
  for (const kv of m[1].split(", ")) {
    const [k, v] = kv.split(": ");
    counts[k] = Number(v);
  }
};
child.stdout.setEncoding("utf8");
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  const lines = (partial + chunk).split("\n");
  partial = lines.pop();
  for (const line of lines) scan(line);
});

const forward = (sig) => () => child.kill(sig);
process.on("SIGINT", forward("SIGINT"));
process.on("SIGTERM", forward("SIGTERM"));

child.on("error", (err) => {
  console.error(`scripts/test.mjs: cannot run tap: ${err.message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
});

child.on("close", (code, signal) => {
  if (partial) scan(partial);
  const tapFailed = code !== 0;
  const passed = counts?.pass ?? 0;
  let failed = counts?.fail ?? 0;
  if (!counts) console.log("# scripts/test.mjs: tap printed no `# { total: ... }` summary");
  else {
    console.log(
      `# scripts/test.mjs: ${counts.total} assertions: ${passed} pass, ${failed} fail, ${counts.skip ?? 0} skip, ${counts.todo ?? 0} todo`,
    );
  }
  if (tapFailed && failed === 0) {
    console.log(`# scripts/test.mjs: tap exited with ${signal ?? `code ${code}`} but reported no failed assertion; counting 1 failure`);
    failed = 1;
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(tapFailed || failed > 0 ? 1 : 0);
});
