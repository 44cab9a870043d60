/**
 * The payments of a chaos run that wait for their customer (REQUIRES_ACTION, docs/CONTRACT.md §9,
 * §12): 3-D Secure cards and payment methods, and PayPal Checkout orders, some authorized only and
 * then captured. Each has a planned customer, played over HTTP as a browser would (the
 * `nextAction.url` page, then its approve or fail button, redirects not followed): approve after a
 * random delay, approve just as the next fault starts (a worker or the api killed, the database
 * cut, the broker stopped right after the approval), fail, or abandon (never act: the wait runs out
 * after ACTION_TTL_MS). The merchant cancels some waiting payments, a few of them while their
 * customer approves.
 *
 * The verdict, from the database and the simulator's ledger: every waiting payment ends final;
 * none is charged without its customer's approval, or before it; a 3-D Secure approval the page
 * took is charged; a wait that ended (expired, canceled) is closed at the gateway too, so nothing
 * can be charged later; each ends in a state its customer and merchant allow (an approval that
 * lands after the cancel or the expiry loses the race: then nothing is charged).
 */
import type postgres from "postgres";
import { paymentBody, paymentMethodBody } from "../tests/support/payments";
import { type FollowUp, type MerchantHttp, runFollowUp } from "./chaos-operations";

export type ActionMethod = "3ds_card" | "3ds_payment_method" | "paypal";
export type CustomerBehaviour = "approve" | "approve_at_fault" | "fail" | "abandon";

export interface ActionPlan {
  method: ActionMethod;
  /** false: authorized once approved, then captured by the merchant (see runFollowUp). */
  capture: boolean;
  customer: CustomerBehaviour;
  /** How long after the payment is first seen waiting the customer acts (approve, fail; the at-fault approval's latest). */
  actAfterMs: number;
  /** How long after the payment is first seen waiting the merchant cancels it; null: never. */
  merchantCancelAfterMs: number | null;
}

/** Stripe's 3-D Secure test card that always asks for authentication (docs/CONTRACT.md §9). */
export const THREE_D_SECURE_CARD = "4000000000003220";
/** Where the customer's browser would go back to; the chaos customer does not follow the redirect. */
const RETURN_URL = "http://127.0.0.1/chaos-shop/return";
const CANCEL_URL = "http://127.0.0.1/chaos-shop/cart";
/** Every tenth payment of the stream (a slot chaos-operations.ts plans nothing for) waits for its customer. */
const SLOT = 7;

export function isActionSlot(i: number): boolean {
  return i % 10 === SLOT;
}

/**
 * The plan of the `i`-th payment of the stream, in an action slot: methods, capture and customer
 * behaviour in turn (so a small run has each), delays drawn from `random` within the wait
 * (`ttlMs`): approvals and failures within its first half, merchant cancels within its first 40%.
 */
export function planAction(i: number, ttlMs: number, random: () => number = Math.random): ActionPlan {
  const j = Math.floor(i / 10);
  const method = (["3ds_card", "paypal", "3ds_payment_method", "paypal"] as const)[j % 4] as ActionMethod;
  const customer = (["approve", "approve", "approve_at_fault", "approve", "fail", "approve", "abandon", "fail", "approve_at_fault", "abandon"] as const)[
    j % 10
  ] as CustomerBehaviour;
  const within = (from: number, to: number) => Math.round(ttlMs * (from + (to - from) * random()));
  const actAfterMs = customer === "abandon" ? 0 : customer === "approve_at_fault" ? Math.round(ttlMs / 2) : within(0.03, 0.5);
  // Half the abandoned ones are canceled by the merchant; three approvals in twenty (PayPal and
  // 3-D Secure) race a merchant's cancel sent within 300 ms of them.
  const racing = j % 10 === 5 || j % 20 === 10;
  const merchantCancelAfterMs =
    customer === "abandon" && j % 10 === 6 ? within(0.1, 0.4) : racing ? Math.max(0, actAfterMs + Math.round(600 * (random() - 0.5))) : null;
  return { method, capture: j % 3 !== 2, customer, actAfterMs, merchantCancelAfterMs };
}

/** The payment request of a plan: 1999 minor units, like the rest of the stream. */
export function actionBody(plan: ActionPlan): Record<string, unknown> {
  const extra = { returnUrl: RETURN_URL, ...(plan.capture ? {} : { capture: false }) };
  switch (plan.method) {
    case "3ds_card":
      return paymentBody(THREE_D_SECURE_CARD, extra);
    case "3ds_payment_method":
      return paymentMethodBody("pm_card_threeDSecure2Required", extra);
    case "paypal":
      return paymentMethodBody("paypal", { ...extra, cancelUrl: CANCEL_URL });
  }
}

