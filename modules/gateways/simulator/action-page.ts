import { randomBytes } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import type { Database } from "../../database";
import { AUTHENTICATION_FAILED } from "../port";
import { simulatorCharges } from "./schema";

/**
 * The simulator's own customer-facing page (docs/CONTRACT.md §9, §12): what a bank's 3-D Secure
 * page or PayPal's approval page is for a real gateway. paystream serves it outside production,
 * so the whole flow can be tried after `npm start`: a waiting charge's `nextAction.url` leads
 * here, the customer approves or fails (cancels), and the browser goes back to the merchant's
 * returnUrl (cancelUrl for a PayPal buyer who cancels) with `payment_id` added.
 */

/** A PayPal Checkout order's reference (a card's 3-D Secure charge has `sim_` only). */
const ORDER_PREFIX = "sim_order_";
/** What a reference may look like: refused before it reaches a statement. */
const REFERENCE = /^sim_[a-z_]*[0-9a-f]{24}$/;

export interface WaitingAction {
  reference: string;
  paymentId: string;
  kind: "3ds" | "paypal";
  amount: number;
  currency: string;
  /** Whether the customer may still act (the charge still waits for them). */
  open: boolean;
  /** Where the browser may be sent back to (the origins of returnUrl and cancelUrl): the page's forms redirect there. */
  returnOrigins: string[];
}

export type ActionChoice = "approve" | "fail";

export async function findWaitingAction(db: Database, reference: string): Promise<WaitingAction | undefined> {
  if (!REFERENCE.test(reference)) return undefined;
  const [row] = await db.select().from(simulatorCharges).where(eq(simulatorCharges.reference, reference));
  if (!row || row.returnUrl === null) return undefined;
  return {
    reference,
    paymentId: row.paymentId,
    kind: reference.startsWith(ORDER_PREFIX) ? "paypal" : "3ds",
    amount: row.amount,
    currency: row.currency,
    open: row.outcome === "requires_action",
    returnOrigins: [...new Set([row.returnUrl, row.cancelUrl].flatMap((url) => (url === null ? [] : [new URL(url).origin])))],
  };
}

/**
 * The customer's choice, once: a waiting card charge is charged (approve) or declined
 * authentication_failed (fail); a PayPal order is approved by a simulated buyer (the capture is
 * still paystream's to make) or canceled by the buyer. Answers where the browser goes next, or
 * undefined when nothing waits under this reference any more.
 */
export async function completeAction(db: Database, reference: string, choice: ActionChoice): Promise<{ paymentId: string; redirectTo: string } | undefined> {
  if (!REFERENCE.test(reference)) return undefined;
  const order = reference.startsWith(ORDER_PREFIX);
  const payerId = `SIMPAYER${randomBytes(5).toString("hex").toUpperCase()}`;
  const set =
    choice === "fail"
      ? { outcome: "declined" as const, declineCode: AUTHENTICATION_FAILED }
      : order
        ? { outcome: "buyer_approved" as const, payerId, payerEmail: `buyer-${payerId.slice(8).toLowerCase()}@simulator.paystream.test` }
        : { outcome: "approved" as const };
  const [row] = await db
    .update(simulatorCharges)
    .set({ ...set, requests: sql`${simulatorCharges.requests}` })
    .where(and(eq(simulatorCharges.reference, reference), eq(simulatorCharges.outcome, "requires_action")))
    .returning();
  if (!row || row.returnUrl === null) return undefined;
  const back = new URL(choice === "fail" && row.cancelUrl !== null ? row.cancelUrl : row.returnUrl);
  back.searchParams.set("payment_id", row.paymentId);
  return { paymentId: row.paymentId, redirectTo: back.href };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page: the amount, and two buttons that POST the choice back to the same path. */
export function actionPageHtml(action: WaitingAction, amountText: string): string {
  const title = action.kind === "paypal" ? "PayPal (simulated): approve the payment" : "3-D Secure (simulated): authenticate the payment";
  const approve = action.kind === "paypal" ? "Approve and pay" : "Complete authentication";
  const fail = action.kind === "paypal" ? "Cancel and return" : "Fail authentication";
  const body = action.open
    ? `<p>Amount: <strong id="amount">${escapeHtml(amountText)}</strong></p>
<form method="post" action="${escapeHtml(action.reference)}/approve"><button id="approve" type="submit">${approve}</button></form>
<form method="post" action="${escapeHtml(action.reference)}/fail"><button id="fail" type="submit">${fail}</button></form>`
    : `<p id="closed">This payment no longer waits for you.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}form{display:inline-block;margin:0 .5rem 0 0}button{font-size:1rem;padding:.5rem 1rem}</style>
</head><body><h1>${title}</h1><p>paystream's gateway simulator stands in for the ${action.kind === "paypal" ? "buyer's PayPal account" : "card issuer"}; nothing is charged for real.</p>
${body}
</body></html>`;
}
