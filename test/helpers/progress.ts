// A condition on a test's own state, waited for with a deadline: whatever changes the state
// calls changed(), and the waiters look again. Never polls.

/** Wakes whoever waits for a condition on the test's state; waits with a deadline, never polls. */
export class Progress {
  readonly #waiters = new Set<() => void>();
  #wakeScheduled = false;

  // Once per event-loop turn, not per event: the drain's condition walks every send, and
  // evaluating it for each of thousands of events in one burst stalled this process long
  // enough for a login response, already received, to lose the race against its timeout.
  changed(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      for (const wake of [...this.#waiters]) wake();
    });
  }

  async until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }
}