/** A short label for the report (in place of a card number). */
export function actionLabel(plan: ActionPlan): string {
  return `${plan.method}${plan.capture ? "" : " authorize"} ${plan.customer}${plan.merchantCancelAfterMs === null ? "" : " +merchant cancel"}`;
}

/** The customer's browser: no API key, redirects not followed; undefined when nothing answered (refused, reset, timeout). */
export interface CustomerHttp {
  browse(method: "GET" | "POST", path: string): Promise<{ status: number; location: string | null; body: string } | undefined>;
}

/** One request the customer or the merchant sent about a waiting payment (times since the first payment was sent). */
export interface Act {
  /** When the first request left; undefined when none did. */
  firstSentMs?: number;
  /** When it left, by the wall clock (to compare with the database's timestamps). */
  firstSentAt?: number;
  requests: number;
  /** The last answer's status: 303 (the page took it), 404 (nothing waits any more), 202 / 409 (a cancel). */
  answer?: number;
}

export interface ActionCustomer {
  paymentId: string;
  plan: ActionPlan;
  /** When the customer first saw it waiting (REQUIRES_ACTION with its page), since the first payment. */
  waitingSeenMs?: number;
  /** Final before the customer ever saw it waiting: its status and code. */
  endedBeforeWaiting?: string;
  /** The page, loaded before acting: 200 with the buttons, or not. */
  pageOpen?: boolean;
  act: Act;
  cancel: Act;
  /** The merchant's capture of an approved authorization (plan.capture false). */
  capture?: FollowUp;
  done: boolean;
}

const POLL_MS = 300;
/** How long a fault waits for the approvals it set off before it strikes. */
const AT_FAULT_WAIT_MS = 1_000;

export type FaultName = "kill-worker" | "kill-api" | "restart-broker" | "cut-db";

/**
 * The cohort's customers and merchant, run through the same faults as the rest of the stream.
 * `beforeFault` is called by each fault just before it strikes: customers waiting to approve at
 * a fault do so then, and the fault waits (at most a second) for the page to take their approval,
 * so it strikes right after it.
 */
