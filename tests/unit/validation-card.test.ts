import { describe, expect, it } from "bun:test";
import {
  type CardBrand,
  checkCardNumber,
  detectBrand,
  isExpired,
  isExpiryTooFar,
  isValidCvc,
  isValidExpMonth,
  isValidExpYear,
  isValidLengthForBrand,
  normalizeCardNumber,
  passesLuhn,
} from "../../modules/intake/validation";

/**
 * `prefix` padded with zeros to `length` digits, ending in the correct Luhn check digit.
 * Computed independently of the module under test.
 */
function luhnNumber(prefix: string, length: number): string {
  const body = prefix.padEnd(length - 1, "0");
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    // With the check digit appended, body digits at even distance from the end get doubled.
    const fromRight = body.length - i;
    let digit = Number(body[i]);
    if (fromRight % 2 === 1) digit *= 2;
    sum += digit > 9 ? digit - 9 : digit;
  }
  return body + String((10 - (sum % 10)) % 10);
}

describe("published test card numbers", () => {
  const cards: Array<[string, CardBrand]> = [
    ["4242424242424242", "visa"],
    ["4000056655665556", "visa"],
    ["5555555555554444", "mastercard"],
    ["2223003122003222", "mastercard"],
    ["5200828282828210", "mastercard"],
    ["378282246310005", "amex"],
    ["371449635398431", "amex"],
    ["6011111111111117", "discover"],
    ["6011000990139424", "discover"],
    ["3056930009020004", "diners"],
    ["36227206271667", "diners"],
    ["3566002020360505", "jcb"],
    ["6200000000000005", "unionpay"],
    ["6759649826438453", "maestro"],
  ];
  for (const [number, brand] of cards) {
    it(`${number} is a valid ${brand}`, () => {
      expect(checkCardNumber(number)).toEqual({ ok: true, brand });
    });
  }

  const stripeDeclineCards = [
    "4000000000000002",
    "4000000000009995",
    "4000000000009987",
    "4000000000009979",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
  ];
  for (const number of stripeDeclineCards) {
    it(`Stripe decline card ${number} is a Luhn-valid visa`, () => {
      expect(checkCardNumber(number)).toEqual({ ok: true, brand: "visa" });
    });
  }
});

describe("detectBrand IIN boundaries", () => {
  const cases: Array<[string, CardBrand | undefined]> = [
    ["2220", undefined],
    ["2221", "mastercard"],
    ["2720", "mastercard"],
    ["2721", undefined],
    ["50", undefined],
    ["51", "mastercard"],
    ["55", "mastercard"],
    ["56", undefined],
    ["34", "amex"],
    ["35", undefined],
    ["37", "amex"],
    ["6011", "discover"],
    ["6012", undefined],
    ["643", undefined],
    ["644", "discover"],
    ["649", "discover"],
    ["65", "discover"],
    ["622125", "unionpay"],
    ["622126", "discover"],
    ["622925", "discover"],
    ["622926", "unionpay"],
    ["62", "unionpay"],
    ["81", "unionpay"],
    ["80", undefined],
    ["300", "diners"],
    ["305", "diners"],
    ["306", undefined],
    ["36", "diners"],
    ["38", "diners"],
    ["39", "diners"],
    ["3527", undefined],
    ["3528", "jcb"],
    ["3589", "jcb"],
    ["3590", undefined],
    ["5018", "maestro"],
    ["5020", "maestro"],
    ["5038", "maestro"],
    ["5893", "maestro"],
    ["6304", "maestro"],
    ["6759", "maestro"],
    ["6760", undefined],
    ["6761", "maestro"],
    ["6763", "maestro"],
    ["6764", undefined],
    ["1", undefined],
    ["9", undefined],
  ];
  for (const [prefix, brand] of cases) {
    it(`prefix ${prefix} → ${brand ?? "unsupported"}`, () => {
      expect(detectBrand(luhnNumber(prefix, 16))).toBe(brand);
    });
  }

  it("needs enough digits to match a long prefix", () => {
    expect(detectBrand("6221")).toBe("unionpay");
    expect(detectBrand("")).toBeUndefined();
  });
});

describe("length per brand", () => {
  const cases: Array<[CardBrand, number[], number[]]> = [
    ["visa", [13, 16, 19], [12, 14, 15, 17, 18, 20]],
    ["mastercard", [16], [15, 17]],
    ["amex", [15], [14, 16]],
    ["discover", [16, 17, 18, 19], [15, 20]],
    ["diners", [14, 15, 16, 17, 18, 19], [13, 20]],
    ["jcb", [16, 17, 18, 19], [15, 20]],
    ["unionpay", [16, 17, 18, 19], [15, 20]],
    ["maestro", [12, 13, 14, 15, 16, 17, 18, 19], [11, 20]],
  ];
  for (const [brand, valid, invalid] of cases) {
    it(`${brand}: accepts ${valid.join(",")} and rejects ${invalid.join(",")}`, () => {
      for (const length of valid) expect(isValidLengthForBrand(brand, length)).toBe(true);
      for (const length of invalid) expect(isValidLengthForBrand(brand, length)).toBe(false);
    });
  }

  it("checkCardNumber reports invalid_length before Luhn, keeping the brand", () => {
    expect(checkCardNumber(luhnNumber("4", 15))).toEqual({ ok: false, code: "invalid_length", brand: "visa" });
    expect(checkCardNumber(luhnNumber("37", 16))).toEqual({ ok: false, code: "invalid_length", brand: "amex" });
    expect(checkCardNumber("4")).toEqual({ ok: false, code: "invalid_length", brand: "visa" });
  });

  it("accepts Luhn-valid numbers at every allowed length", () => {
    expect(checkCardNumber(luhnNumber("4", 13))).toEqual({ ok: true, brand: "visa" });
    expect(checkCardNumber(luhnNumber("4", 19))).toEqual({ ok: true, brand: "visa" });
    expect(checkCardNumber(luhnNumber("5018", 12))).toEqual({ ok: true, brand: "maestro" });
    expect(checkCardNumber(luhnNumber("81", 19))).toEqual({ ok: true, brand: "unionpay" });
  });
});

