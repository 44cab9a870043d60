import { describe, expect, it } from "bun:test";
import { Batcher } from "../../modules/database";

/** A batcher whose flushes are recorded: the items of each, and when it started. */
function recorded(options: { maxBatch: number; maxConcurrent: number; minIntervalMs?: number }) {
  const flushes: { items: number[]; at: number }[] = [];
  const batcher = new Batcher<number, number>(async (items) => {
    flushes.push({ items, at: performance.now() });
    await Bun.sleep(1);
    return items.map((i) => i * 10);
  }, options);
  return { batcher, flushes };
}

describe("group commit (Batcher)", () => {
  it("puts the calls of one event-loop turn into one flush, and answers each caller with its own result", async () => {
    const { batcher, flushes } = recorded({ maxBatch: 10, maxConcurrent: 1 });
    expect(await Promise.all([1, 2, 3].map((i) => batcher.submit(i)))).toEqual([10, 20, 30]);
    expect(flushes.map((f) => f.items)).toEqual([[1, 2, 3]]);
  });

  it("with a least interval, flushes an item after a quiet spell at once, and gathers a stream into fewer flushes spaced by the interval", async () => {
    const { batcher, flushes } = recorded({ maxBatch: 100, maxConcurrent: 2, minIntervalMs: 200 });
    const submitted = performance.now();
    expect(await batcher.submit(1)).toBe(10);
    // At once: far sooner than the interval.
    expect((flushes[0]?.at ?? Infinity) - submitted).toBeLessThan(100);

    // A stream right behind it: each item in its own event-loop turn, all within the interval.
    const results: Promise<number>[] = [];
    for (const i of [2, 3, 4, 5]) {
      results.push(batcher.submit(i));
      await Bun.sleep(5);
    }
    expect(await Promise.all(results)).toEqual([20, 30, 40, 50]);
    expect(flushes.map((f) => f.items)).toEqual([[1], [2, 3, 4, 5]]);
    expect((flushes[1]?.at ?? 0) - (flushes[0]?.at ?? 0)).toBeGreaterThanOrEqual(195);

    // After another quiet spell, at once again.
    await Bun.sleep(250);
    const again = performance.now();
    await batcher.submit(6);
    expect((flushes[2]?.at ?? Infinity) - again).toBeLessThan(100);
  });

  it("retries a failing batch item by item, so one bad item fails only its own caller", async () => {
    const batcher = new Batcher<number, number>(
      async (items) => {
        if (items.includes(2)) throw new Error("bad item");
        return items;
      },
      { maxBatch: 10, maxConcurrent: 1 },
    );
    const [a, b, c] = await Promise.allSettled([1, 2, 3].map((i) => batcher.submit(i)));
    expect(a).toEqual({ status: "fulfilled", value: 1 });
    expect(b?.status).toBe("rejected");
    expect(c).toEqual({ status: "fulfilled", value: 3 });
  });

  it("fails every caller of a batch with the batch's own error when the database connection failed, retrying none", async () => {
    const flushes: number[][] = [];
    const lost = Object.assign(new Error("write CONNECTION_SILENT 127.0.0.1:5432"), { code: "CONNECTION_SILENT" });
    const batcher = new Batcher<number, number>(
      async (items) => {
        flushes.push(items);
        throw lost;
      },
      { maxBatch: 10, maxConcurrent: 1 },
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => batcher.submit(i)));
    // The batch may have committed: a retry's "never sent" would tell its caller otherwise.
    expect(settled).toEqual([1, 2, 3].map(() => ({ status: "rejected", reason: lost })));
    expect(flushes).toEqual([[1, 2, 3]]);
  });
});
