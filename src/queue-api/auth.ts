// Who may use the queue API. Every request's X-Auth-Token goes to a verifier; the default one
// checks a static token list (from --auth-tokens / EMQ_AUTH_TOKENS). No verifier means the API is
// open, which the broker says at start-up. A verifier may be async (a token service), and it sees
// the project and the peer so it can bind tokens to projects.

import { timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

export interface AuthRequest {
  /** The X-Auth-Token header, if any. */
  token: string | undefined;
  /** The X-Project-ID header, if any. */
  project: string | undefined;
  /** The peer's routing id (printable form), for logs and per-peer policies. */
  peer: string;
}

/** True to let the request through; false answers 401. Throwing answers 503. */
export type TokenVerifier = (request: AuthRequest) => boolean | Promise<boolean>;

/** A verifier that accepts exactly these tokens (compared in constant time), for any project. */
export function staticTokens(tokens: Iterable<string>): TokenVerifier {
  const known = [...tokens].filter((t) => t.length > 0).map((t) => Buffer.from(t, "utf8"));
  if (known.length === 0) throw new Error("staticTokens: the token list is empty (leave auth off instead)");
  return ({ token }) => {
    if (token === undefined) return false;
    const given = Buffer.from(token, "utf8");
    let ok = false;
    for (const k of known) if (k.length === given.length && timingSafeEqual(k, given)) ok = true;
    return ok;
  };
}

/** Splits a comma- or whitespace-separated token list (the CLI and env form). */
export function parseTokenList(text: string): string[] {
  return text.split(/[\s,]+/).filter((t) => t.length > 0);
}
