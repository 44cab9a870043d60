import { isConnectionError } from "./connection-errors";

interface Pending<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (error: unknown) => void;
}

export interface BatcherOptions {
  maxBatch: number;
  maxConcurrent: number;
  /**
   * The least time between the starts of two flushes. Under a steady stream of items each flush
   * then takes what arrived over that time instead of the few that arrived while the last one ran;
   * an item after a quiet spell still goes at once. Only for writes whose callers hold nothing
   * scarce while they wait (not a gateway slot).
   */
  minIntervalMs?: number;
}

/**
 * Group commit for any statement that can take many items at once: calls made while a flush is
 * in flight wait and go together in the next one. Results map back to callers by position. A
 * failing batch is retried item by item so one bad item fails only its own caller, except when
 * the database connection failed: then the batch may have committed (each caller must hear the
 * batch's own error, not a retry's "never sent"), and retrying one item after another would make
 * the last caller wait out a database outage once per item.
 */
export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private active = 0;
  /** When the latest flush started. */
  private lastFlushAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly flushBatch: (items: I[]) => Promise<O[]>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.active < this.options.maxConcurrent) {
        this.active++;
        // Let the calls of this event-loop turn join the batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const wait = this.lastFlushAt + (this.options.minIntervalMs ?? 0) - performance.now();
        if (wait > 0) {
          // Look again afterwards: another flush may have started (and taken these items) meanwhile.
          await Bun.sleep(wait);
          continue;
        }
        this.lastFlushAt = performance.now();
        await this.flush(this.queue.splice(0, this.options.maxBatch));
      }
    } finally {
      this.active--;
    }
  }

  private async flush(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await this.flushBatch(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i] as O));
    } catch (error) {
      if (batch.length === 1 || isConnectionError(error)) {
        for (const p of batch) p.reject(error);
        return;
      }
      for (const p of batch) {
        try {
          const [result] = await this.flushBatch([p.item]);
          p.resolve(result as O);
        } catch (single) {
          p.reject(single);
        }
      }
    }
  }
}
