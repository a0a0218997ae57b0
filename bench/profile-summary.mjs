// Summarizes V8 .cpuprofile files (from `node --cpu-prof`, e.g. `node bench/run.mjs --profile`):
// the functions with the most self time, and self time per source file. Several files are added up.
//
//   node bench/profile-summary.mjs [--top=N] [--match=TEXT] FILE.cpuprofile...
//
//   --top=N       rows per table (default 25)
//   --match=TEXT  only count samples whose stack contains a frame from a file or function matching
//                 TEXT (e.g. --match=dist/ for time under emq's code)

import { readFileSync } from "node:fs";
import { basename } from "node:path";

let top = 25;
let match;
const files = [];
for (const a of process.argv.slice(2)) {
  if (a.startsWith("--top=")) top = Number(a.slice(6));
  else if (a.startsWith("--match=")) match = a.slice(8);
  else files.push(a);
}
if (files.length === 0) {
  console.error("usage: node bench/profile-summary.mjs [--top=N] [--match=TEXT] FILE.cpuprofile...");
  process.exit(2);
}

const shortUrl = (url) => {
  if (!url) return "";
  const u = url.replace(/^file:\/\//, "");
  const i = u.lastIndexOf("/dist/");
  if (i >= 0) return u.slice(i + 1);
  const j = u.lastIndexOf("/bench/");
  if (j >= 0) return u.slice(j + 1);
  return u.startsWith("node:") ? u : basename(u);
};

const byFunction = new Map();
const byFile = new Map();
let total = 0;

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const matches = new Map(); // node id -> stack contains a matching frame
  const stackMatches = (id) => {
    if (match === undefined) return true;
    if (matches.has(id)) return matches.get(id);
    const n = nodes.get(id);
    const cf = n.callFrame;
    let m = cf.url.includes(match) || cf.functionName.includes(match);
    if (!m && parent.has(id)) m = stackMatches(parent.get(id));
    matches.set(id, m);
    return m;
  };
  const { samples, timeDeltas } = prof;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the gap after it (next delta) to it.
    const dt = (timeDeltas[i + 1] ?? 0) / 1000; // ms
    const id = samples[i];
    if (!stackMatches(id)) continue;
    const cf = nodes.get(id).callFrame;
    const fn = cf.functionName || "(anonymous)";
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : "";
    const key = `${fn}\t${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
    const fileKey = cf.url ? shortUrl(cf.url) : fn.startsWith("(") ? fn : "(native)";
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + dt);
    total += dt;
  }
}

const print = (title, map, cols) => {
  console.log(`\n${title}`);
  const rows = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, ms] of rows) {
    const parts = k.split("\t");
    const pct = ((100 * ms) / total).toFixed(1).padStart(5);
    console.log(`${pct}%  ${ms.toFixed(0).padStart(7)} ms  ${parts[0].padEnd(cols)} ${parts[1] ?? ""}`);
  }
};

console.log(`${files.length} profile(s), ${total.toFixed(0)} ms sampled${match ? ` (stacks matching ${JSON.stringify(match)})` : ""}`);
print("self time by function", byFunction, 40);
print("self time by file", byFile, 40);
