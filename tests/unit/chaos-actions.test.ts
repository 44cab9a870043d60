import { describe, expect, it } from "bun:test";
import {
  type ActionCustomer,
  type ActionLedgerRow,
  type ActionPaymentRow,
  type ActionPlan,
  allowedEndings,
  isActionSlot,
  judgeActionRows,
  planAction,
} from "../../scripts/chaos-actions";

/**
 * The chaos run's customer-action cohort (scripts/chaos-actions.ts): what it plans, and that its
 * verdict catches what it must (a payment charged without its customer's approval, a wait left
 * open at the gateway, an ending its customer and merchant do not allow).
 */
const TTL = 20_000;

function customer(plan: Partial<ActionPlan>, seen: Partial<ActionCustomer> = {}): ActionCustomer {
  return {
    paymentId: "pay_1",
    plan: { method: "3ds_card", capture: true, customer: "approve", actAfterMs: 1_000, merchantCancelAfterMs: null, ...plan },
    waitingSeenMs: 500,
    act: { requests: 0 },
    cancel: { requests: 0 },
    done: true,
    ...seen,
  };
}
const sent = (answer: number) => ({ firstSentMs: 1_500, firstSentAt: Date.parse("2026-12-07T12:00:00Z"), requests: 1, answer });
const row = (status: string, failureCode: string | null = null, completedAt: string | null = null): ActionPaymentRow => ({
  id: "pay_1",
  status,
  failure_code: failureCode,
  completed_at: completedAt === null ? null : new Date(completedAt),
});
const ledger = (outcome: string, operation = "charge"): ActionLedgerRow[] => [{ payment_id: "pay_1", operation, outcome }];

describe("chaos customer-action plans", () => {
  it("makes every tenth payment of the stream wait for its customer, in a slot no capture/refund plan uses", () => {
    const slots = Array.from({ length: 100 }, (_, i) => i).filter(isActionSlot);
    expect(slots).toEqual([7, 17, 27, 37, 47, 57, 67, 77, 87, 97]);
  });

  it("covers every method, authorize-only payments, every customer behaviour and merchant cancels (abandoned and racing an approval, 3-D Secure and PayPal) in 35 payments", () => {
    const plans = Array.from({ length: 35 }, (_, j) => planAction(10 * j + 7, TTL, () => 0.5));
    expect(new Set(plans.map((p) => p.method))).toEqual(new Set(["3ds_card", "3ds_payment_method", "paypal"]));
    expect(plans.some((p) => !p.capture)).toBe(true);
    expect(new Set(plans.map((p) => p.customer))).toEqual(new Set(["approve", "approve_at_fault", "fail", "abandon"]));
    const canceled = plans.filter((p) => p.merchantCancelAfterMs !== null);
    expect(canceled.some((p) => p.customer === "abandon")).toBe(true);
    const races = canceled.filter((p) => p.customer === "approve");
    expect(new Set(races.map((p) => p.method === "paypal"))).toEqual(new Set([true, false]));
    // Customers act within the wait's first half; merchants cancel abandoned ones within its first 40%.
    for (const p of plans) {
      expect(p.actAfterMs).toBeLessThanOrEqual(TTL / 2);
      if (p.customer === "abandon" && p.merchantCancelAfterMs !== null) expect(p.merchantCancelAfterMs).toBeLessThanOrEqual(0.4 * TTL);
    }
  });
});

describe("chaos customer-action verdict", () => {
  it("allows only COMPLETED once the page took a 3-D Secure approval, even when the merchant's cancel was accepted", () => {
    expect([...allowedEndings(customer({ merchantCancelAfterMs: 1_000 }, { act: sent(303), cancel: sent(202) }))]).toEqual(["COMPLETED"]);
  });

  it("lets a PayPal approval lose the race to an accepted cancel (CANCELED, not charged), never to the expiry then", () => {
    const allowed = allowedEndings(customer({ method: "paypal", merchantCancelAfterMs: 1_000 }, { act: sent(303), cancel: sent(202) }));
    expect([...allowed].sort()).toEqual(["CANCELED", "COMPLETED"]);
  });

  it("ends an abandoned payment FAILED authentication_expired, or CANCELED when the merchant's cancel was accepted", () => {
    expect([...allowedEndings(customer({ customer: "abandon" }))]).toEqual(["FAILED authentication_expired"]);
    expect([...allowedEndings(customer({ customer: "abandon", merchantCancelAfterMs: 1 }, { cancel: sent(202) }))]).toEqual(["CANCELED"]);
  });

  it("ends a failed authentication FAILED authentication_failed (or expired when it came too late), never COMPLETED", () => {
    const allowed = allowedEndings(customer({ customer: "fail" }, { act: sent(303) }));
    expect([...allowed].sort()).toEqual(["FAILED authentication_expired", "FAILED authentication_failed"]);
  });

  it("allows a payment its customer never saw waiting only to have run out of attempts", () => {
    expect([...allowedEndings(customer({}, { waitingSeenMs: undefined, endedBeforeWaiting: "FAILED gateway_unavailable" }))]).toEqual(["FAILED gateway_unavailable"]);
  });

  it("passes a payment charged after its customer's approval", () => {
    const approved = customer({}, { act: sent(303) });
    const verdict = judgeActionRows([approved], [row("COMPLETED", null, "2026-12-07T12:00:01Z")], ledger("approved"), []);
    expect(verdict.violations).toEqual([]);
    expect(verdict.endings).toEqual({ COMPLETED: 1 });
  });

  it("flags a payment charged although its customer abandoned it, and one completed before the approval was sent", () => {
    const abandoned = judgeActionRows([customer({ customer: "abandon" })], [row("COMPLETED", null, "2026-12-07T12:00:01Z")], ledger("approved"), []);
    expect(abandoned.chargedWithoutApproval).toEqual(["pay_1"]);
    expect(abandoned.wrong).toHaveLength(1);
    const early = judgeActionRows([customer({}, { act: sent(303) })], [row("COMPLETED", null, "2026-12-07T11:59:59Z")], ledger("approved"), []);
    expect(early.completedBeforeApproval).toEqual(["pay_1"]);
    expect(early.violations).toHaveLength(1);
  });

  it("flags an expired payment whose charge the gateway still holds open for the customer", () => {
    const verdict = judgeActionRows([customer({ customer: "abandon" })], [row("FAILED", "authentication_expired")], ledger("requires_action"), []);
    expect(verdict.leftOpenAtGateway).toEqual(["pay_1"]);
    expect(verdict.violations).toHaveLength(1);
    expect(judgeActionRows([customer({ customer: "abandon" })], [row("FAILED", "authentication_expired")], ledger("canceled"), []).violations).toEqual([]);
  });

  it("counts approvals first sent during a fault and those the page took just before a SIGKILL", () => {
    const timeline = [{ atMs: 2_000, tookMs: 3_000, what: "SIGKILL worker-0 (pid 1); restarted" }];
    const verdict = judgeActionRows([customer({}, { act: sent(303) })], [row("COMPLETED", null, "2026-12-07T12:00:01Z")], ledger("approved"), timeline);
    expect(verdict.approvalsJustBeforeKill).toBe(1);
    const during = judgeActionRows([customer({}, { act: { ...sent(303), firstSentMs: 2_500 } })], [row("COMPLETED", null, "2026-12-07T12:00:01Z")], ledger("approved"), timeline);
    expect(during.actsDuringFaults).toEqual({ "kill-worker": 1 });
  });
});
