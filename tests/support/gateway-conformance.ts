/**
 * The behaviour every Gateway connector must show, run against each connector's test double.
 *
 * A connector's test file calls `runGatewayConformance(name, setup)`; `setup` starts a fresh
 * gateway (and whatever it talks to) for every test. Outcomes are decided by Stripe's test card
 * numbers (TEST_CARDS), which every test double maps to its own equivalent answers.
 */

import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { randomUUID } from "node:crypto";
import {
  type ActionRequest,
  AUTHENTICATION_FAILED,
  AUTHENTICATION_REQUIRED,
  type CaptureRequest,
  type ChargeRequest,
  type Gateway,
  type LookupRequest,
  type OperationLookupRequest,
  type RefundRequest,
  type VoidRequest,
} from "../../modules/gateways/port";
import { CARDS } from "./payments";

/** Stripe's documented test card numbers; any other card number is approved. */
export const TEST_CARDS = {
  approved: CARDS.visa,
  cardDeclined: CARDS.declined,
  insufficientFunds: CARDS.insufficientFunds,
  lostCard: CARDS.lostCard,
  stolenCard: CARDS.stolenCard,
  expiredCard: CARDS.expiredCard,
  incorrectCvc: CARDS.incorrectCvc,
  processingError: CARDS.processingError,
  // Not in the contract's simulator list: only the Stripe and PayPal fakes know it.
  authenticationRequired: "4000002500003155",
  // Charges and authorizations succeed; then refunds fail (Stripe's card), or captures are refused
  // (no Stripe card does that: the simulator's own number, which the fakes share).
  refundFails: "4000000000005126",
  captureRefused: "4000000000009961",
} as const;

/**
 * Faults a test double can inject, each on one API request:
 * - http429 / http500: answered with the gateway's error body before anything is processed;
 * - malformed: processed (a charge is recorded), then answered 200 with a body that is not JSON
 *   (odd occurrences) or JSON of the wrong shape (even occurrences);
 * - timeout-after-commit: processed (a charge is recorded), then never answered;
 * - connection-reset: the connection is dropped before anything is processed.
 */
export type GatewayFault = "http429" | "http500" | "malformed" | "timeout-after-commit" | "connection-reset";

export interface ConformanceHarness {
  gateway: Gateway;
  /** Distinct charges that took money for this payment id; idempotent replays do not count. */
  chargesFor(paymentId: string): number;
  /** What the gateway holds for this payment after captures, voids and refunds. */
  ledgerFor(paymentId: string): OperationLedger | Promise<OperationLedger>;
  /**
   * The next `n` API requests (OAuth token requests excluded) fail with `fault`, replacing any
   * faults still pending. `n` may be Infinity; 0 clears.
   */
  failNext(n: number, fault: GatewayFault): void;
  /** Strings that must never show in outcomes, errors or logs (API keys, client secrets). */
  secrets?: readonly string[];
  /**
   * Payment method ids the gateway holds for the merchant: one of a good Visa 4242 card, one of a
   * declined card, and (where the gateway's answer to it is known) one it does not hold.
   */
  paymentMethods: { approved: string; declined: string; unknown?: string };
  stop?(): Promise<void> | void;
}

/** Fault programming shared by the test doubles: one pending fault kind, optionally scoped. */
export class FaultQueue<Scope extends string> {
  private remaining = 0;
  private fault: GatewayFault = "http500";
  private scope: Scope | null = null;
  private malformedCount = 0;

  set(n: number, fault: GatewayFault, scope: Scope | null = null): void {
    this.remaining = n;
    this.fault = fault;
    this.scope = scope;
  }

  /** The fault for one request to `scope`; `onlyIfNamed` requests take faults only when set for their scope. */
  take(scope: Scope, onlyIfNamed = false): GatewayFault | null {
    const applies = this.scope === null ? !onlyIfNamed : this.scope === scope;
    if (this.remaining <= 0 || !applies) return null;
    this.remaining -= 1;
    return this.fault;
  }

  /** Alternates the two malformed bodies: true for a non-JSON body, false for a wrong-shape one. */
  nextMalformedIsText(): boolean {
    this.malformedCount += 1;
    return this.malformedCount % 2 === 1;
  }
}

export const TEST_CVC = "8264";

/** Stripe's documented test PaymentMethods for ConformanceHarness.paymentMethods, and an id no account holds. */
export const STRIPE_TEST_PAYMENT_METHOD_CASES = { approved: "pm_card_visa", declined: "pm_card_chargeDeclined", unknown: "pm_card_noSuchTestCard" } as const;

type ChargeOverrides = Partial<Omit<ChargeRequest, "card" | "paymentMethod" | "wallet" | "continues">>;

export function chargeRequest(card: string = TEST_CARDS.approved, overrides: ChargeOverrides = {}): ChargeRequest {
  const { paymentMethod: _none, wallet: _wallet, continues: _continues, ...fields } = paymentMethodChargeRequest("unused", overrides);
  return { ...fields, card: { number: card, expMonth: 12, expYear: 2034, cvc: TEST_CVC, holderName: "Ada Lovelace" } };
}

