// The subscription table of the pub/sub sockets: topics (any bytes, including none) held by
// owners (a publisher's peers, or a subscriber itself) with a reference count per owner and topic.
// A message matches a topic when the topic is a prefix of the message's first frame.
//
// Kept as a radix trie over bytes: a match walks the frame once, comparing bytes, and never
// allocates or hashes strings, so its cost is bounded by the frame length whatever the number of
// topics or owners (a map per prefix length would slice and hash once per distinct length).
// Nodes that hold owners are never replaced by splits or merges, so each owner keeps direct
// references to its nodes and leaves in one pass.

import { Buffer } from "node:buffer";

/** What add() changed. (Plain constants, not an enum: every runtime's TS loader handles them.) */
export const Added = {
  /** Nobody held the topic before: the first subscription to it over all owners. */
  NewTopic: 1,
  /** Others held it; this owner did not. */
  NewOwner: 2,
  /** This owner held it already; its count went up. */
  Again: 3,
} as const;
export type Added = (typeof Added)[keyof typeof Added];

/** What remove() changed. */
export const Removed = {
  /** This owner did not hold the topic: nothing changed. */
  Absent: 0,
  /** This owner still holds it (its count was above one). */
  Kept: 1,
  /** This owner let go of it; other owners still hold it. */
  OwnerGone: 2,
  /** This owner was the last holder: nobody holds the topic now. */
  TopicGone: 3,
} as const;
export type Removed = (typeof Removed)[keyof typeof Removed];

class Node<P> {
  /** The bytes on the edge from the parent (empty only for the root). */
  label: Buffer;
  parent: Node<P> | undefined;
  /** Children by the first byte of their label. */
  children: Map<number, Node<P>> | undefined;
  /** Owners holding exactly this prefix, with their reference counts. */
  owners: Map<P, number> | undefined;

  constructor(label: Buffer, parent: Node<P> | undefined) {
    this.label = label;
    this.parent = parent;
  }
}

const EMPTY = Buffer.alloc(0);

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Length of the common prefix of `label` and `key[off..]`. */
function common(label: Uint8Array, key: Uint8Array, off: number): number {
  const n = Math.min(label.length, key.length - off);
  let i = 0;
  while (i < n && label[i] === key[off + i]) i++;
  return i;
}

export class SubscriptionTable<P> {
  private readonly root = new Node<P>(EMPTY, undefined);
  /** Every node each owner holds, for leaving in one pass. */
  private readonly byOwner = new Map<P, Set<Node<P>>>();
  private topicCount = 0;

  /** Distinct topics held by anyone. */
  get size(): number {
    return this.topicCount;
  }

  /** Owners holding at least one topic. */
  get ownerCount(): number {
    return this.byOwner.size;
  }

  hasOwner(owner: P): boolean {
    return this.byOwner.has(owner);
  }

  /** Adds one reference from `owner` to `topic` (the bytes are copied). */
  add(topic: Uint8Array, owner: P): Added {
    const node = this.insert(topic);
    let owners = node.owners;
    const wasEmpty = owners === undefined;
    if (!owners) owners = node.owners = new Map();
    const n = owners.get(owner);
    if (n !== undefined) {
      owners.set(owner, n + 1);
      return Added.Again;
    }
    owners.set(owner, 1);
    let mine = this.byOwner.get(owner);
    if (!mine) this.byOwner.set(owner, (mine = new Set()));
    mine.add(node);
    if (wasEmpty) {
      this.topicCount++;
      return Added.NewTopic;
    }
    return Added.NewOwner;
  }

  /** Drops one reference from `owner` to `topic`. */
  remove(topic: Uint8Array, owner: P): Removed {
    const node = this.find(topic);
    const n = node?.owners?.get(owner);
    if (node === undefined || n === undefined) return Removed.Absent;
    if (n > 1) {
      node.owners!.set(owner, n - 1);
      return Removed.Kept;
    }
    return this.release(node, owner);
  }

  /** Drops every topic `owner` holds, whatever its counts; `visit` hears of each topic and whether
   * nobody holds it any more. */
  removeOwner(owner: P, visit?: (topic: Buffer, topicGone: boolean) => void): void {
    const mine = this.byOwner.get(owner);
    if (!mine) return;
    // Topics are rebuilt before the nodes are pruned (pruning may merge labels).
    const topics = visit ? [...mine].map((n) => this.topicOf(n)) : undefined;
    let i = 0;
    for (const node of [...mine]) {
      const r = this.release(node, owner);
      if (visit) visit(topics![i++]!, r === Removed.TopicGone);
    }
  }

  /** This owner's reference count for the topic (0 if it does not hold it). */
  count(topic: Uint8Array, owner: P): number {
    return this.find(topic)?.owners?.get(owner) ?? 0;
  }

  has(topic: Uint8Array, owner: P): boolean {
    return this.count(topic, owner) > 0;
  }

  /** How many owners hold exactly this topic. */
  holders(topic: Uint8Array): number {
    return this.find(topic)?.owners?.size ?? 0;
  }

