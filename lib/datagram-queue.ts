// A bounded queue of received datagrams behind `conn.datagrams()`: when the
// reader falls behind, the oldest datagrams are dropped (and counted), as
// an unreliable transport should, instead of memory growing.

export class DatagramQueue implements AsyncIterableIterator<Uint8Array> {
  readonly #items: Uint8Array[] = [];
  readonly #limit: number;
  readonly #onDrop: () => void;
  readonly #onReturn: () => void;
  #waiter: ((r: IteratorResult<Uint8Array>) => void) | undefined;
  #done = false;

  constructor(limit: number, onDrop: () => void, onReturn: () => void) {
    this.#limit = limit;
    this.#onDrop = onDrop;
    this.#onReturn = onReturn;
  }

  push(datagram: Uint8Array): void {
    if (this.#done) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter({ value: datagram, done: false });
      return;
    }
    if (this.#items.length >= this.#limit) {
      this.#items.shift();
      this.#onDrop();
    }
    this.#items.push(datagram);
  }

  /** No more datagrams will come; queued ones can still be read. */
  end(): void {
    this.#done = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.#items.length = 0;
    this.end();
    this.#onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }
}