/** A charge paid with a payment method the gateway holds (docs/CONTRACT.md §9) instead of a card. */
export function paymentMethodChargeRequest(paymentMethod: string, overrides: ChargeOverrides = {}): ChargeRequest & { card?: never } {
  const paymentId = `pay_${randomUUID()}`;
  return {
    paymentId,
    idempotencyKey: `charge-${paymentId}`,
    amount: 1999,
    currency: "USD",
    paymentMethod,
    customer: { email: "ada@example.com", name: "Ada Lovelace", reference: "cust-1" },
    description: "Conformance test order",
    attempt: 1,
    capture: true,
    returnUrl: null,
    cancelUrl: null,
    ...overrides,
  };
}

/** The reconciler's question about `request`'s payment, asked a second after its last attempt. */
export function lookupRequest(request: ChargeRequest, overrides: Partial<LookupRequest> = {}): LookupRequest {
  const now = Date.now();
  return {
    paymentId: request.paymentId,
    idempotencyKey: request.idempotencyKey,
    amount: request.amount,
    currency: request.currency,
    gatewayReference: null,
    capture: request.capture,
    firstAttemptAt: new Date(now - 2_000),
    unknownSince: new Date(now - 2_000),
    lastAttemptAt: new Date(now - 1_000),
    replay: () => request,
    ...overrides,
  };
}

const DECLINE_FAMILIES: ReadonlyArray<{ family: string; card: string; codes: readonly string[] }> = [
  { family: "generic decline", card: TEST_CARDS.cardDeclined, codes: ["card_declined"] },
  { family: "insufficient funds", card: TEST_CARDS.insufficientFunds, codes: ["insufficient_funds"] },
  { family: "lost card", card: TEST_CARDS.lostCard, codes: ["lost_card"] },
  // Some gateways (PayPal) report lost and stolen cards with one code.
  { family: "stolen card", card: TEST_CARDS.stolenCard, codes: ["stolen_card", "lost_card"] },
  { family: "expired card", card: TEST_CARDS.expiredCard, codes: ["expired_card"] },
  { family: "incorrect CVC", card: TEST_CARDS.incorrectCvc, codes: ["incorrect_cvc"] },
  { family: "3-D Secure required", card: TEST_CARDS.authenticationRequired, codes: ["authentication_required"] },
];

/**
 * Completes or fails a payment's customer authentication at the gateway as its customer would
 * (3-D Secure at the page the `requires_action` answer named; a buyer's approval), with whatever
 * the gateway's test double offers for it.
 */
export type CustomerAuthentication = (harness: ConformanceHarness, action: { gatewayReference: string; url: string }, result: "complete" | "fail") => Promise<void>;

/** Where a merchant wants its customer back after authenticating (docs/CONTRACT.md §9). */
export const RETURN_URL = "https://shop.example/paystream/return?order=42";

export interface ConformanceOptions {
  /** false: the gateway cannot complete 3-D Secure cases. */
  authentication?: boolean;
  /**
   * How the gateway's test double lets a customer complete or fail authentication: given, the
   * customer authentication cases (REQUIRES_ACTION: requires_action, checkAction, cancelAction)
   * run against the gateway.
   */
  authenticate?: CustomerAuthentication;
  /**
   * false: the account takes only Stripe's test card numbers (an ordinary Stripe account, reached
   * through test PaymentMethods), so the cases needing another number (captureRefused) are skipped;
   * another run of the same gateway, with raw card data, covers them.
   */
  anyCardNumber?: boolean;
  /**
   * false: what the gateway answers for a payment method id it does not hold is not modelled by
   * its test double (PayPal's answer to an unknown vault id is not in its documentation), so that
   * case is skipped, not passed.
   */
  unknownPaymentMethod?: boolean;
}

