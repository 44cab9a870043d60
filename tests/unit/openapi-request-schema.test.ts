import { describe, expect, it } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import fc from "fast-check";
import { RefundRequestSchema, validatePaymentRequest, validateRefundRequest } from "../../modules/intake";
import { CancelRequestSchema, CaptureRequestSchema, PaymentRequestSchema } from "../../modules/intake/model";
import { validateCancelRequest, validateCaptureRequest } from "../../modules/intake/validation";
import { fuzzedPaymentBody } from "../../scripts/fuzz-core";
import { paymentBody } from "../support/payments";

/**
 * The documented request schema and the hand-written validator (which must stay: it reports every
 * error at once) judge the same bodies alike. What the server accepts, the document allows; what
 * the document allows, the server accepts, except for the checks no JSON Schema can make.
 */
const ajv = new Ajv2020({ strict: false, allErrors: true });
const schemaAccepts = ajv.compile(JSON.parse(JSON.stringify(PaymentRequestSchema)));
const NOW = new Date();

/** Card and currency facts a schema cannot check; the description states them and 422 answers them. */
const SEMANTIC = new Set(["luhn_check_failed", "card_brand_unsupported", "invalid_length@card.number", "card_expired", "exp_year_too_far", "invalid_cvc"]);

function serverErrors(body: unknown): string[] {
  const result = validatePaymentRequest(body, NOW);
  return result.ok ? [] : result.errors.map((e) => (e.code === "invalid_length" ? `${e.code}@${e.field}` : e.code));
}

describe("the documented payment request schema agrees with the validator", () => {
  /** What the validator accepts, the schema allows; what the schema allows, the validator refuses for card facts at most. */
  function expectAgreement(body: unknown) {
    const errors = serverErrors(body);
    const allowed = schemaAccepts(body);
    if (errors.length === 0) expect({ body, allowed, schemaErrors: schemaAccepts.errors }).toMatchObject({ allowed: true });
    if (allowed) expect({ body, unexplained: errors.filter((code) => !SEMANTIC.has(code)) }).toMatchObject({ unexplained: [] });
  }

  it("allows every body the validator accepts, and accepts only what the validator accepts but for card facts (fuzzed)", () => {
    fc.assert(fc.property(fuzzedPaymentBody, expectAgreement), { numRuns: 3_000 });
  });

  const valid = paymentBody();

  /** Text around every documented limit (0–2, 38–42, 198–202, 252–256, 498–502, 998–1002 characters), blanks and unstorable characters included. */
  const CHARACTERS = ["a", "Z", "7", " ", "\t", "\n", "\u00a0", "\u2028", "-", ".", "@", "\u0000", "\ud800", "é"];
  const boundaryText = fc
    .tuple(fc.constantFrom(0, 40, 200, 254, 500, 1000), fc.integer({ min: -2, max: 2 }), fc.array(fc.constantFrom(...CHARACTERS), { maxLength: 4 }), fc.constantFrom(...CHARACTERS), fc.nat())
    .map(([limit, delta, sprinkle, fill, at]) => {
      const text = fill.repeat(Math.max(0, limit + delta - sprinkle.length));
      const i = at % (text.length + 1);
      return text.slice(0, i) + sprinkle.join("") + text.slice(i);
    });
  const TEXT_FIELDS: ((body: ReturnType<typeof paymentBody>, text: string) => unknown)[] = [
    (b, text) => ({ ...b, card: { ...b.card, holderName: text } }),
    (b, text) => ({ ...b, card: { ...b.card, number: text } }),
    (b, text) => ({ ...b, customer: { ...b.customer, name: text } }),
    (b, text) => ({ ...b, customer: { ...b.customer, reference: text } }),
    (b, text) => ({ ...b, customer: { ...b.customer, email: `${text}@example.com` } }),
    (b, text) => ({ ...b, customer: { ...b.customer, email: `jane@${text}.example.com` } }),
    (b, text) => ({ ...b, description: text }),
    (b, text) => ({ ...b, metadata: { [text]: "v" } }),
    (b, text) => ({ ...b, metadata: { k: text } }),
  ];

  it("judges text at every length limit alike, in every text field (fuzzed)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...TEXT_FIELDS), boundaryText, (place, text) => expectAgreement(place(valid, text))),
      { numRuns: 3_000 },
    );
  });
  const cases: [string, unknown, boolean][] = [
    ["the contract's example", valid, true],
    ["null for every optional field", { ...valid, description: null, metadata: null, card: { ...valid.card, holderName: null }, customer: { ...valid.customer, reference: null } }, true],
    ["a lower-case currency", { ...valid, currency: "usd" }, true],
    ["a currency not in use", { ...valid, currency: "XYZ" }, false],
    ["an unknown top-level field", { ...valid, amount_: 1 }, false],
    ["an unknown card field", { ...valid, card: { ...valid.card, pin: "1234" } }, false],
    ["an unknown customer field", { ...valid, customer: { ...valid.customer, phone: "1" } }, false],
    ["a metadata key of 40 characters", { ...valid, metadata: { ["k".repeat(40)]: "v" } }, true],
    ["a metadata key of 41 characters", { ...valid, metadata: { ["k".repeat(41)]: "v" } }, false],
    ["an empty metadata key", { ...valid, metadata: { "": "v" } }, false],
    ["a metadata key __proto__", JSON.parse('{"amount":1,"currency":"USD","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"},"customer":{"email":"a@b.co","name":"A"},"metadata":{"__proto__":"x"}}'), false],
    ["21 metadata keys", { ...valid, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"])) }, false],
    ["a metadata value that is not a string", { ...valid, metadata: { a: 1 } }, false],
    ["a string amount", { ...valid, amount: "1999" }, false],
    ["a fractional amount", { ...valid, amount: 19.99 }, false],
    ["an amount of 99,999,999", { ...valid, amount: 99_999_999 }, true],
    ["an amount of 100,000,000", { ...valid, amount: 100_000_000 }, false],
    ["a name that is blank once trimmed", { ...valid, customer: { ...valid.customer, name: "   " } }, false],
    ["a name of 200 characters inside spaces", { ...valid, customer: { ...valid.customer, name: ` ${"n".repeat(200)} ` } }, true],
    ["a name of 201 characters", { ...valid, customer: { ...valid.customer, name: "n".repeat(201) } }, false],
    ["an e-mail inside spaces", { ...valid, customer: { ...valid.customer, email: " jane@example.com " } }, true],
    ["an e-mail without a top-level domain", { ...valid, customer: { ...valid.customer, email: "jane@example" } }, false],
    ["an e-mail with a 65-character local part", { ...valid, customer: { ...valid.customer, email: `${"j".repeat(65)}@example.com` } }, false],
    ["a card number grouped by dashes", { ...valid, card: { ...valid.card, number: "4242-4242-4242-4242" } }, true],
    ["a card number with letters", { ...valid, card: { ...valid.card, number: "4242 4242 4242 424x" } }, false],
    ["a description with a NUL character", { ...valid, description: "a\u0000b" }, false],
    ["a body that is an array", [valid], false],
    ["capture: false (authorize only)", { ...valid, capture: false }, true],
    ["capture: null (the default)", { ...valid, capture: null }, true],
    ["capture as a string", { ...valid, capture: "false" }, false],
  ];
  for (const [name, body, accepted] of cases) {
    it(`${accepted ? "allows" : "refuses"} ${name}, as the validator does`, () => {
      expect(serverErrors(body).length === 0).toBe(accepted);
      expect(schemaAccepts(body)).toBe(accepted);
    });
  }
});

