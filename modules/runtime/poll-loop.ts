import { backoffDelayMs } from "./backoff";

/** What one round of polling found: more work waiting now, or nothing until the next poll. */
export type PollRound = () => Promise<"more" | "idle">;

export interface PollOptions {
  /** Pause after a round that found no more work (a wake() ends it early). */
  idleMs: number;
  /** Pause before the first round. */
  firstDelayMs?: number;
  /** Pauses after failed rounds in a row: baseMs after the first, doubling up to maxMs (equal values: a fixed pause). */
  failureBackoff: { baseMs: number; maxMs: number };
  /** Told of every failed round and how long the loop now waits; the loop itself never stops on one. */
  onFailure(error: unknown, retryInMs: number): void;
}

export interface PollLoop {
  /** Ends the current pause: work may have become possible (a slot freed up). */
  wake(): void;
  /** Starts no new round and waits for the one in flight. */
  stop(): Promise<void>;
}

/**
 * The loop of every background poller (queue consumer, outbox relay, webhook dispatcher, sweeper,
 * reconciler): run a round, go on at once while it finds more, pause when idle, and back off while
 * the database or broker is away instead of spinning.
 */
export function startPolling(round: PollRound, options: PollOptions): PollLoop {
  let running = true;
  let wakeUp: (() => void) | undefined;

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wakeUp = undefined;
        resolve();
      }, ms);
      wakeUp = () => {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      };
    });
  }

  async function run(): Promise<void> {
    if (options.firstDelayMs) await pause(options.firstDelayMs);
    let failures = 0;
    while (running) {
      let found: "more" | "idle";
      try {
        found = await round();
        failures = 0;
      } catch (error) {
        failures++;
        const delay = backoffDelayMs({ ...options.failureBackoff, jitter: 0 }, failures);
        options.onFailure(error, delay);
        await pause(delay);
        continue;
      }
      if (found === "idle") await pause(options.idleMs);
    }
  }

  const loop = run();
  return {
    wake: () => wakeUp?.(),
    async stop() {
      running = false;
      wakeUp?.();
      await loop;
    },
  };
}
