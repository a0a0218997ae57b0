// Endpoint strings: tcp://host:port, tcp://*:port, tcp://[::1]:port, ipc:///path (or ipc://relative),
// inproc://name (sockets of this process).
// Port 0 or * on bind asks the OS for an ephemeral port; the socket's lastEndpoint tells which.

export type Endpoint =
  | { transport: "tcp"; host: string | undefined; port: number; address: string }
  | { transport: "ipc"; path: string; address: string }
  | { transport: "inproc"; name: string; address: string };

/** Endpoints carried by node:net. */
export type NetEndpoint = Exclude<Endpoint, { transport: "inproc" }>;

export class EndpointError extends Error {
  readonly code = "EINVAL";
}

export function parseEndpoint(address: string, forBind: boolean): Endpoint {
  const m = /^([a-z]+):\/\/(.+)$/.exec(address);
  if (!m) throw new EndpointError(`invalid endpoint ${JSON.stringify(address)}: expected transport://address`);
  const [, transport, rest] = m as unknown as [string, string, string];
  if (transport === "ipc") return { transport, path: rest, address };
  if (transport === "inproc") return { transport, name: rest, address };
  if (transport !== "tcp") {
    throw new EndpointError(`unsupported transport ${JSON.stringify(transport)} in ${address} (tcp://, ipc:// and inproc:// are supported)`);
  }
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d+|\*)$/.exec(rest);
  if (!hp) throw new EndpointError(`invalid tcp endpoint ${JSON.stringify(address)}: expected tcp://host:port`);
  let host: string | undefined = hp[1]!;
  if (host.startsWith("[")) host = host.slice(1, -1);
  const portText = hp[2]!;
  const port = portText === "*" ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new EndpointError(`invalid port in ${address}`);
  if (host === "*") {
    if (!forBind) throw new EndpointError(`cannot connect to a wildcard host: ${address}`);
    host = undefined;
  }
  if (!forBind && port === 0) throw new EndpointError(`cannot connect to port ${portText}: ${address}`);
  return { transport: "tcp", host, port, address };
}

/** The address string for a bound tcp listener, as libzmq reports it (tcp://0.0.0.0:5555). */
export function tcpAddress(host: string, port: number): string {
  return host.includes(":") ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`;
}
