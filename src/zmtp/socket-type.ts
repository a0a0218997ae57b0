// Socket types and which pairs may talk (RFC 23/37 table; libzmq check_socket_type).

export type SocketType = "REQ" | "REP" | "DEALER" | "ROUTER" | "PUB" | "XPUB" | "SUB" | "XSUB" | "PUSH" | "PULL" | "PAIR";

export const SOCKET_TYPES: readonly SocketType[] = [
  "REQ", "REP", "DEALER", "ROUTER", "PUB", "XPUB", "SUB", "XSUB", "PUSH", "PULL", "PAIR",
];

const PEERS: Record<SocketType, readonly SocketType[]> = {
  REQ: ["REP", "ROUTER"],
  REP: ["REQ", "DEALER"],
  DEALER: ["REP", "DEALER", "ROUTER"],
  ROUTER: ["REQ", "DEALER", "ROUTER"],
  PUB: ["SUB", "XSUB"],
  XPUB: ["SUB", "XSUB"],
  SUB: ["PUB", "XPUB"],
  XSUB: ["PUB", "XPUB"],
  PUSH: ["PULL"],
  PULL: ["PUSH"],
  PAIR: ["PAIR"],
};

export const isSocketType = (s: string): s is SocketType => Object.hasOwn(PEERS, s);

export const compatible = (ours: SocketType, theirs: string): boolean =>
  isSocketType(theirs) && PEERS[ours].includes(theirs);
