import { backoffDelayMs } from "./backoff";

/**
 * What one round of polling found: more work waiting now, nothing until the next poll, or nothing
 * now but work known to fall due in `dueInMs` (a retry scheduled for later, a lease running out).
 */
export type PollRound = () => Promise<"more" | "idle" | { dueInMs: number }>;

export interface PollOptions {
  /** Pause after a round that found no more work (a wake() ends it early). */
  idleMs: number;
  /**
   * Idle rounds in a row double the pause from idleMs up to this (default: idleMs, a fixed pause).
   * For loops that are woken when work arrives, so a long idle pause costs no latency.
   */
  maxIdleMs?: number;
  /** Pause before the first round. */
  firstDelayMs?: number;
  /** Pauses after failed rounds in a row: baseMs after the first, doubling up to maxMs (equal values: a fixed pause). */
  failureBackoff: { baseMs: number; maxMs: number };
  /** Told of every failed round and how long the loop now waits; the loop itself never stops on one. */
  onFailure(error: unknown, retryInMs: number): void;
}

export interface PollLoop {
  /** Ends the current pause: work may have become possible (a slot freed up, new work announced). */
  wake(): void;
  /**
   * Work may be on its way: the current pause ends within idleMs and the idle backoff starts over.
   * For hints that come with every unit of work under load, where a round per hint would cost a
   * query per payment.
   */
  expectWork(): void;
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
  // A wake() that came while a round ran: that round may have looked before the work arrived.
  let wokenDuringRound = false;
  let idleRounds = 0;
  let pauseEndsAt = 0;
  let shorten: ((ms: number) => void) | undefined;
  const idle = { baseMs: options.idleMs, maxMs: Math.max(options.idleMs, options.maxIdleMs ?? options.idleMs), jitter: 0 };

  function pause(ms: number): Promise<void> {
    // stop() during a round: no pause after it (an idle pause may now last seconds).
    if (!running || wokenDuringRound) {
      wokenDuringRound = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const end = () => {
        wakeUp = undefined;
        shorten = undefined;
        resolve();
      };
      let timer = setTimeout(end, ms);
      pauseEndsAt = Date.now() + ms;
      wakeUp = () => {
        clearTimeout(timer);
        end();
      };
      shorten = (shorterMs) => {
        if (Date.now() + shorterMs >= pauseEndsAt) return;
        clearTimeout(timer);
        timer = setTimeout(end, shorterMs);
        pauseEndsAt = Date.now() + shorterMs;
      };
    });
  }

  async function run(): Promise<void> {
    if (options.firstDelayMs) await pause(options.firstDelayMs);
    let failures = 0;
    while (running) {
      wokenDuringRound = false;
      let found: Awaited<ReturnType<PollRound>>;
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
      if (found === "more") {
        idleRounds = 0;
        continue;
      }
      idleRounds++;
      const idleMs = backoffDelayMs(idle, idleRounds);
      const woken = await pauseOrWake(typeof found === "object" ? Math.min(idleMs, Math.max(0, found.dueInMs)) : idleMs);
      // Work arrived: the next quiet spell starts again from the short pause.
      if (woken) idleRounds = 0;
    }
  }

  /** Pauses for `ms`; true when a wake() ended the pause. */
  async function pauseOrWake(ms: number): Promise<boolean> {
    let woken = wokenDuringRound;
    const original = pause(ms);
    const wakeOf = wakeUp;
    if (wakeOf)
      wakeUp = () => {
        woken = true;
        wakeOf();
      };
    await original;
    return woken;
  }

  const loop = run();
  return {
    wake: () => {
      if (wakeUp) wakeUp();
      else wokenDuringRound = true;
    },
    expectWork: () => {
      idleRounds = 0;
      shorten?.(options.idleMs);
    },
    async stop() {
      running = false;
      wakeUp?.();
      await loop;
    },
  };
}
