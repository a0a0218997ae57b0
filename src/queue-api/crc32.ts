// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), slicing by 8: the journal's checksum.
// Its own module: a self-contained algorithm with nothing journal-specific in it.

const CRC_TABLE = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  // Table k gives the effect of byte n followed by k zero bytes, so 8 bytes fold in one step.
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
})();

/** Feeds bytes [start, end) into a running CRC state (start from 0xffffffff; finish with crcFinish). */
export function crcUpdate(state: number, b: Uint8Array, start: number, end: number): number {
  const t = CRC_TABLE;
  let c = state | 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + b[i + 4]!]! ^
      t[512 + b[i + 5]!]! ^
      t[256 + b[i + 6]!]! ^
      t[b[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

export const crcFinish = (state: number): number => (state ^ 0xffffffff) >>> 0;

/** CRC-32 of bytes [start, end) of `b`. */
export function crc32(b: Uint8Array, start = 0, end = b.length): number {
  return crcFinish(crcUpdate(0xffffffff, b, start, end));
}
