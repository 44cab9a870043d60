import { timeOrderedIdKind } from "../payments";

/** `re_…`, time ordered like payment ids, so a payment's refunds list newest first by id. */
export const REFUND_ID = timeOrderedIdKind("re");
export const newRefundId = (now?: number) => REFUND_ID.next(now);