export function runGatewayConformance(name: string, setup: () => Promise<ConformanceHarness>, options: ConformanceOptions = {}): void {
  const families = DECLINE_FAMILIES.filter((f) => options.authentication !== false || f.card !== TEST_CARDS.authenticationRequired);
  describe(`${name}: gateway conformance`, () => {
    let harness: ConformanceHarness;

    beforeEach(async () => {
      harness = await setup();
    });
    afterEach(async () => {
      await harness.stop?.();
    });

    const failNext = (n: number, fault: GatewayFault) => harness.failNext(n, fault);

    test("approves a good card and charges it once", async () => {
      const request = chargeRequest(TEST_CARDS.approved);
      const outcome = await harness.gateway.charge(request);
      expect(outcome).toMatchObject({ kind: "approved", gatewayReference: expect.any(String) });
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("charges a payment method the gateway holds once, and answers the card behind it", async () => {
      const paymentMethods = harness.paymentMethods;
      const request = paymentMethodChargeRequest(paymentMethods.approved);
      const outcome = await harness.gateway.charge(request);
      expect(outcome).toMatchObject({
        kind: "approved",
        gatewayReference: expect.any(String),
        card: { brand: "visa", last4: "4242", expMonth: expect.any(Number), expYear: expect.any(Number) },
      });
      // The gateway's own fingerprint, where it gives one (PayPal does not).
      expect(outcome.kind === "approved" && ["string", "object"].includes(typeof outcome.card?.fingerprint)).toBe(true);
      expect(await harness.gateway.charge({ ...request, attempt: 2 })).toEqual(outcome);
      expect(harness.chargesFor(request.paymentId)).toBe(1);
      // An authorization with a payment method holds the amount like one with a card.
      const authorization = paymentMethodChargeRequest(paymentMethods.approved, { capture: false });
      expect(await harness.gateway.charge(authorization)).toMatchObject({ kind: "approved" });
    });

    test("declines a payment method whose card is declined, with the card's code, charging nothing", async () => {
      const request = paymentMethodChargeRequest(harness.paymentMethods.declined);
      expect(await harness.gateway.charge(request)).toMatchObject({ kind: "declined", code: "card_declined" });
      expect(harness.chargesFor(request.paymentId)).toBe(0);
    });

    test.skipIf(options.unknownPaymentMethod === false)("declines a payment method id the gateway does not hold: payment_method_not_found", async () => {
      const unknown = harness.paymentMethods.unknown;
      expect(unknown).toBeString();
      const request = paymentMethodChargeRequest(unknown as string);
      expect(await harness.gateway.charge(request)).toMatchObject({ kind: "declined", code: "payment_method_not_found" });
      expect(harness.chargesFor(request.paymentId)).toBe(0);
    });

    test.each(families)("declines: $family", async ({ card, codes }) => {
      const request = chargeRequest(card);
      const outcome = await harness.gateway.charge(request);
      expect(outcome.kind).toBe("declined");
      if (outcome.kind !== "declined") return;
      expect(codes).toContain(outcome.code);
      expect(outcome.message.length).toBeGreaterThan(0);
      expect(harness.chargesFor(request.paymentId)).toBe(0);
      // Asking again with the same key gives the same answer.
      expect(await harness.gateway.charge(request)).toEqual(outcome);
    });

    test("the same payment charged twice with the same key is charged once", async () => {
      const request = chargeRequest();
      const first = await harness.gateway.charge(request);
      const second = await harness.gateway.charge({ ...request, attempt: 2 });
      expect(first.kind).toBe("approved");
      expect(second).toEqual(first);
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("http429 is transient, and the retry charges once", async () => {
      const request = chargeRequest();
      failNext(1, "http429");
      expect((await harness.gateway.charge(request)).kind).toBe("transient");
      expect(harness.chargesFor(request.paymentId)).toBe(0);
      expect((await harness.gateway.charge({ ...request, attempt: 2 })).kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("a 5xx is never 'nothing happened': unknown unless the adapter's replay settles it, and one charge at most", async () => {
      const request = chargeRequest();
      failNext(1, "http500");
      expect(["unknown", "approved"]).toContain((await harness.gateway.charge(request)).kind);
      expect((await harness.gateway.charge({ ...request, attempt: 2 })).kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("requests processed but never answered are unknown, and the next call resolves them with one charge", async () => {
      const request = chargeRequest();
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      expect((await harness.gateway.charge(request)).kind).toBe("unknown");
      // Charged already if the gateway takes the money on the first request; a two-step one may not have.
      expect(harness.chargesFor(request.paymentId)).toBeLessThanOrEqual(1);
      failNext(0, "timeout-after-commit");
      expect((await harness.gateway.charge({ ...request, attempt: 2 })).kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("a single lost answer is resolved (now or on the next call) without a second charge", async () => {
      const request = chargeRequest();
      failNext(1, "timeout-after-commit");
      const first = await harness.gateway.charge(request);
      expect(["approved", "unknown"]).toContain(first.kind);
      const final = first.kind === "approved" ? first : await harness.gateway.charge({ ...request, attempt: 2 });
      expect(final.kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("a 2xx answer that cannot be read is unknown (never transient, never a throw), and the retry charges once", async () => {
      const request = chargeRequest();
      failNext(Number.POSITIVE_INFINITY, "malformed");
      expect((await harness.gateway.charge(request)).kind).toBe("unknown");
      failNext(0, "malformed");
      expect((await harness.gateway.charge({ ...request, attempt: 2 })).kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("a charge whose answers were all lost is found by lookup: approved, never 'not charged'", async () => {
      const request = chargeRequest();
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      expect((await harness.gateway.charge(request)).kind).toBe("unknown");
      failNext(0, "timeout-after-commit");
      const found = await harness.gateway.lookup(lookupRequest(request));
      expect(found).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      expect(harness.chargesFor(request.paymentId)).toBe(1);
      // Asking again changes nothing.
      expect((await harness.gateway.lookup(lookupRequest(request))).kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("a lookup while the gateway fails is unknown, never 'not charged'", async () => {
      const request = chargeRequest();
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      await harness.gateway.charge(request);
      for (const fault of ["http500", "malformed", "connection-reset", "http429"] as const) {
        failNext(Number.POSITIVE_INFINITY, fault);
        const found = await harness.gateway.lookup(lookupRequest(request));
        expect(found.kind).not.toBe("not_charged");
        expect(found.kind).not.toBe("declined");
      }
      failNext(0, "http500");
    });

    test("a dropped connection never leads to a second charge", async () => {
      const request = chargeRequest();
      failNext(1, "connection-reset");
      const first = await harness.gateway.charge(request);
      expect(["approved", "transient", "unknown"]).toContain(first.kind);
      const final = first.kind === "approved" ? first : await harness.gateway.charge({ ...request, attempt: 2 });
      expect(final.kind).toBe("approved");
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("lookup finds an approved charge, and a decline, by the payment's id", async () => {
      const approved = chargeRequest();
      const charged = await harness.gateway.charge(approved);
      expect(await harness.gateway.lookup(lookupRequest(approved))).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      expect(charged.kind).toBe("approved");
      const declined = chargeRequest(TEST_CARDS.cardDeclined);
      await harness.gateway.charge(declined);
      expect((await harness.gateway.lookup(lookupRequest(declined))).kind).toBe("declined");
      expect(harness.chargesFor(approved.paymentId)).toBe(1);
      expect(harness.chargesFor(declined.paymentId)).toBe(0);
    });

    test("lookup ignores a record that does not carry the payment's amount or currency", async () => {
      const request = chargeRequest();
      expect((await harness.gateway.charge(request)).kind).toBe("approved");
      for (const other of [{ amount: request.amount + 1 }, { amount: 1 }, { currency: "EUR" }]) {
        const found = await harness.gateway.lookup(lookupRequest(request, { ...other, replay: () => ({ ...request, ...other }) }));
        expect(found.kind).toBe("unknown");
      }
      expect(harness.chargesFor(request.paymentId)).toBe(1);
    });

    test("lookup of a payment never sent never reports a charge that was not taken", async () => {
      const request = chargeRequest();
      const found = await harness.gateway.lookup(lookupRequest(request));
      // A gateway that can be asked only by replaying the charge takes the one charge then.
      if (found.kind === "approved") expect(harness.chargesFor(request.paymentId)).toBe(1);
      else expect(harness.chargesFor(request.paymentId)).toBe(0);
      expect(["not_charged", "approved", "unknown"]).toContain(found.kind);
      if (found.kind === "not_charged") {
        // And once "not charged" was said, a later charge under the key still charges at most once.
        expect((await harness.gateway.charge({ ...request, attempt: 2 })).kind).toBe("approved");
        expect(harness.chargesFor(request.paymentId)).toBe(1);
      }
    });

    test("never exposes card data or secrets in outcomes, errors or logs", async () => {
      const exposed: string[] = [];
      const consoleSpies = (["log", "info", "warn", "error", "debug"] as const).map((method) =>
        spyOn(console, method).mockImplementation((...args: unknown[]) => {
          exposed.push(args.map(String).join(" "));
        }),
      );
      const record = async (request: ChargeRequest): Promise<void> => {
        try {
          exposed.push(JSON.stringify(await harness.gateway.charge(request)));
        } catch (error) {
          exposed.push(error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error));
        }
      };
      try {
        for (const card of Object.values(TEST_CARDS)) await record(chargeRequest(card));
        for (const fault of ["http429", "http500", "malformed", "timeout-after-commit", "connection-reset"] as const) {
          failNext(1, fault);
          await record(chargeRequest());
        }
      } finally {
        for (const spy of consoleSpies) spy.mockRestore();
      }

      const text = exposed.join("\n");
      for (const card of Object.values(TEST_CARDS)) expect(text).not.toContain(card);
      expect(text).not.toMatch(new RegExp(`\\b${TEST_CVC}\\b`));
      for (const secret of harness.secrets ?? []) expect(text).not.toContain(secret);
    });
  });
  runOperationConformance(name, setup, options.anyCardNumber !== false);
  if (options.authenticate !== undefined) runAuthenticationConformance(name, setup, options.authenticate);
}

/** The worker's question about a payment waiting for its customer (REQUIRES_ACTION). */
export function actionRequest(charge: ChargeRequest, gatewayReference: string, overrides: Partial<ActionRequest> = {}): ActionRequest {
  return {
    paymentId: charge.paymentId,
    idempotencyKey: charge.idempotencyKey,
    gatewayReference,
    amount: charge.amount,
    currency: charge.currency,
    capture: charge.capture,
    paymentMethod: charge.paymentMethod ?? null,
    wallet: charge.wallet ?? null,
    ...overrides,
  };
}

/**
 * Customer authentication (docs/CONTRACT.md §9): with a returnUrl a charge that needs it waits for
 * the customer; without one it is declined authentication_required; checkAction follows what the
 * customer did; cancelAction makes sure a waiting payment can no longer be charged.
 */
function runAuthenticationConformance(name: string, setup: () => Promise<ConformanceHarness>, authenticate: CustomerAuthentication): void {
  describe(`${name}: customer authentication (3-D Secure)`, () => {
    let harness: ConformanceHarness;
    beforeEach(async () => {
      harness = await setup();
    });
    afterEach(async () => {
      await harness.stop?.();
    });

    /** A charge (or authorization) of the card that needs authentication, with a returnUrl, waiting for its customer. */
    async function waiting(capture = true): Promise<{ charge: ChargeRequest; action: { gatewayReference: string; url: string } }> {
      const charge = chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: RETURN_URL, capture });
      const outcome = await harness.gateway.charge(charge);
      if (outcome.kind !== "requires_action") throw new Error(`${name}: expected requires_action, got ${JSON.stringify(outcome)}`);
      return { charge, action: { gatewayReference: outcome.gatewayReference, url: outcome.url } };
    }

    test("with a returnUrl, a card that needs authentication waits for its customer at a URL, charging nothing; a replay under the key answers the same", async () => {
      const { charge, action } = await waiting();
      // Before the matchers below: Bun's toEqual/toMatchObject may write them into the object checked.
      expect(await harness.gateway.charge({ ...charge, attempt: 2 })).toEqual({ kind: "requires_action", ...action });
      expect({ ...action }).toEqual({ gatewayReference: expect.any(String), url: expect.stringMatching(/^https?:\/\//) });
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
      expect(await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference))).toEqual({ kind: "pending" });
    });

    test("without a returnUrl it is declined authentication_required at once, charging nothing", async () => {
      const charge = chargeRequest(TEST_CARDS.authenticationRequired);
      expect(await harness.gateway.charge(charge)).toMatchObject({ kind: "declined", code: AUTHENTICATION_REQUIRED });
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
    });

    test("completed by the customer: checkAction answers approved and the payment is charged once; asked again, the same", async () => {
      const { charge, action } = await waiting();
      await authenticate(harness, action, "complete");
      const found = await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference));
      expect(found).toMatchObject({ kind: "approved", gatewayReference: expect.any(String) });
      expect(harness.chargesFor(charge.paymentId)).toBe(1);
      expect(await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference))).toEqual(found);
      expect(harness.chargesFor(charge.paymentId)).toBe(1);
    });

    test("an authorization completed by the customer holds the amount without charging it, and its capture takes it once", async () => {
      const { charge, action } = await waiting(false);
      await authenticate(harness, action, "complete");
      const found = await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference));
      if (found.kind !== "approved") throw new Error(`${name}: authorization not approved: ${JSON.stringify(found)}`);
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
      expect(await harness.gateway.capture(captureRequest(charge, found.gatewayReference))).toMatchObject({ kind: "approved" });
      expect((await harness.ledgerFor(charge.paymentId)).captures).toEqual([charge.amount]);
    });

    test("failed or abandoned by the customer: checkAction answers failed authentication_failed, and nothing is charged", async () => {
      const { charge, action } = await waiting();
      await authenticate(harness, action, "fail");
      expect(await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference))).toMatchObject({ kind: "failed", code: AUTHENTICATION_FAILED });
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
    });

    test("cancelAction of a waiting payment is approved, answers the same when repeated, and the payment can no longer be charged", async () => {
      const { charge, action } = await waiting();
      const canceled = await harness.gateway.cancelAction(actionRequest(charge, action.gatewayReference));
      expect(canceled).toMatchObject({ kind: "approved" });
      expect(await harness.gateway.cancelAction(actionRequest(charge, action.gatewayReference))).toEqual(canceled);
      expect((await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference))).kind).not.toBe("approved");
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
    });

    test("cancelAction after the customer completed is declined (look it up), and the payment stays charged once", async () => {
      const { charge, action } = await waiting();
      await authenticate(harness, action, "complete");
      expect((await harness.gateway.cancelAction(actionRequest(charge, action.gatewayReference))).kind).toBe("declined");
      expect((await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference))).kind).toBe("approved");
      expect(harness.chargesFor(charge.paymentId)).toBe(1);
    });

    test("checkAction never answers for a record of another amount or currency: unknown", async () => {
      const { charge, action } = await waiting();
      await authenticate(harness, action, "complete");
      for (const other of [{ amount: charge.amount + 1 }, { currency: "EUR" }]) {
        expect((await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference, other))).kind).toBe("unknown");
      }
    });

    test("checkAction while the gateway fails is unknown, never failed; cancelAction then is never approved", async () => {
      const { charge, action } = await waiting();
      for (const fault of ["http500", "malformed", "connection-reset", "http429"] as const) {
        harness.failNext(Number.POSITIVE_INFINITY, fault);
        expect((await harness.gateway.checkAction(actionRequest(charge, action.gatewayReference))).kind).toBe("unknown");
        expect(["transient", "unknown"]).toContain((await harness.gateway.cancelAction(actionRequest(charge, action.gatewayReference))).kind);
      }
      harness.failNext(0, "http500");
      expect((await harness.gateway.cancelAction(actionRequest(charge, action.gatewayReference))).kind).toBe("approved");
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
    });

    test("a lookup of a payment waiting for its customer answers requires_action (a lost answer): neither charged nor 'not charged'", async () => {
      const { charge, action } = await waiting();
      expect(await harness.gateway.lookup(lookupRequest(charge))).toMatchObject({ kind: "requires_action", gatewayReference: action.gatewayReference });
      expect(await harness.gateway.lookup(lookupRequest(charge, { gatewayReference: action.gatewayReference }))).toMatchObject({
        kind: "requires_action",
        gatewayReference: action.gatewayReference,
      });
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
    });
  });
}

/** What a gateway holds for one payment after captures, voids and refunds; replays are not counted. */
export interface OperationLedger {
  /** Amounts captured from authorizations. */
  captures: number[];
  /** Authorizations voided. */
  voids: number;
  /** Amounts refunded, in the order they were made. */
  refunds: number[];
}

function operationOf(charge: ChargeRequest, idempotencyKey: string, gatewayReference: string) {
  return { paymentId: charge.paymentId, idempotencyKey, currency: charge.currency, gatewayReference, attempt: 1 };
}

export function captureRequest(charge: ChargeRequest, gatewayReference: string, overrides: Partial<CaptureRequest> = {}): CaptureRequest {
  return {
    ...operationOf(charge, `capture-${charge.paymentId}`, gatewayReference),
    amount: charge.amount,
    authorizedAmount: charge.amount,
    ...overrides,
  };
}

export function voidRequest(charge: ChargeRequest, gatewayReference: string): VoidRequest {
  return { ...operationOf(charge, `void-${charge.paymentId}`, gatewayReference), authorizedAmount: charge.amount };
}

export function refundRequest(charge: ChargeRequest, gatewayReference: string, amount: number, capturedAmount = charge.amount): RefundRequest {
  const refundId = `re_${randomUUID()}`;
  return {
    ...operationOf(charge, `refund-${refundId}`, gatewayReference),
    refundId,
    amount,
    capturedAmount,
    reason: "requested_by_customer",
  };
}

/** The reconciler's question about an operation, asked a second after its last attempt. */
export function operationLookup(
  operation: { operation: "capture"; request: CaptureRequest } | { operation: "void"; request: VoidRequest } | { operation: "refund"; request: RefundRequest },
): OperationLookupRequest {
  const now = Date.now();
  return { ...operation, firstAttemptAt: new Date(now - 2_000), lastAttemptAt: new Date(now - 1_000) };
}

/** Captures, voids and refunds (docs/CONTRACT.md §8): what every gateway must do with them, and under faults. */
function runOperationConformance(name: string, setup: () => Promise<ConformanceHarness>, anyCardNumber: boolean): void {
  describe(`${name}: captures, voids and refunds`, () => {
    let harness: ConformanceHarness;
    beforeEach(async () => {
      harness = await setup();
    });
    afterEach(async () => {
      await harness.stop?.();
    });
    const ledger = async (charge: ChargeRequest) => await harness.ledgerFor(charge.paymentId);

    const failNext = (n: number, fault: GatewayFault) => harness.failNext(n, fault);

    /** An approved authorization (capture: false) or charge, and its reference. */
    async function approved(card: string, capture: boolean): Promise<{ charge: ChargeRequest; reference: string }> {
      const charge = chargeRequest(card, { capture });
      const outcome = await harness.gateway.charge(charge);
      if (outcome.kind !== "approved") throw new Error(`${name}: ${capture ? "charge" : "authorization"} not approved: ${JSON.stringify(outcome)}`);
      return { charge, reference: outcome.gatewayReference };
    }

    /** A captured payment: charged at once, or authorized then captured in full. */
    async function captured(card: string, manual: boolean): Promise<{ charge: ChargeRequest; reference: string }> {
      const { charge, reference } = await approved(card, !manual);
      if (!manual) return { charge, reference };
      const capture = await harness.gateway.capture(captureRequest(charge, reference));
      if (capture.kind !== "approved") throw new Error(`${name}: capture not approved: ${JSON.stringify(capture)}`);
      return { charge, reference: capture.gatewayReference };
    }

    test("an authorization takes no money until it is captured in full; it is found by lookup as approved", async () => {
      const { charge, reference } = await approved(TEST_CARDS.approved, false);
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
      expect(await harness.gateway.lookup(lookupRequest(charge))).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      const outcome = await harness.gateway.capture(captureRequest(charge, reference));
      expect(outcome).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      expect(await ledger(charge)).toEqual({ captures: [charge.amount], voids: 0, refunds: [] });
      // A second capture of the same authorization (another key) is refused: captures are final.
      const again = await harness.gateway.capture(captureRequest(charge, reference, { idempotencyKey: `capture2-${charge.paymentId}` }));
      expect(again.kind).toBe("declined");
      expect(await ledger(charge)).toEqual({ captures: [charge.amount], voids: 0, refunds: [] });
    });

    test("a partial capture takes only its amount, and refunds stop at what was captured", async () => {
      const { charge, reference } = await approved(TEST_CARDS.approved, false);
      const capture = await harness.gateway.capture(captureRequest(charge, reference, { amount: 1000 }));
      expect(capture.kind).toBe("approved");
      if (capture.kind !== "approved") return;
      expect(await ledger(charge)).toEqual({ captures: [1000], voids: 0, refunds: [] });
      expect((await harness.gateway.refund(refundRequest(charge, capture.gatewayReference, 1001, 1000))).kind).toBe("declined");
      expect((await harness.gateway.refund(refundRequest(charge, capture.gatewayReference, 1000, 1000))).kind).toBe("approved");
      expect(await ledger(charge)).toEqual({ captures: [1000], voids: 0, refunds: [1000] });
    });

    test("a capture of more than was authorized is refused", async () => {
      const { charge, reference } = await approved(TEST_CARDS.approved, false);
      const outcome = await harness.gateway.capture(captureRequest(charge, reference, { amount: charge.amount + 1 }));
      expect(outcome.kind).toBe("declined");
      expect(await ledger(charge)).toEqual({ captures: [], voids: 0, refunds: [] });
    });

    test("a voided authorization takes nothing and can no longer be captured", async () => {
      const { charge, reference } = await approved(TEST_CARDS.approved, false);
      expect(await harness.gateway.voidAuthorization(voidRequest(charge, reference))).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      expect(await ledger(charge)).toEqual({ captures: [], voids: 1, refunds: [] });
      expect((await harness.gateway.capture(captureRequest(charge, reference))).kind).toBe("declined");
      expect(harness.chargesFor(charge.paymentId)).toBe(0);
      expect(await ledger(charge)).toEqual({ captures: [], voids: 1, refunds: [] });
    });

    test("a captured authorization can no longer be voided", async () => {
      const { charge, reference } = await approved(TEST_CARDS.approved, false);
      expect((await harness.gateway.capture(captureRequest(charge, reference))).kind).toBe("approved");
      expect((await harness.gateway.voidAuthorization(voidRequest(charge, reference))).kind).toBe("declined");
      expect(await ledger(charge)).toEqual({ captures: [charge.amount], voids: 0, refunds: [] });
    });

    test.skipIf(!anyCardNumber)("a capture the card's issuer refuses is declined with a code, and nothing is taken", async () => {
      const { charge, reference } = await approved(TEST_CARDS.captureRefused, false);
      const outcome = await harness.gateway.capture(captureRequest(charge, reference));
      expect(outcome.kind).toBe("declined");
      if (outcome.kind === "declined") expect(outcome.code.length).toBeGreaterThan(0);
      expect(await ledger(charge)).toEqual({ captures: [], voids: 0, refunds: [] });
    });

    test.each([
      { how: "charged at once", manual: false },
      { how: "authorized, then captured", manual: true },
    ])("a payment $how is refunded in full, then no more", async ({ manual }) => {
      const { charge, reference } = await captured(TEST_CARDS.approved, manual);
      expect(await harness.gateway.refund(refundRequest(charge, reference, charge.amount))).toEqual({
        kind: "approved",
        gatewayReference: expect.any(String),
      });
      expect((await harness.gateway.refund(refundRequest(charge, reference, 1))).kind).toBe("declined");
      expect((await ledger(charge)).refunds).toEqual([charge.amount]);
    });

    test("partial refunds add up to the captured amount; the one that would pass it is refused", async () => {
      const { charge, reference } = await captured(TEST_CARDS.approved, false);
      const refund = (amount: number) => harness.gateway.refund(refundRequest(charge, reference, amount));
      expect((await refund(1000)).kind).toBe("approved");
      expect((await refund(1000)).kind).toBe("declined");
      expect((await refund(999)).kind).toBe("approved");
      expect((await refund(1)).kind).toBe("declined");
      expect((await ledger(charge)).refunds).toEqual([1000, 999]);
    });

    test("a refund the gateway refuses for the card is declined with a code", async () => {
      const { charge, reference } = await captured(TEST_CARDS.refundFails, false);
      const outcome = await harness.gateway.refund(refundRequest(charge, reference, charge.amount));
      expect(outcome.kind).toBe("declined");
      if (outcome.kind === "declined") expect(outcome.code.length).toBeGreaterThan(0);
      expect((await ledger(charge)).refunds).toEqual([]);
    });

    test("each operation sent twice under its key is done once, and answers the same", async () => {
      const auth = await approved(TEST_CARDS.approved, false);
      const capture = captureRequest(auth.charge, auth.reference, { amount: 1500 });
      const captureOutcome = await harness.gateway.capture(capture);
      expect(captureOutcome.kind).toBe("approved");
      expect(await harness.gateway.capture({ ...capture, attempt: 2 })).toEqual(captureOutcome);
      expect(await ledger(auth.charge)).toEqual({ captures: [1500], voids: 0, refunds: [] });

      const voided = await approved(TEST_CARDS.approved, false);
      const voidOne = voidRequest(voided.charge, voided.reference);
      const voidOutcome = await harness.gateway.voidAuthorization(voidOne);
      expect(voidOutcome.kind).toBe("approved");
      expect(await harness.gateway.voidAuthorization({ ...voidOne, attempt: 2 })).toEqual(voidOutcome);
      expect(await ledger(voided.charge)).toEqual({ captures: [], voids: 1, refunds: [] });

      const charged = await captured(TEST_CARDS.approved, false);
      const refund = refundRequest(charged.charge, charged.reference, 500);
      const refundOutcome = await harness.gateway.refund(refund);
      expect(refundOutcome.kind).toBe("approved");
      expect(await harness.gateway.refund({ ...refund, attempt: 2 })).toEqual(refundOutcome);
      expect((await ledger(charged.charge)).refunds).toEqual([500]);
    });

    test("lookupOperation finds each operation done, and ignores one of another amount", async () => {
      const auth = await approved(TEST_CARDS.approved, false);
      const capture = captureRequest(auth.charge, auth.reference);
      const captureOutcome = await harness.gateway.capture(capture);
      expect(captureOutcome.kind).toBe("approved");
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "capture", request: capture }))).kind).toBe("approved");
      const otherCapture = { ...capture, amount: capture.amount - 1 };
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "capture", request: otherCapture }))).kind).toBe("unknown");

      const voided = await approved(TEST_CARDS.approved, false);
      const voidOne = voidRequest(voided.charge, voided.reference);
      expect((await harness.gateway.voidAuthorization(voidOne)).kind).toBe("approved");
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "void", request: voidOne }))).kind).toBe("approved");

      const refund = refundRequest(auth.charge, captureOutcome.kind === "approved" ? captureOutcome.gatewayReference : "", 700);
      expect((await harness.gateway.refund(refund)).kind).toBe("approved");
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "refund", request: refund }))).kind).toBe("approved");
      const otherRefund = { ...refund, amount: 701 };
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "refund", request: otherRefund }))).kind).toBe("unknown");
      expect(await ledger(auth.charge)).toEqual({ captures: [auth.charge.amount], voids: 0, refunds: [700] });
    });

    test("lookupOperation of an operation never sent never reports one that was not done", async () => {
      const auth = await approved(TEST_CARDS.approved, false);
      const capture = captureRequest(auth.charge, auth.reference);
      const voidOne = voidRequest(auth.charge, auth.reference);
      for (const asked of [{ operation: "capture", request: capture } as const, { operation: "void", request: voidOne } as const]) {
        const found = await harness.gateway.lookupOperation(operationLookup(asked));
        // Read-only lookups say "not done" (or cannot tell); a replaying one may do it, once.
        expect(["not_charged", "unknown"]).toContain(found.kind);
      }
      expect(await ledger(auth.charge)).toEqual({ captures: [], voids: 0, refunds: [] });

      const charged = await captured(TEST_CARDS.approved, false);
      const refund = refundRequest(charged.charge, charged.reference, 300);
      const found = await harness.gateway.lookupOperation(operationLookup({ operation: "refund", request: refund }));
      expect(["not_charged", "unknown", "approved"]).toContain(found.kind);
      expect((await ledger(charged.charge)).refunds).toEqual(found.kind === "approved" ? [300] : []);
      // Whatever it said, the refund sent now under its key is done once.
      expect((await harness.gateway.refund(refund)).kind).toBe("approved");
      expect((await ledger(charged.charge)).refunds).toEqual([300]);
    });

    test("each operation whose answer was lost is found by lookupOperation as done, never 'not done', and done once", async () => {
      const auth = await approved(TEST_CARDS.approved, false);
      const capture = captureRequest(auth.charge, auth.reference);
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      expect((await harness.gateway.capture(capture)).kind).toBe("unknown");
      failNext(0, "timeout-after-commit");
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "capture", request: capture }))).kind).toBe("approved");
      const captureOutcome = await harness.gateway.capture({ ...capture, attempt: 2 });
      expect(captureOutcome.kind).toBe("approved");
      expect(await ledger(auth.charge)).toEqual({ captures: [auth.charge.amount], voids: 0, refunds: [] });

      const voided = await approved(TEST_CARDS.approved, false);
      const voidOne = voidRequest(voided.charge, voided.reference);
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      expect((await harness.gateway.voidAuthorization(voidOne)).kind).toBe("unknown");
      failNext(0, "timeout-after-commit");
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "void", request: voidOne }))).kind).toBe("approved");
      expect(await ledger(voided.charge)).toEqual({ captures: [], voids: 1, refunds: [] });

      const reference = captureOutcome.kind === "approved" ? captureOutcome.gatewayReference : "";
      const refund = refundRequest(auth.charge, reference, 900);
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      expect((await harness.gateway.refund(refund)).kind).toBe("unknown");
      failNext(0, "timeout-after-commit");
      expect((await harness.gateway.lookupOperation(operationLookup({ operation: "refund", request: refund }))).kind).toBe("approved");
      expect((await harness.gateway.refund({ ...refund, attempt: 2 })).kind).toBe("approved");
      expect((await ledger(auth.charge)).refunds).toEqual([900]);
    });

    test("an operation refused with 429 is transient, and its retry is done once", async () => {
      const { charge, reference } = await captured(TEST_CARDS.approved, false);
      const refund = refundRequest(charge, reference, charge.amount);
      failNext(1, "http429");
      expect((await harness.gateway.refund(refund)).kind).toBe("transient");
      expect((await ledger(charge)).refunds).toEqual([]);
      expect((await harness.gateway.refund({ ...refund, attempt: 2 })).kind).toBe("approved");
      expect((await ledger(charge)).refunds).toEqual([charge.amount]);
    });

    test("an operation answered with a 5xx or an unreadable 2xx is never 'not done', and its retry is done once", async () => {
      for (const fault of ["http500", "malformed"] as const) {
        const auth = await approved(TEST_CARDS.approved, false);
        const capture = captureRequest(auth.charge, auth.reference);
        failNext(1, fault);
        expect(["unknown", "approved"]).toContain((await harness.gateway.capture(capture)).kind);
        expect((await harness.gateway.capture({ ...capture, attempt: 2 })).kind).toBe("approved");
        expect(await ledger(auth.charge)).toEqual({ captures: [auth.charge.amount], voids: 0, refunds: [] });
      }
    });

    test("a lookupOperation while the gateway fails is unknown, never 'not done' nor declined", async () => {
      const auth = await approved(TEST_CARDS.approved, false);
      const capture = captureRequest(auth.charge, auth.reference);
      failNext(Number.POSITIVE_INFINITY, "timeout-after-commit");
      await harness.gateway.capture(capture);
      const refund = refundRequest(auth.charge, auth.reference, 100);
      for (const fault of ["http500", "malformed", "connection-reset", "http429"] as const) {
        failNext(Number.POSITIVE_INFINITY, fault);
        for (const asked of [
          { operation: "capture", request: capture } as const,
          { operation: "void", request: voidRequest(auth.charge, auth.reference) } as const,
          { operation: "refund", request: refund } as const,
        ]) {
          const found = await harness.gateway.lookupOperation(operationLookup(asked));
          expect(found.kind).not.toBe("not_charged");
          expect(found.kind).not.toBe("declined");
        }
      }
      failNext(0, "http500");
    });
  });
}
