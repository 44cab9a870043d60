import { describe, expect, test } from "bun:test";
import { paypalAmount } from "../../modules/gateways/paypal/paypal-units";
import { stripeAmount } from "../../modules/gateways/stripe/stripe-units";
import { isoCurrencyRule, toGatewayMinorUnits } from "../../modules/gateways/units";
import type { GatewayAmount } from "../../modules/gateways";
import { currencyExponent } from "../../modules/money";

type Row = [currency: string, isoMinorUnits: number, expected: number | string];

/** Each row: our amount (ISO minor units) → the gateway's amount, or the refusal code. */
function expectTable(convert: (amount: number, currency: string) => GatewayAmount, rows: readonly Row[]): void {
  for (const [currency, amount, expected] of rows) {
    const answer = convert(amount, currency);
    const got = answer.ok ? answer.value : answer.code;
    expect({ currency, amount, got }).toEqual({ currency, amount, got: expected });
  }
}

const CURRENCY_REFUSED = "currency_not_supported_by_gateway";
const AMOUNT_REFUSED = "amount_not_supported_by_gateway";

/** Every code our ISO 4217 table knows (three ASCII letters each). */
const ISO_CODES: readonly string[] = Array.from({ length: 26 ** 3 }, (_, i) =>
  String.fromCharCode(65 + Math.floor(i / 676), 65 + (Math.floor(i / 26) % 26), 65 + (i % 26)),
).filter((code) => currencyExponent(code) !== undefined);

describe("Stripe units (docs.stripe.com/currencies)", () => {
  test("two-decimal currencies go as they are", () => {
    expectTable(stripeAmount, [
      ["USD", 1999, 1999],
      ["EUR", 1, 1],
      ["GBP", 99_999_999, 99_999_999],
      ["IDR", 1_000_050, 1_000_050],
    ]);
  });

  test("zero-decimal currencies go as they are when ISO agrees", () => {
    expectTable(stripeAmount, [
      ["JPY", 500, 500],
      ["KRW", 12_000, 12_000],
      ["CLP", 1, 1],
      ["VND", 250_000, 250_000],
      ["XOF", 7, 7],
      ["XAF", 1000, 1000],
      ["BIF", 3, 3],
    ]);
  });

  test("MGA: two decimals in ISO, zero at Stripe: whole ariary only, never rounded", () => {
    expectTable(stripeAmount, [
      ["MGA", 1000, 10],
      ["MGA", 100, 1],
      ["MGA", 99_999_900, 999_999],
      ["MGA", 1050, AMOUNT_REFUSED],
      ["MGA", 1, AMOUNT_REFUSED],
      ["MGA", 99_999_999, AMOUNT_REFUSED],
    ]);
  });

  test("ISK and UGX: zero decimals in ISO, two decimals that are always 00 at Stripe", () => {
    expectTable(stripeAmount, [
      ["ISK", 5, 500],
      ["ISK", 1, 100],
      ["ISK", 99_999_999, 9_999_999_900],
      ["UGX", 5, 500],
      ["UGX", 3745, 374_500],
    ]);
  });

  test("HUF and TWD are two-decimal for charges (the divisible-by-100 rule is for payouts)", () => {
    expectTable(stripeAmount, [
      ["HUF", 1045, 1045],
      ["HUF", 17_500, 17_500],
      ["TWD", 80_045, 80_045],
    ]);
  });

  test("three-decimal currencies go as they are, but only with 0 as the last digit", () => {
    expectTable(stripeAmount, [
      ["KWD", 5120, 5120],
      ["KWD", 5124, AMOUNT_REFUSED],
      ["BHD", 10, 10],
      ["BHD", 5, AMOUNT_REFUSED],
      ["JOD", 1_000, 1_000],
      ["OMR", 1_001, AMOUNT_REFUSED],
      ["TND", 2_500, 2_500],
    ]);
  });

  test("currencies missing from Stripe's presentment list are refused", () => {
    expectTable(stripeAmount, [
      ["IQD", 1000, CURRENCY_REFUSED],
      ["LYD", 1000, CURRENCY_REFUSED],
      ["CLF", 10_000, CURRENCY_REFUSED],
      ["UYW", 10_000, CURRENCY_REFUSED],
      ["VES", 100, CURRENCY_REFUSED],
      ["XCG", 100, CURRENCY_REFUSED],
      ["ANG", 100, CURRENCY_REFUSED], // on Stripe's list, withdrawn from ISO 4217
      ["XXX", 100, CURRENCY_REFUSED],
    ]);
  });

  test("refusals say what would be chargeable", () => {
    expect(stripeAmount(1050, "MGA")).toEqual({
      ok: false,
      code: AMOUNT_REFUSED,
      message: "must be a multiple of 100: the stripe gateway charges MGA in steps of 1.00",
    });
    expect(stripeAmount(5124, "KWD")).toMatchObject({ message: "must be a multiple of 10: the stripe gateway charges KWD in steps of 0.010" });
    expect(stripeAmount(100, "IQD")).toEqual({ ok: false, code: CURRENCY_REFUSED, message: "is not a currency the stripe gateway can charge" });
  });

  test("never rounds: every accepted amount of every currency scales by one exact power of ten", () => {
    for (const code of ISO_CODES) {
      const factors = new Set<number>();
      for (const amount of [1, 7, 10, 99, 100, 1230, 5_000, 123_400, 99_999_999]) {
        const answer = stripeAmount(amount, code);
        if (answer.ok) factors.add(answer.value / amount);
      }
      expect({ code, factors: factors.size <= 1 && [...factors].every((f) => [0.01, 1, 100].includes(f)) }).toEqual({ code, factors: true });
    }
  });
});

