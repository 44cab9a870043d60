import type { ListenToChannel } from "../database";

/** Notified by the outbox's trigger after every statement that wrote at least one row (drizzle/0006_outbox_notify.sql, 0008_outbox_notify_rows.sql). */
export const OUTBOX_CHANNEL = "paystream_outbox";

/**
 * Tells an outbox claimer that rows were written, so it can wait for work instead of polling for
 * it. subscribe() runs inside the claimer's poll round: a subscription that failed, or was lost
 * with its connection during an outage, is made again by the next round that reaches the database.
 */
export class OutboxWatch {
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly listen: ListenToChannel,
    private readonly onWritten: () => void,
  ) {}

  async subscribe(): Promise<void> {
    this.unsubscribe ??= await this.listen(OUTBOX_CHANNEL, this.onWritten);
  }

  /** A round failed: the database may have dropped the listening connection too. */
  suspect(): void {
    const previous = this.unsubscribe;
    this.unsubscribe = undefined;
    previous?.().catch(() => {});
  }

  async close(): Promise<void> {
    const previous = this.unsubscribe;
    this.unsubscribe = undefined;
    await previous?.().catch(() => {});
  }
}