describe("the documented capture, cancel and refund request schemas agree with their validators", () => {
  const metadata = (keys: number, key = "k", value = "v") => Object.fromEntries(Array.from({ length: keys }, (_, i) => [`${key}${i}`, value]));
  const schemas = [
    {
      name: "CaptureRequest",
      accepts: ajv.compile(JSON.parse(JSON.stringify(CaptureRequestSchema))),
      validate: validateCaptureRequest,
      bodies: [{}, { amount: 1 }, { amount: 99_999_999 }, { amount: null }, { amount: 0 }, { amount: 100_000_000 }, { amount: 1.5 }, { amount: "5" }, { amount: 5, currency: "USD" }, [], "5", null],
    },
    {
      name: "CancelRequest",
      accepts: ajv.compile(JSON.parse(JSON.stringify(CancelRequestSchema))),
      validate: validateCancelRequest,
      bodies: [{}, { reason: null }, ...["duplicate", "fraudulent", "requested_by_customer", "abandoned", "expired", "DUPLICATE", "", 1].map((reason) => ({ reason })), { why: "x" }, []],
    },
    {
      name: "RefundRequest",
      accepts: ajv.compile(JSON.parse(JSON.stringify(RefundRequestSchema))),
      validate: validateRefundRequest,
      bodies: [
        {},
        { amount: 500, reason: "requested_by_customer", metadata: { ticket: "T-1" } },
        { amount: null, reason: null, metadata: null },
        { reason: "abandoned" },
        { reason: "expired" },
        { amount: 0 },
        { amount: 2.5 },
        { metadata: metadata(20) },
        { metadata: metadata(21) },
        { metadata: { ["k".repeat(40)]: "v" } },
        { metadata: { ["k".repeat(41)]: "v" } },
        { metadata: { k: "v".repeat(500) } },
        { metadata: { k: "v".repeat(501) } },
        { metadata: { k: 1 } },
        { metadata: { "": "v" } },
        { metadata: { k: "a\u0000b" } },
        JSON.parse('{"metadata":{"__proto__":"x"}}'),
        { note: "x" },
        [],
      ],
    },
  ];
  for (const { name, accepts, validate, bodies } of schemas) {
    it(`${name}: the document allows exactly the bodies the validator accepts`, () => {
      for (const body of bodies) expect({ body, allowed: accepts(body) }).toEqual({ body, allowed: validate(body).ok });
    });
  }

  it("treat no body at all as {} (the body is optional)", () => {
    for (const validate of [validateCaptureRequest, validateCancelRequest, validateRefundRequest]) expect(validate(undefined).ok).toBe(true);
  });
});