describe("PayPal units (developer.paypal.com/docs/api/reference/currency-codes)", () => {
  test("two-decimal currencies as decimal strings", () => {
    expectTable(paypalAmount, [
      ["USD", 1999, "19.99"],
      ["EUR", 5, "0.05"],
      ["GBP", 100, "1.00"],
      ["CAD", 99_999_999, "999999.99"],
      ["THB", 1_000_000, "10000.00"],
      ["RUB", 12_345, "123.45"],
    ]);
  });

  test("JPY, HUF and TWD take no decimals: whole units only, never rounded", () => {
    expectTable(paypalAmount, [
      ["JPY", 500, "500"],
      ["JPY", 1, "1"],
      ["HUF", 1000, "10"],
      ["HUF", 150_000, "1500"],
      ["HUF", 1050, AMOUNT_REFUSED],
      ["HUF", 1, AMOUNT_REFUSED],
      ["TWD", 80_000, "800"],
      ["TWD", 80_045, AMOUNT_REFUSED],
    ]);
  });

  test("currencies PayPal does not take are refused", () => {
    expectTable(paypalAmount, [
      ["KRW", 12_000, CURRENCY_REFUSED],
      ["MGA", 1000, CURRENCY_REFUSED],
      ["ISK", 500, CURRENCY_REFUSED],
      ["UGX", 500, CURRENCY_REFUSED],
      ["BHD", 1230, CURRENCY_REFUSED],
      ["KWD", 1230, CURRENCY_REFUSED],
      ["CLP", 100, CURRENCY_REFUSED],
      ["VND", 100, CURRENCY_REFUSED],
      ["XOF", 100, CURRENCY_REFUSED],
      ["INR", 100, CURRENCY_REFUSED],
      ["ZAR", 100, CURRENCY_REFUSED],
    ]);
  });

  test("never rounds: every accepted value reads back as the same ISO amount", () => {
    for (const code of ISO_CODES) {
      const exponent = currencyExponent(code) ?? 0;
      for (const amount of [1, 5, 50, 100, 1050, 150_000, 99_999_999]) {
        const answer = paypalAmount(amount, code);
        if (!answer.ok) continue;
        const [whole = "", fraction = ""] = answer.value.split(".");
        const readBack = Number(whole) * 10 ** exponent + Number(fraction.padEnd(exponent, "0") || "0");
        expect({ code, amount, readBack, decimals: fraction.length <= exponent }).toEqual({ code, amount, readBack: amount, decimals: true });
      }
    }
  });
});

describe("simulator units", () => {
  const simulator = (amount: number, currency: string) => toGatewayMinorUnits("simulator", amount, currency, isoCurrencyRule(currency));

  test("every ISO 4217 currency in its ISO minor units", () => {
    expectTable(simulator, [
      ["USD", 1999, 1999],
      ["JPY", 500, 500],
      ["MGA", 1050, 1050],
      ["ISK", 5, 5],
      ["KWD", 5124, 5124],
      ["CLF", 12_345, 12_345],
      ["XXX", 1, CURRENCY_REFUSED],
    ]);
    for (const code of ISO_CODES) expect(simulator(1, code).ok).toBe(true);
  });

  test("a fractional or unsafe amount is refused rather than rounded", () => {
    expectTable(simulator, [
      ["USD", 1.5, AMOUNT_REFUSED],
      ["USD", Number.NaN, AMOUNT_REFUSED],
      ["USD", 2 ** 53, AMOUNT_REFUSED],
    ]);
  });
});
