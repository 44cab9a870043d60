import { describe, expect, it } from "bun:test";
import { type PollRound, startPolling } from "../../modules/runtime";

/** Longer than any test may run: a loop that waited this long would time the test out. */
const NEVER_MS = 3_600_000;
const noFailure = { failureBackoff: { baseMs: NEVER_MS, maxMs: NEVER_MS }, onFailure: () => {} };

/** Runs `rounds` in turn (the last one repeats) and resolves when the loop has started `count` rounds. */
function scripted(rounds: PollRound[], count: number) {
  let started = 0;
  let reached = () => {};
  const done = new Promise<void>((resolve) => (reached = resolve));
  const round: PollRound = () => {
    started++;
    if (started === count) reached();
    return (rounds[Math.min(started, rounds.length) - 1] as PollRound)();
  };
  return { round, done, started: () => started };
}

describe("poll loop", () => {
  it("stop() during a round ends the loop after that round, without its idle pause", async () => {
    let release = () => {};
    const script = scripted([() => new Promise((resolve) => (release = () => resolve("idle")))], 1);
    const loop = startPolling(script.round, { idleMs: NEVER_MS, ...noFailure });
    await script.done;
    const stopped = loop.stop();
    release();
    await stopped;
    expect(script.started()).toBe(1);
  });

  it("looks again at once when woken while a round runs, instead of pausing (the work may have arrived mid-round)", async () => {
    let loop: ReturnType<typeof startPolling> | undefined;
    const script = scripted(
      [
        async () => {
          // After startPolling has returned (the first round starts inside it).
          await Promise.resolve();
          loop?.wake();
          return "idle";
        },
        async () => "idle",
      ],
      2,
    );
    loop = startPolling(script.round, { idleMs: NEVER_MS, ...noFailure });
    await script.done;
    await loop.stop();
    expect(script.started()).toBe(2);
  });

  it("pauses only until work known to fall due, however long the idle pause", async () => {
    const script = scripted([async () => ({ dueInMs: 5 }), async () => "idle"], 2);
    const loop = startPolling(script.round, { idleMs: NEVER_MS, ...noFailure });
    await script.done;
    await loop.stop();
    expect(script.started()).toBe(2);
  });

  it("expectWork() ends a long pause within the short idle interval", async () => {
    const script = scripted([async () => "idle"], 1);
    // Without the hint the first round would start an hour from now.
    const loop = startPolling(script.round, { idleMs: 5, maxIdleMs: NEVER_MS, firstDelayMs: NEVER_MS, ...noFailure });
    loop.expectWork();
    await script.done;
    await loop.stop();
    expect(script.started()).toBe(1);
  });
});
