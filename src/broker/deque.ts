// A double-ended queue on a growable ring buffer: buffered jobs are taken from the front, new ones
// join at the back, and a job whose worker died goes back to the front (at-least-once re-queue).

export class Deque<T> {
  private buf: (T | undefined)[] = new Array(16);
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = item;
    this.size++;
  }

  unshift(item: T): void {
    if (this.size === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return item;
  }

  /** Removes every item matching `pred` (O(n): for rare cleanups); returns them in order. */
  removeWhere(pred: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const gone: T[] = [];
    for (let i = 0; i < this.size; i++) {
      const item = this.buf[(this.head + i) & (this.buf.length - 1)] as T;
      (pred(item) ? gone : kept).push(item);
    }
    if (gone.length > 0) {
      this.buf = new Array(this.buf.length);
      this.head = 0;
      this.size = 0;
      for (const k of kept) this.push(k);
    }
    return gone;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.buf[(this.head + i) & (this.buf.length - 1)] as T;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}