  /** Every distinct topic held by anyone (fresh copies). */
  topics(): Buffer[] {
    const out: Buffer[] = [];
    const walk = (node: Node<P>, prefix: Buffer) => {
      const key = node === this.root ? prefix : Buffer.concat([prefix, node.label]);
      if (node.owners) out.push(key);
      if (node.children) for (const c of node.children.values()) walk(c, key);
    };
    walk(this.root, EMPTY);
    return out;
  }

  /** The topics one owner holds (fresh copies). */
  topicsOf(owner: P): Buffer[] {
    const mine = this.byOwner.get(owner);
    return mine ? [...mine].map((n) => this.topicOf(n)) : [];
  }

  /** Whether any topic is a prefix of `data`. */
  matches(data: Uint8Array): boolean {
    let node = this.root;
    let off = 0;
    for (;;) {
      if (node.owners) return true;
      if (off >= data.length || !node.children) return false;
      const child = node.children.get(data[off]!);
      if (!child) return false;
      const label = child.label;
      if (data.length - off < label.length || common(label, data, off) !== label.length) return false;
      off += label.length;
      node = child;
    }
  }

  /** Appends to `out` every owner holding a prefix of `data`, each once; returns how many. */
  match(data: Uint8Array, out: P[]): number {
    let node = this.root;
    let off = 0;
    let found: Map<P, number> | undefined;
    let more: Map<P, number>[] | undefined;
    for (;;) {
      if (node.owners) {
        if (!found) found = node.owners;
        else (more ??= []).push(node.owners);
      }
      if (off >= data.length || !node.children) break;
      const child = node.children.get(data[off]!);
      if (!child) break;
      const label = child.label;
      if (data.length - off < label.length || common(label, data, off) !== label.length) break;
      off += label.length;
      node = child;
    }
    if (!found) return 0;
    const start = out.length;
    if (!more) {
      // One matching prefix (the usual case): its owners are distinct already.
      for (const p of found.keys()) out.push(p);
      return out.length - start;
    }
    const seen = new Set<P>(found.keys());
    for (const m of more) for (const p of m.keys()) seen.add(p);
    for (const p of seen) out.push(p);
    return out.length - start;
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Finds the node for exactly `key`, if present. */
  private find(key: Uint8Array): Node<P> | undefined {
    let node = this.root;
    let off = 0;
    while (off < key.length) {
      const child = node.children?.get(key[off]!);
      if (!child) return undefined;
      const label = child.label;
      if (key.length - off < label.length || common(label, key, off) !== label.length) return undefined;
      off += label.length;
      node = child;
    }
    return node;
  }

  /** Finds or creates the node for exactly `key`, splitting an edge where needed. */
  private insert(key: Uint8Array): Node<P> {
    let node = this.root;
    let off = 0;
    while (off < key.length) {
      const first = key[off]!;
      const child = node.children?.get(first);
      if (!child) {
        // Own copy: the key may be a view of a network chunk or of the caller's buffer.
        const leaf = new Node<P>(Buffer.from(key.subarray(off)), node);
        (node.children ??= new Map()).set(first, leaf);
        return leaf;
      }
      const label = child.label;
      const c = common(label, key, off);
      if (c === label.length) {
        off += c;
        node = child;
        continue;
      }
      // Split the edge at c: node -> mid (label[0..c]) -> child (label[c..]).
      const mid = new Node<P>(label.subarray(0, c), node);
      node.children!.set(first, mid);
      child.label = label.subarray(c);
      child.parent = mid;
      mid.children = new Map([[child.label[0]!, child]]);
      off += c;
      node = mid;
    }
    return node;
  }

  /** Takes `owner` off `node` entirely and prunes what is left empty. */
  private release(node: Node<P>, owner: P): Removed {
    const owners = node.owners!;
    owners.delete(owner);
    const mine = this.byOwner.get(owner);
    if (mine) {
      mine.delete(node);
      if (mine.size === 0) this.byOwner.delete(owner);
    }
    if (owners.size > 0) return Removed.OwnerGone;
    node.owners = undefined;
    this.topicCount--;
    this.prune(node);
    return Removed.TopicGone;
  }

  /** Removes empty leaves upward, then merges a pass-through node into its only child. */
  private prune(start: Node<P>): void {
    let node = start;
    while (node !== this.root && !node.owners && (!node.children || node.children.size === 0)) {
      const parent = node.parent!;
      parent.children!.delete(node.label[0]!);
      if (parent.children!.size === 0) parent.children = undefined;
      node.parent = undefined;
      node = parent;
    }
    if (node !== this.root && !node.owners && node.children && node.children.size === 1) {
      const only = node.children.values().next().value!;
      const parent = node.parent!;
      only.label = Buffer.concat([node.label, only.label]);
      only.parent = parent;
      parent.children!.set(only.label[0]!, only);
      node.parent = undefined;
      node.children = undefined;
    }
  }

  private topicOf(node: Node<P>): Buffer {
    const parts: Buffer[] = [];
    for (let n: Node<P> | undefined = node; n && n !== this.root; n = n.parent) parts.push(n.label);
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts.reverse());
  }
}

/** A topic given by the application: a string (UTF-8) or bytes. */
export const topicBytes = (t: string | Uint8Array): Buffer => (typeof t === "string" ? Buffer.from(t, "utf8") : asBuffer(t));