describe("Luhn", () => {
  it("rejects a single-digit change and accepts the generated check digit", () => {
    expect(passesLuhn("4242424242424242")).toBe(true);
    expect(passesLuhn("4242424242424241")).toBe(false);
    expect(passesLuhn("79927398713")).toBe(true);
    expect(passesLuhn("79927398710")).toBe(false);
  });

  it("rejects the empty string", () => {
    expect(passesLuhn("")).toBe(false);
  });

  it("applies to UnionPay too", () => {
    expect(checkCardNumber("6200000000000006")).toEqual({ ok: false, code: "luhn_check_failed", brand: "unionpay" });
  });

  it("is reported for a known brand with a valid length", () => {
    expect(checkCardNumber("4242424242424241")).toEqual({ ok: false, code: "luhn_check_failed", brand: "visa" });
    expect(checkCardNumber("9242424242424242")).toEqual({ ok: false, code: "card_brand_unsupported", brand: undefined });
  });
});

describe("normalizeCardNumber", () => {
  it("strips single space or dash separators", () => {
    expect(normalizeCardNumber("4242 4242 4242 4242")).toBe("4242424242424242");
    expect(normalizeCardNumber("4242-4242-4242-4242")).toBe("4242424242424242");
    expect(normalizeCardNumber("3782-822463-10005")).toBe("378282246310005");
    expect(normalizeCardNumber("4242 4242-4242 4242")).toBe("4242424242424242");
    expect(normalizeCardNumber("4242424242424242")).toBe("4242424242424242");
  });

  it("ignores surrounding whitespace", () => {
    expect(normalizeCardNumber("  4242424242424242\n")).toBe("4242424242424242");
  });

  it("rejects letters, doubled or dangling separators and other characters", () => {
    for (const input of [
      "",
      " ",
      "4242 4242 4242 424a",
      "4242  4242 4242 4242",
      "4242--4242",
      "-4242424242424242",
      "4242424242424242-",
      "4242 - 4242",
      "4242.4242.4242.4242",
      "4242\t4242\t4242\t4242",
      "4242_4242",
      "+4242424242424242",
      "４２４２４２４２４２４２４２４２", // full-width digits
      "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", // Arabic-Indic digits
      "4242424242424242e0",
    ]) {
      expect(normalizeCardNumber(input)).toBeUndefined();
    }
  });
});

describe("isValidCvc", () => {
  it("requires 4 digits for amex and 3 for other brands", () => {
    expect(isValidCvc("1234", "amex")).toBe(true);
    expect(isValidCvc("123", "amex")).toBe(false);
    expect(isValidCvc("123", "visa")).toBe(true);
    expect(isValidCvc("1234", "visa")).toBe(false);
    expect(isValidCvc("123", "unionpay")).toBe(true);
  });

  it("accepts 3 or 4 digits when the brand is unknown", () => {
    expect(isValidCvc("123", undefined)).toBe(true);
    expect(isValidCvc("1234", undefined)).toBe(true);
    expect(isValidCvc("12", undefined)).toBe(false);
    expect(isValidCvc("12345", undefined)).toBe(false);
  });

  it("rejects non-digits", () => {
    for (const cvc of ["", "12a", "1 23", " 123", "１２３", "-12"]) {
      expect(isValidCvc(cvc, "visa")).toBe(false);
      expect(isValidCvc(cvc, undefined)).toBe(false);
    }
  });
});

describe("expiry", () => {
  it("validates month and year ranges as integers", () => {
    expect([0, 1, 12, 13, 1.5, -1, Number.NaN].map(isValidExpMonth)).toEqual([
      false,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect([999, 1000, 2030, 9999, 10000, 2030.5, Number.POSITIVE_INFINITY].map(isValidExpYear)).toEqual([
      false,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it("treats the current month as valid and last month as expired across a year boundary", () => {
    const now = new Date("2027-01-15T12:00:00Z");
    expect(isExpired(12, 2026, now)).toBe(true);
    expect(isExpired(1, 2027, now)).toBe(false);
  });

  it("keeps a card valid through the last millisecond of its month (UTC)", () => {
    expect(isExpired(1, 2027, new Date("2027-01-31T23:59:59.999Z"))).toBe(false);
    expect(isExpired(1, 2027, new Date("2027-02-01T00:00:00.000Z"))).toBe(true);
    expect(isExpired(12, 2026, new Date("2026-12-31T23:59:59.999Z"))).toBe(false);
    expect(isExpired(12, 2026, new Date("2027-01-01T00:00:00.000Z"))).toBe(true);
  });

  it("allows up to 20 years ahead", () => {
    const now = new Date("2027-01-15T00:00:00Z");
    expect(isExpiryTooFar(2047, now)).toBe(false);
    expect(isExpiryTooFar(2048, now)).toBe(true);
  });
});
