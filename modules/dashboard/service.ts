import type { Executor } from "../database";
import type { Logger } from "../runtime";
import { type BacklogOf, type DashboardSnapshot, loadDashboardSnapshot } from "./snapshot";

export interface DashboardDeps {
  db: Executor;
  logger: Logger;
  /** How often connected pages get a new snapshot. */
  intervalMs?: number;
  /** The broker's backlog of a merchant's payments (Broker.backlog; see DashboardSnapshot.queue). */
  backlogOf?: BacklogOf;
}

/** What a connected page receives: a snapshot, or word that the last one could not be taken. */
export type DashboardFrame = { kind: "snapshot"; snapshot: DashboardSnapshot; data: string } | { kind: "unavailable"; data: string };

export interface DashboardListener {
  frame(frame: DashboardFrame): void;
  /** The service is shutting down: end the stream so the HTTP server can stop. */
  closed(): void;
}

export interface DashboardService {
  /**
   * Sends the listener a frame at once and then one per interval until the returned function is
   * called. Undefined once the service is closed.
   */
  subscribe(merchantId: string, listener: DashboardListener): (() => void) | undefined;
  /** Pages connected right now. */
  listenerCount(): number;
  /** Tells every listener it is over, stops the timer and refuses new listeners. */
  close(): void;
}

/**
 * The live-dashboard hub. Every interval it takes one snapshot per merchant with a page open
 * (each of that merchant's figures only) and fans the same serialized frame
 * out to all of that merchant's pages, so ten open tabs cost what one does. The timer runs only
 * while at least one page is connected.
 */
export function createDashboardService(deps: DashboardDeps): DashboardService {
  const intervalMs = deps.intervalMs ?? 1_000;
  const subscribers = new Map<string, Set<DashboardListener>>();
  const inFlight = new Map<string, Promise<DashboardFrame>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  /** At most one snapshot query per merchant at a time; callers arriving meanwhile share its result. */
  function frameFor(merchantId: string): Promise<DashboardFrame> {
    let frame = inFlight.get(merchantId);
    if (!frame) {
      frame = loadDashboardSnapshot(deps.db, merchantId, deps.backlogOf)
        .then((snapshot): DashboardFrame => ({ kind: "snapshot", snapshot, data: JSON.stringify(snapshot) }))
        .catch((error: unknown): DashboardFrame => {
          deps.logger.warn({ err: error, merchantId }, "dashboard snapshot failed");
          return { kind: "unavailable", data: JSON.stringify({ message: "The database did not answer; retrying" }) };
        })
        .finally(() => inFlight.delete(merchantId));
      inFlight.set(merchantId, frame);
    }
    return frame;
  }

  function deliver(listener: DashboardListener, frame: DashboardFrame) {
    try {
      listener.frame(frame);
    } catch (error) {
      deps.logger.warn({ err: error }, "dashboard listener failed");
    }
  }

  function tick() {
    for (const [merchantId, group] of subscribers) {
      // A snapshot still running from the last tick (slow database) is not stacked up behind.
      if (inFlight.has(merchantId)) continue;
      const recipients = [...group];
      void frameFor(merchantId).then((frame) => {
        for (const listener of recipients) if (group.has(listener)) deliver(listener, frame);
      });
    }
  }

  function stopTimerWhenIdle() {
    if (subscribers.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    subscribe(merchantId, listener) {
      if (closed) return undefined;
      let group = subscribers.get(merchantId);
      if (!group) {
        group = new Set();
        subscribers.set(merchantId, group);
      }
      group.add(listener);
      timer ??= setInterval(tick, intervalMs);
      const joined = group;
      void frameFor(merchantId).then((frame) => {
        if (joined.has(listener)) deliver(listener, frame);
      });
      return () => {
        joined.delete(listener);
        if (joined.size === 0 && subscribers.get(merchantId) === joined) subscribers.delete(merchantId);
        stopTimerWhenIdle();
      };
    },

    listenerCount: () => [...subscribers.values()].reduce((sum, group) => sum + group.size, 0),

    close() {
      closed = true;
      const all = [...subscribers.values()].flatMap((group) => [...group]);
      subscribers.clear();
      stopTimerWhenIdle();
      for (const listener of all) listener.closed();
    },
  };
}
