// JSON written the way Python's json.dumps writes it by default: ", " and ": " separators and
// every non-ASCII character escaped (ensure_ascii). EventMQ's peers parse any JSON, but writing
// theirs byte for byte keeps our frames identical to the reference's (spec/vectors/emqp.json)
// and is what the scheduler's job hash is computed over.

const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_ALL = /[\u007f-\uffff]/g;

function str(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters as Python does, except
  // that Python spells the control characters without a short form as \u00XX too, like JS.
  const j = JSON.stringify(s);
  return NON_ASCII.test(j) ? j.replace(NON_ASCII_ALL, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) : j;
}

export function pyJson(value: unknown, sortKeys = false): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "string":
      return str(value);
    case "number":
      if (Number.isNaN(value)) return "NaN";
      if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
      // Python's float repr switches to an exponent below 1e-4 (JS only below 1e-6) and writes
      // it with at least two digits: 1.5e-05.
      if (!Number.isInteger(value) && Math.abs(value) < 1e-4) return value.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "object": {
      if (Array.isArray(value)) return "[" + value.map((v) => pyJson(v, sortKeys)).join(", ") + "]";
      const toJSON = (value as { toJSON?: () => unknown }).toJSON;
      if (typeof toJSON === "function") return pyJson(toJSON.call(value), sortKeys);
      let keys = Object.keys(value).filter((k) => {
        const v = (value as Record<string, unknown>)[k];
        return v !== undefined && typeof v !== "function" && typeof v !== "symbol";
      });
      if (sortKeys) keys = keys.sort(); // Python sorts by code point, as JS's default sort does for BMP keys
      return "{" + keys.map((k) => str(k) + ": " + pyJson((value as Record<string, unknown>)[k], sortKeys)).join(", ") + "}";
    }
    default:
      throw new TypeError(`cannot encode a ${typeof value} as JSON`);
  }
}
