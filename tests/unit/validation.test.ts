import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { type FieldError, type ValidationResult, validatePaymentRequest } from "../../modules/intake/validation";

const NOW = new Date("2027-01-15T12:00:00Z");

type Body = Record<string, unknown>;

/** A fresh, fully valid request body; tests mutate their own copy. */
function validBody(): Body {
  return {
    amount: 1999,
    currency: "usd",
    card: { number: "4242 4242 4242 4242", expMonth: 12, expYear: 2030, cvc: "123", holderName: "Jane Doe" },
    customer: { email: "jane@example.com", name: "Jane Doe", reference: "cus_42" },
    description: "Order #1001",
    metadata: { orderId: "1001" },
  };
}

function card(body: Body): Body {
  return body.card as Body;
}

function customer(body: Body): Body {
  return body.customer as Body;
}

function errorsOf(result: ValidationResult): FieldError[] {
  if (result.ok) throw new Error("expected validation to fail");
  return result.errors;
}

/** The (field, code) pairs of a failed validation, for compact assertions. */
function failures(body: unknown, now: Date = NOW): Array<[string, string]> {
  return errorsOf(validatePaymentRequest(body, now)).map((error) => [error.field, error.code]);
}

function expectValid(body: unknown, now: Date = NOW) {
  const result = validatePaymentRequest(body, now);
  if (!result.ok) throw new Error(`expected a valid request, got ${JSON.stringify(result.errors)}`);
  return result.value;
}

function withCard(changes: Body): Body {
  const body = validBody();
  Object.assign(card(body), changes);
  return body;
}

function withCustomer(changes: Body): Body {
  const body = validBody();
  Object.assign(customer(body), changes);
  return body;
}

describe("valid requests", () => {
  it("normalises the documented example", () => {
    expect(validatePaymentRequest(validBody(), NOW)).toEqual({
      ok: true,
      value: {
        amount: 1999,
        currency: "USD",
        paymentMethod: null,
        card: {
          number: "4242424242424242",
          brand: "visa",
          last4: "4242",
          expMonth: 12,
          expYear: 2030,
          cvc: "123",
          holderName: "Jane Doe",
        },
        customer: { email: "jane@example.com", name: "Jane Doe", reference: "cus_42" },
        description: "Order #1001",
        metadata: { orderId: "1001" },
        capture: true,
        returnUrl: null,
        cancelUrl: null,
      },
    });
  });

  it("takes `capture` as a boolean, true when absent or null, and refuses anything else", () => {
    expect(expectValid({ ...validBody(), capture: false }).capture).toBe(false);
    expect(expectValid({ ...validBody(), capture: null }).capture).toBe(true);
    for (const capture of ["false", 0, 1, {}, []])
      expect(errorsOf(validatePaymentRequest({ ...validBody(), capture }, NOW))).toEqual([{ field: "capture", code: "invalid_type", message: "must be a boolean" }]);
  });

  it("fills optional fields with null (and metadata with {}) when missing", () => {
    const body = validBody();
    delete card(body).holderName;
    delete customer(body).reference;
    delete body.description;
    delete body.metadata;
    const value = expectValid(body);
    expect(value.card?.holderName).toBeNull();
    expect(value.customer.reference).toBeNull();
    expect(value.description).toBeNull();
    expect(value.metadata).toEqual({});
  });

  it("accepts explicit nulls for optional fields", () => {
    const body = { ...validBody(), description: null, metadata: null };
    Object.assign(card(body), { holderName: null });
    Object.assign(customer(body), { reference: null });
    const value = expectValid(body);
    expect([value.card?.holderName, value.customer.reference, value.description]).toEqual([null, null, null]);
    expect(value.metadata).toEqual({});
  });

  it("trims names and lower-cases only the email domain", () => {
    const body = withCustomer({ email: "  Jane.Doe+tag@Example.COM ", name: "  Jane Doe  " });
    Object.assign(card(body), { holderName: "  JANE DOE " });
    const value = expectValid(body);
    expect(value.customer.email).toBe("Jane.Doe+tag@example.com");
    expect(value.customer.name).toBe("Jane Doe");
    expect(value.card?.holderName).toBe("JANE DOE");
  });

  it("accepts dash-separated and amex numbers with a 4-digit CID", () => {
    const value = expectValid(withCard({ number: "3782-822463-10005", cvc: "1234" }));
    expect(value.card).toMatchObject({ number: "378282246310005", brand: "amex", last4: "0005", cvc: "1234" });
  });

  it("does not modify the request body", () => {
    const body = validBody();
    const snapshot = structuredClone(body);
    expectValid(body);
    expect(body).toEqual(snapshot);
  });

  it("accepts an object with a null prototype", () => {
    const body = Object.assign(Object.create(null) as Body, validBody());
    expect(expectValid(body).amount).toBe(1999);
  });
});

