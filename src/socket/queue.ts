// A FIFO with O(1) push/shift (Array#shift is O(n) once arrays get large).

export class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      // Emptied: start over, but not on every message of a queue that hovers at empty (costly).
      if (this.head >= 1024) {
        this.items = [];
        this.head = 0;
      }
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns everything. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  /** Removes the first item matching `pred`; O(n), for rare cancellations. */
  remove(pred: (item: T) => boolean): boolean {
    for (let i = this.head; i < this.items.length; i++) {
      if (pred(this.items[i] as T)) {
        this.items.splice(i, 1);
        return true;
      }
    }
    return false;
  }
}