export function createActionCohort(options: { http: MerchantHttp; customerHttp: CustomerHttp; since: () => number }) {
  const { http, customerHttp, since } = options;
  const customers: ActionCustomer[] = [];
  const runs: Promise<void>[] = [];
  /** Customers waiting to approve at the next fault: each resolves its approval's promise. */
  let atNextFault: (() => Promise<void>)[] = [];

  async function pollUntilWaiting(customer: ActionCustomer): Promise<{ reference: string } | undefined> {
    while (!http.stopped()) {
      const payment = (await http.request("GET", `/v1/payments/${customer.paymentId}`))?.json as
        | { status?: string; failureCode?: string | null; nextAction?: { url: string } | null }
        | undefined;
      if (payment?.status === "REQUIRES_ACTION" && payment.nextAction?.url) {
        customer.waitingSeenMs = since();
        // The page's address as the worker that recorded the wait knew it; the api may have moved since: keep the reference.
        return { reference: new URL(payment.nextAction.url).pathname.split("/").pop() as string };
      }
      if (payment?.status === "COMPLETED" || payment?.status === "FAILED" || payment?.status === "CANCELED" || payment?.status === "AUTHORIZED") {
        customer.endedBeforeWaiting = `${payment.status}${payment.failureCode ? ` ${payment.failureCode}` : ""}`;
        return undefined;
      }
      await http.sleep(POLL_MS);
    }
    return undefined;
  }

  /** Sends `send` until something answers other than a 5xx or 429, recording it in `act`. */
  async function persist(act: Act, send: () => Promise<number | undefined>): Promise<void> {
    for (let retry = 0; !http.stopped(); retry++) {
      if (act.firstSentMs === undefined) {
        act.firstSentMs = since();
        act.firstSentAt = Date.now();
      }
      act.requests++;
      const status = await send();
      if (status !== undefined) act.answer = status;
      if (status !== undefined && status < 500 && status !== 429) return;
      await http.sleep(Math.min(2_000, 200 * 1.5 ** retry));
    }
  }

  async function customerActs(customer: ActionCustomer, reference: string, choice: "approve" | "fail", loadPage: boolean): Promise<void> {
    const path = `/simulator/actions/${reference}`;
    if (loadPage) {
      const page = await customerHttp.browse("GET", path);
      if (page) customer.pageOpen = page.status === 200 && page.body.includes(`id="${choice}"`);
    }
    await persist(customer.act, async () => (await customerHttp.browse("POST", `${path}/${choice}`))?.status);
  }

  async function merchantCancels(customer: ActionCustomer, afterMs: number): Promise<void> {
    await http.sleep(afterMs);
    await persist(customer.cancel, async () => (await http.request("POST", `/v1/payments/${customer.paymentId}/cancel`, { reason: "abandoned" }))?.status);
  }

  async function run(customer: ActionCustomer): Promise<void> {
    const waiting = await pollUntilWaiting(customer);
    if (!waiting) {
      customer.done = !http.stopped();
      return;
    }
    const { plan } = customer;
    const parts: Promise<void>[] = [];
    if (plan.merchantCancelAfterMs !== null) parts.push(merchantCancels(customer, plan.merchantCancelAfterMs));
    switch (plan.customer) {
      case "approve":
      case "fail":
        parts.push(http.sleep(plan.actAfterMs).then(() => customerActs(customer, waiting.reference, plan.customer === "fail" ? "fail" : "approve", true)));
        break;
      case "approve_at_fault":
        parts.push(
          new Promise<void>((resolve) => {
            let fired = false;
            const fire = () => {
              if (fired) return Promise.resolve();
              fired = true;
              const approval = customerActs(customer, waiting.reference, "approve", false);
              approval.then(resolve, resolve);
              return approval;
            };
            atNextFault.push(fire);
            // No fault within the wait's first half: the customer approves anyway.
            void http.sleep(plan.actAfterMs).then(fire);
          }),
        );
        break;
      case "abandon":
        break;
    }
    await Promise.all(parts);
    if (!plan.capture && (plan.customer === "approve" || plan.customer === "approve_at_fault") && !http.stopped()) {
      customer.capture = { paymentId: customer.paymentId, plan: { manual: { then: "capture", amount: null }, refunds: [], concurrentRefunds: false }, refunds: [], requests: 0, done: false };
      await runFollowUp(customer.capture, http);
    }
    customer.done = !http.stopped();
  }

  return {
    customers,
    /** Plays the customer (and merchant) of an accepted payment of the cohort. */
    follow(paymentId: string, plan: ActionPlan): void {
      const customer: ActionCustomer = { paymentId, plan, act: { requests: 0 }, cancel: { requests: 0 }, done: false };
      customers.push(customer);
      runs.push(run(customer));
    },
    async beforeFault(): Promise<void> {
      const due = atNextFault;
      atNextFault = [];
      if (due.length === 0) return;
      await Promise.race([Promise.allSettled(due.map((fire) => fire())), http.sleep(AT_FAULT_WAIT_MS)]);
    },
    open: () => customers.filter((c) => !c.done).length,
    settled: () => Promise.allSettled(runs),
  };
}

export type ActionCohort = ReturnType<typeof createActionCohort>;

/** What the database and the ledger hold of one payment of the cohort, once the run is over. */
export interface ActionObservation {
  status: string | undefined;
  failureCode: string | null;
  /** The customer's charge or authorization in the simulator's ledger (under the payment's key): its outcome, or undefined when none. */
  ledgerOutcome: string | undefined;
  /** An approved charge or capture in the ledger. */
  charged: boolean;
  completedAt: number | undefined;
}

/**
 * The states a payment of the cohort may end in, given what its customer and merchant did and
 * were told: "COMPLETED", "FAILED <code>", "CANCELED".
 */
export function allowedEndings(customer: ActionCustomer): Set<string> {
  const allowed = new Set<string>();
  if (customer.waitingSeenMs === undefined) {
    // Only a charge the gateway never answered ends before waiting: out of attempts, never charged.
    allowed.add("FAILED gateway_unavailable");
    return allowed;
  }
  const { plan, act, cancel } = customer;
  const approving = plan.customer === "approve" || plan.customer === "approve_at_fault";
  if (approving && act.firstSentMs !== undefined) allowed.add("COMPLETED");
  // The page took a 3-D Secure approval: the issuer charged it, no cancel or expiry can undo that.
  if (approving && act.answer === 303 && plan.method !== "paypal") return allowed;
  if (cancel.firstSentMs !== undefined) allowed.add("CANCELED");
  // A cancel the api accepted wins over the expiry (one guarded move each; docs/CONTRACT.md §9).
  if (cancel.answer !== 202) allowed.add("FAILED authentication_expired");
  if (plan.customer === "fail" && act.firstSentMs !== undefined) allowed.add("FAILED authentication_failed");
  return allowed;
}

