/**
 * THE dispute status machine, as ./status.ts is for payments (docs/CONTRACT.md §10). A dispute only
 * moves forward: `needs_response` (the merchant may answer with evidence) → `under_review` (the
 * evidence is with the card issuer) → `won` | `lost` (final). A gateway may show `needs_response`
 * again after `under_review` (more evidence asked for): that is the one backward move. What a
 * dispute shows is always what the gateway's own record said when paystream last fetched it, so a
 * stale or out-of-order notification can never move it; the guard below keeps two fetches that
 * raced from putting an older state over a newer one.
 */

export const DISPUTE_STATUSES = ["needs_response", "under_review", "won", "lost"] as const;
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];

/** Closed: the issuer decided; nothing moves the dispute any more. */
export const CLOSED_DISPUTE_STATUSES: readonly DisputeStatus[] = ["won", "lost"];

export const DISPUTE_TRANSITIONS: Readonly<Record<DisputeStatus, readonly DisputeStatus[]>> = {
  needs_response: ["needs_response", "under_review", "won", "lost"],
  under_review: ["under_review", "needs_response", "won", "lost"],
  won: ["won"],
  lost: ["lost"],
};

/** Whether a dispute in `from` may take the gateway's `to` (the SQL guard of recordDispute says the same). */
export function disputeMayMove(from: DisputeStatus, to: DisputeStatus): boolean {
  return DISPUTE_TRANSITIONS[from].includes(to);
}

export const isClosedDispute = (status: DisputeStatus): boolean => CLOSED_DISPUTE_STATUSES.includes(status);
