// Listening and dialing over node:net (which Node, Bun and Deno all provide) for tcp:// and ipc://.

import * as net from "node:net";
import { lstat, unlink } from "node:fs/promises";
import { tcpAddress, type NetEndpoint } from "./endpoint.js";

export interface Listener {
  /** The resolved address (ephemeral port filled in). */
  readonly address: string;
  close(): Promise<void>;
}

/** libzmq writes Linux abstract-namespace ipc paths as ipc://@name; node:net wants a leading NUL. */
const socketPath = (path: string): string => (path.startsWith("@") ? `\0${path.slice(1)}` : path);

export async function listen(ep: NetEndpoint, backlog: number, onSocket: (sock: net.Socket) => void): Promise<Listener> {
  const server = net.createServer({ noDelay: true } as net.ServerOpts, onSocket);
  if (ep.transport === "ipc" && !ep.path.startsWith("@")) await removeStaleIpc(ep.path);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (ep.transport === "ipc") server.listen({ path: socketPath(ep.path), backlog }, done);
    else server.listen({ host: ep.host ?? "0.0.0.0", port: ep.port, backlog }, done);
  });
  server.on("error", () => {}); // accept errors surface on the sockets; the listener keeps going
  let address: string;
  if (ep.transport === "ipc") {
    address = `ipc://${ep.path}`;
  } else {
    const a = server.address() as net.AddressInfo;
    address = tcpAddress(a.address, a.port);
  }
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

/** Starts a connection attempt; the socket emits "connect" or "error"/"close". */
export function dial(ep: NetEndpoint, timeout: number): net.Socket {
  const sock =
    ep.transport === "ipc"
      ? net.createConnection({ path: socketPath(ep.path) })
      : net.createConnection({ host: ep.host!, port: ep.port, noDelay: true } as net.NetConnectOpts);
  if (timeout > 0) {
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`connect to ${ep.address} timed out after ${timeout} ms`), { code: "ETIMEDOUT" });
      sock.destroy(err);
    }, timeout);
    timer.unref?.();
    sock.once("connect", () => clearTimeout(timer));
    sock.once("close", () => clearTimeout(timer));
  }
  return sock;
}

/** libzmq removes a leftover ipc socket file on bind; a live listener there would still answer. */
async function removeStaleIpc(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) return;
    const alive = await new Promise<boolean>((resolve) => {
      const probe = net.createConnection({ path });
      probe.once("connect", () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", () => resolve(false));
    });
    if (!alive) await unlink(path);
  } catch {
    // nothing there
  }
}