export interface ActionsVerdict {
  payments: number;
  byMethod: Record<string, number>;
  authorizeOnly: number;
  byCustomer: Record<string, number>;
  sawWaiting: number;
  endedBeforeWaiting: Record<string, number>;
  /** The customers' approve or fail requests, by what answered last: 303 (taken), 404 (too late), none. */
  acts: Record<string, number>;
  pageRequests: number;
  merchantCancels: Record<string, number>;
  /** Approvals and failures first sent while a fault was under way (from its start until the process, broker or database was back), by fault; faults overlap. */
  actsDuringFaults: Record<string, number>;
  /** Approvals the page took within 2 s before a process was killed. */
  approvalsJustBeforeKill: number;
  endings: Record<string, number>;
  capturedAfterAuthorization: number;
  /** Charged (or authorized) at the gateway, or COMPLETED, although the customer never approved: must be empty. */
  chargedWithoutApproval: string[];
  /** COMPLETED before the customer's approval was sent (by the database's clock): must be empty. */
  completedBeforeApproval: string[];
  /** Final, not charged, yet the gateway still holds the charge open for the customer (requires_action, buyer_approved): must be empty. */
  leftOpenAtGateway: string[];
  wrong: { id: string; plan: string; expected: string; got: string }[];
  violations: string[];
}

export interface ActionPaymentRow {
  id: string;
  status: string;
  failure_code: string | null;
  completed_at: Date | null;
}
export interface ActionLedgerRow {
  payment_id: string;
  operation: string;
  outcome: string;
}
type FaultWindow = { atMs: number; tookMs: number; what: string };

/** The verdict on the cohort, from the database and the simulator's ledger. */
export async function judgeActions(sql: postgres.Sql, customers: ActionCustomer[], timeline: FaultWindow[]): Promise<ActionsVerdict> {
  const ids = customers.map((c) => c.paymentId);
  const [payments, ledger] = await Promise.all([
    sql<ActionPaymentRow[]>`select id, status, failure_code, completed_at from payments where id = any(${ids})`,
    sql<ActionLedgerRow[]>`select payment_id, operation, outcome from simulator_charges where payment_id = any(${ids})`,
  ]);
  return judgeActionRows(customers, payments, ledger, timeline);
}

