// A routing id for a log line: as text when it is printable UTF-8 (EventMQ's peers use uuid4
// strings), else `0x` + hex (libzmq's generated ids start with a zero byte).

import { Buffer, isUtf8 } from "node:buffer";

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]/;

export function displayId(id: Uint8Array): string {
  const b = Buffer.isBuffer(id) ? id : Buffer.from(id.buffer, id.byteOffset, id.byteLength);
  if (b.length > 0 && isUtf8(b)) {
    const s = b.toString("utf8");
    if (!UNPRINTABLE.test(s)) return s;
  }
  return "0x" + b.toString("hex");
}
