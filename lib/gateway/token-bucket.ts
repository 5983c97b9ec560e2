// A token bucket: `rate` tokens a second, holding at most `burst`. Time is
// passed in (ms, monotonic), so tests can drive it without waiting.
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#last = now;
  }

  #refill(now: number): void {
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.rate) / 1000);
      this.#last = now;
    }
  }

  /** Whether `amount` tokens are there now (none are taken). */
  has(amount: number, now: number): boolean {
    this.#refill(now);
    return this.#tokens >= amount;
  }

  /** Takes `amount` tokens if they are there; returns whether it did. */
  take(amount: number, now: number): boolean {
    if (!this.has(amount, now)) return false;
    this.#tokens -= amount;
    return true;
  }
}