/** The verdict on the cohort's customers, given their payments' rows and the simulator's ledger rows of them. */
export function judgeActionRows(customers: ActionCustomer[], payments: ActionPaymentRow[], ledger: ActionLedgerRow[], timeline: FaultWindow[]): ActionsVerdict {
  const paymentOf = new Map(payments.map((p) => [p.id, p]));
  const observe = (id: string): ActionObservation => {
    const rows = ledger.filter((r) => r.payment_id === id);
    const payment = paymentOf.get(id);
    return {
      status: payment?.status,
      failureCode: payment?.failure_code ?? null,
      ledgerOutcome: rows.find((r) => r.operation === "charge" || r.operation === "authorize")?.outcome,
      charged: rows.some((r) => r.outcome === "approved" && (r.operation === "charge" || r.operation === "capture")),
      completedAt: payment?.completed_at?.getTime(),
    };
  };
  const count = (counts: Record<string, number>, key: string) => {
    counts[key] = (counts[key] ?? 0) + 1;
  };
  const faultKind = (what: string) =>
    what.startsWith("SIGKILL worker") ? "kill-worker" : what.startsWith("SIGKILL api") ? "kill-api" : what.startsWith("Kafka") ? "restart-broker" : "cut-db";
  const kills = timeline.filter((t) => t.what.startsWith("SIGKILL")).map((t) => t.atMs);

  const verdict: ActionsVerdict = {
    payments: customers.length,
    byMethod: {},
    authorizeOnly: 0,
    byCustomer: {},
    sawWaiting: 0,
    endedBeforeWaiting: {},
    acts: {},
    pageRequests: 0,
    merchantCancels: {},
    actsDuringFaults: {},
    approvalsJustBeforeKill: 0,
    endings: {},
    capturedAfterAuthorization: 0,
    chargedWithoutApproval: [],
    completedBeforeApproval: [],
    leftOpenAtGateway: [],
    wrong: [],
    violations: [],
  };
  for (const customer of customers) {
    const { plan, act, cancel, paymentId } = customer;
    const seen = observe(paymentId);
    count(verdict.byMethod, plan.method);
    if (!plan.capture) verdict.authorizeOnly++;
    count(verdict.byCustomer, plan.customer);
    if (customer.waitingSeenMs !== undefined) verdict.sawWaiting++;
    if (customer.endedBeforeWaiting) count(verdict.endedBeforeWaiting, customer.endedBeforeWaiting);
    if (plan.customer !== "abandon" && customer.waitingSeenMs !== undefined)
      count(verdict.acts, `${plan.customer === "fail" ? "fail" : "approve"} ${act.answer ?? "unanswered"}`);
    verdict.pageRequests += act.requests;
    if (cancel.requests > 0) count(verdict.merchantCancels, String(cancel.answer ?? "unanswered"));
    const sent = act.firstSentMs;
    if (sent !== undefined) {
      for (const during of timeline) if (sent >= during.atMs && sent <= during.atMs + during.tookMs) count(verdict.actsDuringFaults, faultKind(during.what));
      if (act.answer === 303 && plan.customer !== "fail" && kills.some((k) => k >= sent && k - sent <= 2_000)) verdict.approvalsJustBeforeKill++;
    }

    const ending = seen.status === "FAILED" ? `FAILED ${seen.failureCode}` : String(seen.status);
    count(verdict.endings, ending);
    if (!plan.capture && seen.status === "COMPLETED") verdict.capturedAfterAuthorization++;
    const approved = (plan.customer === "approve" || plan.customer === "approve_at_fault") && sent !== undefined;
    const gatewayTook = seen.charged || seen.ledgerOutcome === "approved";
    if ((gatewayTook || seen.status === "COMPLETED" || seen.status === "AUTHORIZED") && !approved) verdict.chargedWithoutApproval.push(paymentId);
    if (seen.status === "COMPLETED" && plan.capture && seen.completedAt !== undefined && customer.act.firstSentAt !== undefined && seen.completedAt < customer.act.firstSentAt)
      verdict.completedBeforeApproval.push(paymentId);
    if (seen.status !== undefined && seen.status !== "COMPLETED" && (seen.ledgerOutcome === "requires_action" || seen.ledgerOutcome === "buyer_approved"))
      verdict.leftOpenAtGateway.push(paymentId);
    const allowed = allowedEndings(customer);
    if (!allowed.has(ending)) verdict.wrong.push({ id: paymentId, plan: actionLabel(plan), expected: [...allowed].join(" | ") || "nothing", got: `${ending}, ledger ${seen.ledgerOutcome ?? "none"}` });
  }
  const v = verdict.violations;
  if (verdict.chargedWithoutApproval.length) v.push(`${verdict.chargedWithoutApproval.length} payments waiting for their customer were charged or completed without the customer's approval`);
  if (verdict.completedBeforeApproval.length) v.push(`${verdict.completedBeforeApproval.length} payments waiting for their customer were completed before the approval was sent`);
  if (verdict.leftOpenAtGateway.length) v.push(`${verdict.leftOpenAtGateway.length} payments ended while the gateway still held them open for the customer`);
  if (verdict.wrong.length) v.push(`${verdict.wrong.length} payments waiting for their customer ended in a state their customer and merchant do not allow`);
  const unanswered = customers.filter((c) => !c.done).length;
  if (unanswered) v.push(`${unanswered} customers or merchants of waiting payments never got their answer`);
  return verdict;
}

/** The report's lines about the payments that waited for their customer. */
export function formatActions(v: ActionsVerdict): string[] {
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none";
  return [
    `  customer action:  ${v.payments} payments (${list(v.byMethod)}; ${v.authorizeOnly} authorize only), customers: ${list(v.byCustomer)}; ${v.sawWaiting} seen waiting (ended before: ${list(v.endedBeforeWaiting)})`,
    `      acts: ${list(v.acts)} (${v.pageRequests} page requests); merchant cancels: ${list(v.merchantCancels)}; first sent during a fault: ${list(v.actsDuringFaults)}; approvals taken ≤2 s before a SIGKILL: ${v.approvalsJustBeforeKill}`,
    `      ended: ${list(v.endings)} (${v.capturedAfterAuthorization} captured after authorization)`,
    `      charged without approval: ${v.chargedWithoutApproval.length}; completed before approval: ${v.completedBeforeApproval.length}; left open at the gateway: ${v.leftOpenAtGateway.length}; wrong state: ${v.wrong.length}`,
    ...v.wrong.slice(0, 10).map((w) => `      ${w.id} (${w.plan}): expected ${w.expected}, got ${w.got}`),
  ];
}
