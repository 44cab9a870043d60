import { Elysia } from "elysia";
import { type ActionChoice, actionPageHtml, completeAction, findWaitingAction } from "../modules/gateways";
import type { Database } from "../modules/database";
import { currencyExponent, formatDecimal } from "../modules/money";
import { checkActionNow } from "../modules/payments";
import type { Logger } from "../modules/runtime";
import { SIMULATOR_ACTION_PATH } from "./context";

/**
 * No script, no outside resource; the forms post to this page's own path only, and the answer's
 * redirect may lead only back to the merchant (browsers hold redirects of a form to form-action too).
 */
const contentSecurityPolicy = (returnOrigins: string[]) =>
  `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${returnOrigins.join(" ")}; frame-ancestors 'none'; base-uri 'none'`;
const pageHeaders = (returnOrigins: string[]) => ({
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": contentSecurityPolicy(returnOrigins),
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
});
/** A customer's page, not the merchant API: left out of the OpenAPI document. */
const NOT_API = { detail: { hide: true } };
const CHOICES: ReadonlySet<string> = new Set<ActionChoice>(["approve", "fail"]);

const notFound = () => new Response("No payment waits under this reference.", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });

/**
 * The simulator's customer-facing page (README, "3-D Secure and PayPal Checkout with the
 * simulator"): served outside production only, and only when GATEWAY=simulator. The customer's
 * browser has no API key; the reference in the path (random, from the simulator's ledger) is what
 * the merchant's `nextAction.url` gave them, as a real gateway's page is reached. Once they chose,
 * the payment is looked up at once instead of at its next scheduled check.
 */
export function simulatorPages(db: Database, logger: Logger, wakeReconciler: () => void = () => {}) {
  return new Elysia({ name: "simulator-pages" })
    .get(`${SIMULATOR_ACTION_PATH}/:reference`, async ({ params }) => {
      const action = await findWaitingAction(db, params.reference);
      if (!action) return notFound();
      return new Response(actionPageHtml(action, `${formatDecimal(action.amount, currencyExponent(action.currency) ?? 2)} ${action.currency}`), { headers: pageHeaders(action.returnOrigins) });
    }, NOT_API)
    .post(`${SIMULATOR_ACTION_PATH}/:reference/:choice`, async ({ params }) => {
      if (!CHOICES.has(params.choice)) return notFound();
      const done = await completeAction(db, params.reference, params.choice as ActionChoice);
      if (!done) return notFound();
      // Due now, and this process's reconciler (with --role=all) asked at once rather than at its next poll.
      if (await checkActionNow(db, done.paymentId)) wakeReconciler();
      logger.info({ paymentId: done.paymentId, choice: params.choice }, "the customer acted on the simulator's page");
      return new Response(null, { status: 303, headers: { location: done.redirectTo, "cache-control": "no-store" } });
    }, NOT_API);
}
