// Frame flag bits and header layout (ZMTP 3.x): flags(1) + size(1, or 8 big-endian with LONG) + body.

export const MORE = 0x01;
export const LONG = 0x02;
export const COMMAND = 0x04;

/** Largest body that still fits the 1-octet short size. */
export const SHORT_MAX = 255;

/** Largest size we accept from the wire regardless of options: lengths above 2^53 cannot be
 * represented exactly in a JS number, and no runtime can allocate them anyway. */
export const MAX_SAFE_SIZE = Number.MAX_SAFE_INTEGER;

export const headerSize = (bodyLength: number): number => (bodyLength > SHORT_MAX ? 9 : 2);

/** Writes a frame header at `off`; returns the offset just past it. Encoders use LONG only above
 * 255 bytes, as libzmq does; decoders accept LONG for any size. */
export function writeHeader(buf: Uint8Array, off: number, flags: number, length: number): number {
  if (length > SHORT_MAX) {
    buf[off] = flags | LONG;
    const hi = Math.floor(length / 0x1_0000_0000);
    const lo = length >>> 0;
    buf[off + 1] = hi >>> 24;
    buf[off + 2] = (hi >>> 16) & 0xff;
    buf[off + 3] = (hi >>> 8) & 0xff;
    buf[off + 4] = hi & 0xff;
    buf[off + 5] = lo >>> 24;
    buf[off + 6] = (lo >>> 16) & 0xff;
    buf[off + 7] = (lo >>> 8) & 0xff;
    buf[off + 8] = lo & 0xff;
    return off + 9;
  }
  buf[off] = flags & ~LONG;
  buf[off + 1] = length;
  return off + 2;
}

/** Encodes one whole frame into a fresh buffer (used for commands and tests, not the hot path). */
export function encodeFrame(flags: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(headerSize(body.length) + body.length);
  const off = writeHeader(out, 0, flags, body.length);
  out.set(body, off);
  return out;
}

/** Encodes a whole multipart message (frames[start..], at least one) into one buffer, so that it
 * can be written to many connections without encoding it again. */
export function encodeMessage(frames: readonly Uint8Array[], start = 0): Uint8Array {
  const last = frames.length - 1;
  if (start > last) throw new RangeError("a message needs at least one frame after `start`");
  let size = 0;
  for (let i = start; i <= last; i++) size += headerSize(frames[i]!.length) + frames[i]!.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (let i = start; i <= last; i++) {
    const body = frames[i]!;
    off = writeHeader(out, off, i < last ? MORE : 0, body.length);
    out.set(body, off);
    off += body.length;
  }
  return out;
}
