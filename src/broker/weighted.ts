// Which worker gets a job from a queue, as EventMQ decides it: weight is strict priority (the
// heaviest worker with a free slot always wins) and workers of equal weight take turns, one job
// each. Per queue the workers are kept in groups of equal weight, heaviest first; a group rotates
// past the worker it picked, which gives the same order as EventMQ's pop/append/stable-sort.

import type { WorkerRecord } from "./records.js";

interface Group {
  weight: number;
  members: WorkerRecord[];
}

export class WeightedQueues {
  private readonly byQueue = new Map<string, Group[]>();

  /** Queues with at least one worker: requests for other names go to "default". */
  has(queue: string): boolean {
    return this.byQueue.has(queue);
  }

  names(): IterableIterator<string> {
    return this.byQueue.keys();
  }

  add(worker: WorkerRecord): void {
    for (const [weight, queue] of worker.queues) {
      let groups = this.byQueue.get(queue);
      if (!groups) this.byQueue.set(queue, (groups = []));
      let i = 0;
      while (i < groups.length && groups[i]!.weight > weight) i++;
      const g = groups[i];
      if (g && g.weight === weight) {
        if (!g.members.includes(worker)) g.members.push(worker);
      } else {
        groups.splice(i, 0, { weight, members: [worker] });
      }
    }
  }

  remove(worker: WorkerRecord): void {
    for (const [, queue] of worker.queues) {
      const groups = this.byQueue.get(queue);
      if (!groups) continue;
      for (let i = groups.length - 1; i >= 0; i--) {
        const g = groups[i]!;
        const at = g.members.indexOf(worker);
        if (at >= 0) g.members.splice(at, 1);
        if (g.members.length === 0) groups.splice(i, 1);
      }
      if (groups.length === 0) this.byQueue.delete(queue);
    }
  }

  /** The worker that should take the next job of `queue` (and its turn is used), or undefined. */
  pick(queue: string): WorkerRecord | undefined {
    const groups = this.byQueue.get(queue);
    if (!groups) return undefined;
    for (const g of groups) {
      const m = g.members;
      for (let i = 0; i < m.length; i++) {
        const w = m[i]!;
        if (w.slots > 0) {
          // Rotate past the chosen one: those before it (no slots) and it go to the back.
          if (m.length > 1) m.push(...m.splice(0, i + 1));
          return w;
        }
      }
    }
    return undefined;
  }

  /** [[weight, worker name], ...] per queue, heaviest first, in turn order (admin JSON). */
  snapshot(): Record<string, Array<[number, string]>> {
    const out: Record<string, Array<[number, string]>> = {};
    for (const [q, groups] of this.byQueue) out[q] = groups.flatMap((g) => g.members.map((w) => [g.weight, w.name] as [number, string]));
    return out;
  }
}
