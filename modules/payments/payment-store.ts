import { type CardVault, dropCardCvcs, loadCardSecrets, purgeCardSecrets, type SealedCard } from "../vault";
import { type FinalOutcome, PAYMENT_LIFECYCLE } from "./repository";
import type { PaymentRow } from "./schema";
import { createGatewayWorkStore, type GatewayWorkStore, type GatewayWorkStoreOptions } from "./work-store";

/** A payment claimed for one attempt (or one reconciliation check), with its sealed card if still stored. */
export interface ClaimedPaymentWork {
  payment: PaymentRow;
  sealed: SealedCard | undefined;
}

/** A payment's operations (charge, authorize, capture, void) as the worker's store. */
export type PaymentWorkStore = GatewayWorkStore<ClaimedPaymentWork, PaymentRow, FinalOutcome>;

/**
 * A refused capture or void puts the payment back to the AUTHORIZED it already was (and announced),
 * and a cancel the gateway refused puts it back to the REQUIRES_ACTION it already was: nothing new
 * for the merchant's webhooks; every other end of an operation is.
 */
const isNewsToMerchant = (payment: PaymentRow) =>
  payment.status === "AUTHORIZED" ? payment.operation === "authorize" : payment.status !== "REQUIRES_ACTION" || payment.operation !== "cancel_action";

/**
 * What is left of a payment's sealed card once the reconciler takes the payment over: nothing,
 * unless the gateway's look-up replays the charge (GATEWAY_LIMITS.lookupReplaysCharge: PayPal),
 * which gets the card re-sealed without its CVC (SECURITY.md, card data).
 */
export type CardForReconciler = { keep: "nothing" } | { keep: "card_without_cvc"; vault: CardVault };

export interface PaymentStoreOptions extends GatewayWorkStoreOptions<PaymentRow> {
  cardForReconciler: CardForReconciler;
}

/**
 * The payment store over PostgreSQL (or PGlite): the shared lifecycle, with the payment's card
 * secret read alongside each claim, deleted (or stripped of its CVC, see CardForReconciler) in the
 * transaction that hands the payment to the reconciler, and deleted in the transaction that ends
 * the operation.
 */
export function createPaymentStore(options: PaymentStoreOptions): PaymentWorkStore {
  const { cardForReconciler } = options;
  return createGatewayWorkStore<ClaimedPaymentWork, PaymentRow, FinalOutcome>(
    {
      lifecycle: PAYMENT_LIFECYCLE,
      async withClaimed(db, ids, claimed) {
        // Read the secrets alongside the claim (one round trip, not two); those of payments that
        // turn out not claimable are simply not used.
        const [payments, secrets] = await Promise.all([claimed, loadCardSecrets(db, ids)]);
        return payments.map((payment) => ({ payment, sealed: secrets.get(payment.id) }));
      },
      idOf: (claimed) => claimed.payment.id,
      messageOf: (payment) => ({ paymentId: payment.id }),
      releaseOf: (payment, end) => ({ id: payment.id, attempt: payment.attempts, ...end }),
      endedInTransaction: (tx, ended) =>
        purgeCardSecrets(
          tx,
          ended.map((p) => p.id),
        ),
      handedOverInTransaction: (tx, reconciling) => {
        const ids = reconciling.map((p) => p.id);
        return cardForReconciler.keep === "nothing" ? purgeCardSecrets(tx, ids) : dropCardCvcs(tx, cardForReconciler.vault, ids);
      },
      isNewsToMerchant,
    },
    options,
  );
}
