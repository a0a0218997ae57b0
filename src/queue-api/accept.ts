// negotiateAccept: the reply format an Accept header asks for. Separate from codec.ts: it reads a
// header, not a payload.

import type { Format } from "./codec-rules.js";

const MEDIA: Record<string, Format> = {
  "application/json": "json",
  "application/x-msgpack": "msgpack",
  "application/msgpack": "msgpack",
  "application/messagepack": "msgpack",
  "application/x-messagepack": "msgpack",
};

/**
 * Accept header negotiation. No header, an empty one, `*\/*` or `application/*` → msgpack. Each
 * format takes the q of the most specific range that names it (a type beats `application/*`,
 * which beats `*\/*`); q=0 excludes. The winner has the highest q, then the more specific range,
 * then the earlier entry, then msgpack. An entry with a malformed q is ignored. Nothing acceptable
 * → undefined (the server answers 406).
 */
export function negotiateAccept(accept: string | undefined): Format | undefined {
  if (accept === undefined) return "msgpack";
  // A client sends the same Accept on every request: remember the last few answers.
  const known = seen.get(accept);
  if (known !== undefined || seen.has(accept)) return known;
  const f = negotiate(accept);
  if (seen.size >= SEEN_MAX) seen.clear();
  seen.set(accept, f);
  return f;
}

const SEEN_MAX = 64;
const seen = new Map<string, Format | undefined>();

function negotiate(accept: string): Format | undefined {
  // best[format] = [q, specificity, position]
  const best: Partial<Record<Format, [number, number, number]>> = {};
  let entries = 0;
  const parts = accept.split(",");
  for (let position = 0; position < parts.length; position++) {
    const params = parts[position]!.split(";");
    const type = params[0]!.trim().toLowerCase();
    if (type === "") continue;
    entries++;
    let q = 1;
    for (let i = 1; i < params.length; i++) {
      const eq = params[i]!.indexOf("=");
      if (eq < 0 || params[i]!.slice(0, eq).trim().toLowerCase() !== "q") continue;
      const text = params[i]!.slice(eq + 1).trim();
      q = /^\d+(\.\d*)?$|^\.\d+$/.test(text) ? Number(text) : NaN;
    }
    if (!(q >= 0 && q <= 1)) continue;
    let formats: Format[];
    let specificity: number;
    const exact = MEDIA[type];
    if (exact !== undefined) {
      formats = [exact];
      specificity = 3;
    } else if (type === "application/*") {
      formats = ["msgpack", "json"];
      specificity = 2;
    } else if (type === "*/*" || type === "*") {
      formats = ["msgpack", "json"];
      specificity = 1;
    } else continue;
    for (const f of formats) {
      const cur = best[f];
      if (cur === undefined || specificity > cur[1] || (specificity === cur[1] && q > cur[0])) best[f] = [q, specificity, position];
    }
  }
  if (entries === 0) return "msgpack";
  let winner: Format | undefined;
  for (const f of ["msgpack", "json"] as const) {
    const c = best[f];
    if (c === undefined || c[0] === 0) continue;
    const w = winner === undefined ? undefined : best[winner]!;
    if (w === undefined || c[0] > w[0] || (c[0] === w[0] && (c[1] > w[1] || (c[1] === w[1] && c[2] < w[2])))) winner = f;
  }
  return winner;
}