describe("body shape", () => {
  for (const body of [null, undefined, [], [validBody()], "{}", 42, true, new Date(), new Map()]) {
    it(`rejects ${Object.prototype.toString.call(body)} with a single invalid_type`, () => {
      expect(errorsOf(validatePaymentRequest(body, NOW))).toEqual([
        { field: "", code: "invalid_type", message: "request body must be a JSON object" },
      ]);
    });
  }

  it("reports every missing required top-level field", () => {
    expect(failures({})).toEqual([
      ["amount", "required"],
      ["currency", "required"],
      ["card", "payment_source_required"],
      ["customer", "required"],
    ]);
  });

  it("takes a paymentMethod instead of a card: no card data, the id as sent", () => {
    const { card: _card, ...body } = validBody();
    const value = expectValid({ ...body, paymentMethod: "pm_card_visa" });
    expect(value).toMatchObject({ card: null, paymentMethod: "pm_card_visa", amount: 1999 });
  });

  it("answers payment_method_conflict for both a card and a paymentMethod, payment_source_required for neither (null is absent)", () => {
    expect(failures({ ...validBody(), paymentMethod: "pm_card_visa" })).toEqual([["paymentMethod", "payment_method_conflict"]]);
    expect(failures({ ...validBody(), card: null })).toEqual([["card", "payment_source_required"]]);
    expect(failures({ ...validBody(), card: null, paymentMethod: null })).toEqual([["card", "payment_source_required"]]);
    expect(expectValid({ ...validBody(), card: null, paymentMethod: "pm_card_visa" }).paymentMethod).toBe("pm_card_visa");
    expect(expectValid({ ...validBody(), paymentMethod: null }).card?.last4).toBe("4242");
  });

  it("refuses a paymentMethod that is not 1–255 printable ASCII characters without spaces, before it reaches anything", () => {
    const { card: _card, ...body } = validBody();
    for (const paymentMethod of ["", "pm card", "pm_\u0000", "pm_é", "x".repeat(256), "pm_\n"]) {
      expect(failures({ ...body, paymentMethod })).toEqual([["paymentMethod", "invalid_format"]]);
    }
    expect(failures({ ...body, paymentMethod: 42 })).toEqual([["paymentMethod", "invalid_type"]]);
    expect(expectValid({ ...body, paymentMethod: "x".repeat(255) }).paymentMethod).toHaveLength(255);
  });

  it("treats null as missing for required fields", () => {
    expect(failures({ ...validBody(), amount: null, customer: null })).toEqual([
      ["amount", "required"],
      ["customer", "required"],
    ]);
  });

  it("reports every missing required card and customer field", () => {
    expect(failures({ ...validBody(), card: {}, customer: {} })).toEqual([
      ["card.number", "required"],
      ["card.expMonth", "required"],
      ["card.expYear", "required"],
      ["card.cvc", "required"],
      ["customer.email", "required"],
      ["customer.name", "required"],
    ]);
  });

  it("rejects wrongly typed nested objects", () => {
    expect(failures({ ...validBody(), card: [], customer: "jane", metadata: ["a"] })).toEqual([
      ["card", "invalid_type"],
      ["customer", "invalid_type"],
      ["metadata", "invalid_type"],
    ]);
  });

  it("reports unknown keys at every level", () => {
    const body = { ...validBody(), extra: 1, Amount: 5 };
    Object.assign(card(body), { pin: "1234" });
    Object.assign(customer(body), { phone: "555" });
    expect(failures(body)).toEqual([
      ["extra", "unknown_field"],
      ["Amount", "unknown_field"],
      ["card.pin", "unknown_field"],
      ["customer.phone", "unknown_field"],
    ]);
  });

  it("truncates long unknown keys to 64 characters and neutralises control characters", () => {
    const body = { ...validBody(), ["k".repeat(1000)]: 1, "bad\u0000key\u202e": 2 };
    expect(failures(body)).toEqual([
      ["k".repeat(64), "unknown_field"],
      ["bad\uFFFDkey\uFFFD", "unknown_field"],
    ]);
    const nested = withCard({ ["x".repeat(65)]: 1 });
    expect(failures(nested)).toEqual([[`card.${"x".repeat(64)}`, "unknown_field"]]);
  });

  it("does not split a surrogate pair when truncating a key", () => {
    const body = { ...validBody(), ["😀".repeat(100)]: 1 };
    const [field] = errorsOf(validatePaymentRequest(body, NOW)).map((error) => error.field);
    expect(field).toBe("😀".repeat(64));
  });
});

