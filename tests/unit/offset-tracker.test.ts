import { describe, expect, it } from "bun:test";
import { PartitionOffsets } from "../../modules/broker/kafka/offset-tracker";
import { Slots } from "../../modules/runtime";

describe("ordered offset commits", () => {
  it("commits only up to the lowest unfinished offset", () => {
    const offsets = new PartitionOffsets();
    for (const o of [10n, 11n, 12n, 13n]) offsets.started(o);
    offsets.finish(12n);
    offsets.finish(11n);
    expect(offsets.takeCommittable()).toBeUndefined();
    offsets.finish(10n);
    expect(offsets.takeCommittable()).toBe(13n);
    expect(offsets.takeCommittable()).toBeUndefined();
    offsets.finish(13n);
    expect(offsets.takeCommittable()).toBe(14n);
    expect(offsets.inFlight).toBe(0);
  });

  it("handles gaps in offsets (compacted or transactional markers)", () => {
    const offsets = new PartitionOffsets();
    for (const o of [5n, 9n, 20n]) offsets.started(o);
    offsets.finish(9n);
    offsets.finish(5n);
    expect(offsets.takeCommittable()).toBe(10n);
    expect(offsets.inFlight).toBe(1);
  });
});

describe("in-flight slots", () => {
  it("never lets more than its size run at once", async () => {
    const slots = new Slots(3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        await slots.acquire();
        running++;
        peak = Math.max(peak, running);
        await Bun.sleep(2);
        running--;
        slots.release();
      }),
    );
    expect(peak).toBe(3);
  });
});
