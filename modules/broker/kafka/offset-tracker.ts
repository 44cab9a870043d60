/**
 * Tracks the messages of one partition that are in flight and says how far the committed offset
 * may advance: up to (not past) the lowest offset that is not finished yet. Messages finish in any
 * order; the commit only ever moves over a contiguous finished prefix, so a crash re-delivers the
 * unfinished tail and nothing before it is skipped.
 */
export class PartitionOffsets {
  private readonly pending: bigint[] = [];
  private readonly finished = new Set<bigint>();
  /** The next offset to commit (Kafka commits "the next offset to read"). */
  private committable: bigint | undefined;

  /** Registers offsets in the order the broker delivered them (ascending). */
  started(offset: bigint): void {
    this.pending.push(offset);
  }

  finish(offset: bigint): void {
    this.finished.add(offset);
    while (this.pending.length > 0 && this.finished.has(this.pending[0] as bigint)) {
      const done = this.pending.shift() as bigint;
      this.finished.delete(done);
      this.committable = done + 1n;
    }
  }

  /** The offset to commit now, or undefined when nothing new may be committed. */
  takeCommittable(): bigint | undefined {
    const value = this.committable;
    this.committable = undefined;
    return value;
  }

  get inFlight(): number {
    return this.pending.length;
  }
}