describe("prototype pollution and hostile input", () => {
  it("treats __proto__ from JSON.parse as an unknown own key and pollutes nothing", () => {
    const body = JSON.parse(`{
      "__proto__": { "amount": 1, "polluted": true },
      "constructor": { "prototype": { "polluted": true } },
      "amount": 1999,
      "currency": "usd",
      "card": { "__proto__": { "x": 1 }, "number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123" },
      "customer": { "email": "a@b.co", "name": "A", "__proto__": null }
    }`);
    expect(failures(body)).toEqual([
      ["__proto__", "unknown_field"],
      ["constructor", "unknown_field"],
      ["card.__proto__", "unknown_field"],
      ["customer.__proto__", "unknown_field"],
    ]);
    expect(({} as Body).polluted).toBeUndefined();
    expect(({} as Body).x).toBeUndefined();
  });

  it("ignores properties inherited from a polluted Object.prototype", () => {
    const prototype = Object.prototype as Body;
    Object.assign(prototype, validBody());
    try {
      expect(failures({})).toEqual([
        ["amount", "required"],
        ["currency", "required"],
        ["card", "payment_source_required"],
        ["customer", "required"],
      ]);
    } finally {
      for (const key of Object.keys(validBody())) delete prototype[key];
    }
  });

  it("rejects objects that inherit from anything but Object.prototype", () => {
    expect(failures(Object.create(validBody()))).toEqual([["", "invalid_type"]]);
  });

  it("never invokes getters", () => {
    const body = validBody();
    Object.defineProperty(body, "amount", {
      enumerable: true,
      get() {
        throw new Error("getter invoked");
      },
    });
    expect(failures(body)).toEqual([["amount", "required"]]);
  });

  it("handles deeply nested garbage in every field", () => {
    const garbage = { a: [[[{ b: [null, { c: "d" }] }]]] };
    const body = {
      amount: garbage,
      currency: garbage,
      card: { number: garbage, expMonth: garbage, expYear: garbage, cvc: garbage, holderName: garbage },
      customer: { email: garbage, name: garbage, reference: garbage },
      description: garbage,
      metadata: { key: garbage },
    };
    expect(failures(body)).toEqual([
      ["amount", "invalid_type"],
      ["currency", "invalid_type"],
      ["card.number", "invalid_type"],
      ["card.expMonth", "invalid_type"],
      ["card.expYear", "invalid_type"],
      ["card.cvc", "invalid_type"],
      ["card.holderName", "invalid_type"],
      ["customer.email", "invalid_type"],
      ["customer.name", "invalid_type"],
      ["customer.reference", "invalid_type"],
      ["description", "invalid_type"],
      ["metadata.key", "invalid_type"],
    ]);
  });

  it("never throws and always returns a well-formed result for arbitrary values", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withObjectString: true, maxDepth: 4 }), (body) => {
        const result = validatePaymentRequest(body, NOW);
        expect(result.ok).toBe(false);
        for (const error of errorsOf(result)) {
          expect([typeof error.field, typeof error.code, typeof error.message]).toEqual(["string", "string", "string"]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never throws when fields of a valid body are replaced by arbitrary JSON", () => {
    const path = fc.constantFrom(
      ["amount"],
      ["currency"],
      ["card"],
      ["card", "number"],
      ["card", "expMonth"],
      ["card", "expYear"],
      ["card", "cvc"],
      ["card", "holderName"],
      ["customer"],
      ["customer", "email"],
      ["customer", "name"],
      ["customer", "reference"],
      ["description"],
      ["metadata"],
      ["__proto__"],
      ["card", "__proto__"],
      ["metadata", "__proto__"],
    );
    fc.assert(
      fc.property(path, fc.jsonValue(), (keys, value) => {
        const body = JSON.parse(JSON.stringify(validBody())) as Body;
        const parent = keys.length === 2 ? (body[keys[0] as string] as Body) : body;
        // defineProperty creates an own "__proto__" key, exactly like JSON.parse does.
        Object.defineProperty(parent, keys[keys.length - 1] as string, { value, enumerable: true, writable: true });
        const result = validatePaymentRequest(body, NOW);
        expect(typeof result.ok).toBe("boolean");
        if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe("amount", () => {
  const cases: Array<[unknown, string | null]> = [
    [0, "amount_too_small"],
    [-0, "amount_too_small"],
    [-5, "amount_too_small"],
    [1, null],
    [99_999_999, null],
    [100_000_000, "amount_too_large"],
    [1e308, "amount_too_large"],
    [Number.MAX_SAFE_INTEGER + 2, "amount_too_large"],
    [1.5, "amount_not_integer"],
    [Number.NaN, "amount_not_integer"],
    [Number.POSITIVE_INFINITY, "amount_not_integer"],
    [Number.NEGATIVE_INFINITY, "amount_not_integer"],
    ["100", "invalid_type"],
    [true, "invalid_type"],
    [{}, "invalid_type"],
    [[1999], "invalid_type"],
  ];
  for (const [amount, code] of cases) {
    it(`${String(amount)} (${typeof amount}) → ${code ?? "valid"}`, () => {
      const body = { ...validBody(), amount };
      if (code === null) expect(expectValid(body).amount).toBe(amount as number);
      else expect(failures(body)).toEqual([["amount", code]]);
    });
  }

  it("takes zero-decimal currency amounts as whole units", () => {
    expect(expectValid({ ...validBody(), amount: 500, currency: "JPY" })).toMatchObject({ amount: 500, currency: "JPY" });
    expect(expectValid({ ...validBody(), amount: 1500, currency: "kwd" })).toMatchObject({ amount: 1500, currency: "KWD" });
  });
});

describe("currency", () => {
  it("upper-cases supported codes", () => {
    expect(expectValid({ ...validBody(), currency: "usd" }).currency).toBe("USD");
    expect(expectValid({ ...validBody(), currency: "JPY" }).currency).toBe("JPY");
  });

  for (const currency of ["XXX", "ABC", "HRK", "XAU", "", "usdollar", "uſd"]) {
    it(`rejects ${JSON.stringify(currency)}`, () => {
      expect(failures({ ...validBody(), currency })).toEqual([["currency", "currency_unsupported"]]);
    });
  }

  it("rejects non-strings as invalid_type", () => {
    expect(failures({ ...validBody(), currency: 840 })).toEqual([["currency", "invalid_type"]]);
  });
});

describe("card.number", () => {
  it("accepts space- and dash-separated groups", () => {
    expect(expectValid(withCard({ number: "4242-4242-4242-4242" })).card?.number).toBe("4242424242424242");
    expect(expectValid(withCard({ number: "5555 5555 5555 4444" })).card?.brand).toBe("mastercard");
  });

  it("reports only invalid_format for letters, even if brand/length/Luhn would also fail", () => {
    expect(failures(withCard({ number: "4242 4242 4242 424X" }))).toEqual([["card.number", "invalid_format"]]);
    expect(failures(withCard({ number: "abcd" }))).toEqual([["card.number", "invalid_format"]]);
    expect(failures(withCard({ number: "" }))).toEqual([["card.number", "invalid_format"]]);
  });

  it("reports unsupported brands, bad lengths and Luhn failures", () => {
    expect(failures(withCard({ number: "9111111111111111" }))).toEqual([["card.number", "card_brand_unsupported"]]);
    expect(failures(withCard({ number: "2220990000000000" }))).toEqual([["card.number", "card_brand_unsupported"]]);
    expect(failures(withCard({ number: "424242424242424" }))).toEqual([["card.number", "invalid_length"]]);
    expect(failures(withCard({ number: "4242424242424241" }))).toEqual([["card.number", "luhn_check_failed"]]);
  });

  it("rejects a numeric card number as invalid_type", () => {
    expect(failures(withCard({ number: 4242424242424242 }))).toEqual([["card.number", "invalid_type"]]);
  });
});

describe("card.cvc", () => {
  it("requires exactly 4 digits for amex and 3 otherwise", () => {
    expect(expectValid(withCard({ number: "378282246310005", cvc: "1234" })).card?.cvc).toBe("1234");
    expect(failures(withCard({ number: "378282246310005", cvc: "123" }))).toEqual([["card.cvc", "invalid_cvc"]]);
    expect(failures(withCard({ cvc: "1234" }))).toEqual([["card.cvc", "invalid_cvc"]]);
    expect(failures(withCard({ cvc: "12" }))).toEqual([["card.cvc", "invalid_cvc"]]);
  });

  it("checks against the detected brand even when the number fails Luhn", () => {
    expect(failures(withCard({ number: "378282246310006", cvc: "123" }))).toEqual([
      ["card.number", "luhn_check_failed"],
      ["card.cvc", "invalid_cvc"],
    ]);
  });

  it("accepts 3 or 4 digits when the brand cannot be detected", () => {
    expect(failures(withCard({ number: "x", cvc: "1234" }))).toEqual([["card.number", "invalid_format"]]);
    expect(failures(withCard({ number: "9111111111111111", cvc: "123" }))).toEqual([
      ["card.number", "card_brand_unsupported"],
    ]);
  });

  it("rejects non-digit and non-string CVCs", () => {
    expect(failures(withCard({ cvc: "12a" }))).toEqual([["card.cvc", "invalid_cvc"]]);
    expect(failures(withCard({ cvc: 123 }))).toEqual([["card.cvc", "invalid_type"]]);
  });
});

describe("card expiry", () => {
  it("accepts the current month and rejects last month across a year boundary", () => {
    expect(expectValid(withCard({ expMonth: 1, expYear: 2027 })).card).toMatchObject({ expMonth: 1, expYear: 2027 });
    expect(failures(withCard({ expMonth: 12, expYear: 2026 }))).toEqual([["card", "card_expired"]]);
  });

  it("accepts up to 20 years ahead and rejects 21", () => {
    expect(expectValid(withCard({ expYear: 2047 })).card?.expYear).toBe(2047);
    expect(failures(withCard({ expYear: 2048 }))).toEqual([["card.expYear", "exp_year_too_far"]]);
  });

  it("validates the month and year ranges", () => {
    for (const expMonth of [0, 13, 1.5, -1]) {
      expect(failures(withCard({ expMonth }))).toEqual([["card.expMonth", "invalid_exp_month"]]);
    }
    for (const expYear of [999, 10000, 30, 2030.5]) {
      expect(failures(withCard({ expYear }))).toEqual([["card.expYear", "invalid_exp_year"]]);
    }
  });

  it("reports both bad month and bad year, but no expiry error", () => {
    expect(failures(withCard({ expMonth: 0, expYear: 1 }))).toEqual([
      ["card.expMonth", "invalid_exp_month"],
      ["card.expYear", "invalid_exp_year"],
    ]);
  });

  it("rejects strings as invalid_type", () => {
    expect(failures(withCard({ expMonth: "12", expYear: "2030" }))).toEqual([
      ["card.expMonth", "invalid_type"],
      ["card.expYear", "invalid_type"],
    ]);
  });
});

describe("card.holderName", () => {
  it("accepts 200 characters and rejects 201, empty or blank", () => {
    expect(expectValid(withCard({ holderName: "a".repeat(200) })).card?.holderName).toHaveLength(200);
    for (const holderName of ["a".repeat(201), "", "   "]) {
      expect(failures(withCard({ holderName }))).toEqual([["card.holderName", "invalid_length"]]);
    }
  });

  it("rejects non-strings", () => {
    expect(failures(withCard({ holderName: 7 }))).toEqual([["card.holderName", "invalid_type"]]);
  });
});

describe("customer", () => {
  const validEmails = ["jane@example.com", "j.d+x@sub.example.co.uk", "o'brien@ex-ample.io", "a@b.cd", "x_y@xn--bcher-kva.ch"];
  for (const email of validEmails) {
    it(`accepts email ${email}`, () => {
      expect(expectValid(withCustomer({ email })).customer.email).toBe(email);
    });
  }

  const invalidEmails = [
    "",
    "jane",
    "jane@",
    "@example.com",
    "jane@example",
    "jane@example.c",
    "jane@example.c0m",
    "jane@@example.com",
    "ja@ne@example.com",
    "jane doe@example.com",
    "jane@exa mple.com",
    ".jane@example.com",
    "jane.@example.com",
    "ja..ne@example.com",
    "jane@-example.com",
    "jane@example-.com",
    "jane@example..com",
    "jane@example.com.",
    "jane@[127.0.0.1]",
    "\"jane\"@example.com",
    "jané@example.com",
    `${"a".repeat(65)}@example.com`,
    `jane@${"a".repeat(64)}.com`,
    `jane@${"a.".repeat(123)}comm`, // 255 characters
  ];
  for (const email of invalidEmails) {
    it(`rejects email ${JSON.stringify(email.length > 40 ? `${email.slice(0, 40)}…` : email)}`, () => {
      expect(failures(withCustomer({ email }))).toEqual([["customer.email", "invalid_email"]]);
    });
  }

  it("accepts a 254-character email", () => {
    const email = `jane@${"a.".repeat(123)}com`;
    expect(email).toHaveLength(254);
    expect(expectValid(withCustomer({ email })).customer.email).toBe(email);
  });

  it("checks the customer name length after trimming", () => {
    expect(expectValid(withCustomer({ name: "b".repeat(200) })).customer.name).toHaveLength(200);
    for (const name of ["", "  ", "b".repeat(201)]) {
      expect(failures(withCustomer({ name }))).toEqual([["customer.name", "invalid_length"]]);
    }
  });

  it("limits the reference to 200 characters", () => {
    expect(expectValid(withCustomer({ reference: "r".repeat(200) })).customer.reference).toHaveLength(200);
    expect(failures(withCustomer({ reference: "r".repeat(201) }))).toEqual([["customer.reference", "invalid_length"]]);
    expect(failures(withCustomer({ reference: 42 }))).toEqual([["customer.reference", "invalid_type"]]);
  });
});

describe("description", () => {
  it("accepts 1000 characters and rejects 1001", () => {
    expect(expectValid({ ...validBody(), description: "d".repeat(1000) }).description).toHaveLength(1000);
    expect(failures({ ...validBody(), description: "d".repeat(1001) })).toEqual([["description", "too_long"]]);
  });

  it("rejects non-strings", () => {
    expect(failures({ ...validBody(), description: ["x"] })).toEqual([["description", "invalid_type"]]);
  });
});

describe("metadata", () => {
  function keys(count: number): Record<string, string> {
    return Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, "v"]));
  }

  it("accepts 20 keys and rejects 21", () => {
    expect(Object.keys(expectValid({ ...validBody(), metadata: keys(20) }).metadata)).toHaveLength(20);
    expect(failures({ ...validBody(), metadata: keys(21) })).toEqual([["metadata", "too_many_keys"]]);
  });

  it("accepts 40-character keys and rejects 41", () => {
    const ok = "k".repeat(40);
    const long = "k".repeat(41);
    expect(expectValid({ ...validBody(), metadata: { [ok]: "v" } }).metadata).toEqual({ [ok]: "v" });
    expect(failures({ ...validBody(), metadata: { [long]: "v" } })).toEqual([[`metadata.${long}`, "key_too_long"]]);
  });

  it("truncates very long keys in the error field", () => {
    expect(failures({ ...validBody(), metadata: { ["k".repeat(500)]: "v" } })).toEqual([
      [`metadata.${"k".repeat(64)}`, "key_too_long"],
    ]);
  });

  it("rejects an empty key", () => {
    expect(failures({ ...validBody(), metadata: { "": "v" } })).toEqual([["metadata.", "invalid_key"]]);
  });

  it("accepts 500-character values and rejects 501 or non-strings", () => {
    expect(expectValid({ ...validBody(), metadata: { a: "v".repeat(500) } }).metadata.a).toHaveLength(500);
    expect(failures({ ...validBody(), metadata: { a: "v".repeat(501), b: 1, c: null } })).toEqual([
      ["metadata.a", "invalid_value"],
      ["metadata.b", "invalid_type"],
      ["metadata.c", "invalid_type"],
    ]);
  });

  it("rejects prototype-related keys", () => {
    const metadata = JSON.parse('{"__proto__":"x","constructor":"y","prototype":"z","ok":"fine"}');
    expect(failures({ ...validBody(), metadata })).toEqual([
      ["metadata.__proto__", "invalid_key"],
      ["metadata.constructor", "invalid_key"],
      ["metadata.prototype", "invalid_key"],
    ]);
  });

  it("returns an ordinary object holding exactly the submitted entries", () => {
    const value = expectValid({ ...validBody(), metadata: { b: "2", a: "1" } });
    expect(Object.getPrototypeOf(value.metadata)).toBe(Object.prototype);
    expect(Object.entries(value.metadata)).toEqual([
      ["b", "2"],
      ["a", "1"],
    ]);
  });
});

describe("error reporting", () => {
  it("reports every problem at once", () => {
    const body = {
      amount: 1.5,
      currency: "XXX",
      card: { number: "4242424242424241", expMonth: 13, expYear: 2030, cvc: "12", holderName: "" },
      customer: { email: "not-an-email", name: "", reference: "r".repeat(201) },
      description: "d".repeat(1001),
      metadata: { ["m".repeat(41)]: "v", ok: "v".repeat(501) },
      surprise: true,
    };
    const errors = failures(body);
    expect(errors).toEqual([
      ["surprise", "unknown_field"],
      ["amount", "amount_not_integer"],
      ["currency", "currency_unsupported"],
      ["card.number", "luhn_check_failed"],
      ["card.expMonth", "invalid_exp_month"],
      ["card.cvc", "invalid_cvc"],
      ["card.holderName", "invalid_length"],
      ["customer.email", "invalid_email"],
      ["customer.name", "invalid_length"],
      ["customer.reference", "invalid_length"],
      ["description", "too_long"],
      [`metadata.${"m".repeat(41)}`, "key_too_long"],
      ["metadata.ok", "invalid_value"],
    ]);
    expect(errors).toHaveLength(13);
  });

  it("uses snake_case codes and non-empty messages", () => {
    const result = validatePaymentRequest({ ...validBody(), amount: "1", card: { number: "x" }, customer: [] }, NOW);
    for (const error of errorsOf(result)) {
      expect(error.code).toMatch(/^[a-z]+(?:_[a-z0-9]+)*$/);
      expect(error.message.length).toBeGreaterThan(0);
    }
  });

  it("never echoes the card number or CVC in messages", () => {
    const number = "4000 0566 5566 5556";
    const digits = number.replace(/ /g, "");
    const secrets = [number, digits, digits.slice(0, 6), digits.slice(-4), "987", "6543"];
    const bodies: Body[] = [
      withCard({ number, cvc: "9876543" }), // bad CVC
      withCard({ number: `${digits}x`, cvc: "987" }), // bad format
      withCard({ number: `${digits.slice(0, -1)}9`, cvc: "987" }), // Luhn failure
      withCard({ number: `${digits}0`, cvc: "6543" }), // bad length and bad CVC
      withCard({ number: `9${digits.slice(1)}`, cvc: "987" }), // unsupported brand
      withCard({ number, cvc: "987", expYear: 2026 }), // expired
      withCard({ number: Number(digits), cvc: 987 }), // wrong types
      withCard({ number, cvc: "987", [digits]: digits }), // smuggled as an unknown key
    ];
    for (const body of bodies) {
      for (const { message } of errorsOf(validatePaymentRequest(body, NOW))) {
        for (const secret of secrets) expect(message).not.toContain(secret);
      }
    }
  });
});

describe("text the database cannot store", () => {
  const valid = () => ({
    amount: 1999,
    currency: "USD",
    card: { number: "4242424242424242", expMonth: 12, expYear: 2030, cvc: "123" },
    customer: { email: "jane@example.com", name: "Jane Doe" },
  });

  it("rejects lone surrogates and NUL characters in free text with invalid_characters", () => {
    const body = {
      ...valid(),
      description: "broken \ud800 text",
      customer: { email: "jane@example.com", name: "Jane\u0000Doe", reference: "\udfff" },
      metadata: { "k\ud800": "v", ok: "nul\u0000" },
    };
    const result = validatePaymentRequest(body, new Date("2026-11-24T00:00:00Z"));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const codes = result.errors.filter((e) => e.code === "invalid_characters").map((e) => e.field);
    expect(codes).toEqual(expect.arrayContaining(["description", "customer.name", "customer.reference", "metadata.ok"]));
    expect(codes.length).toBe(5);
  });

  it("accepts well-formed astral characters (surrogate pairs)", () => {
    const result = validatePaymentRequest({ ...valid(), description: "🎉 𝄞 ok" }, new Date("2026-11-24T00:00:00Z"));
    expect(result.ok).toBe(true);
  });
});
