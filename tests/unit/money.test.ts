import { describe, expect, it } from "bun:test";
import { currencyExponent, formatDecimal, isSupportedCurrency, normalizeCurrencyCode } from "../../modules/money";

describe("currency codes", () => {
  it("accepts any letter case and normalises to upper case", () => {
    expect(normalizeCurrencyCode("usd")).toBe("USD");
    expect(normalizeCurrencyCode("Eur")).toBe("EUR");
    expect(normalizeCurrencyCode("JPY")).toBe("JPY");
    expect(isSupportedCurrency("gbp")).toBe(true);
  });

  it("rejects funds-like, precious-metal and testing codes", () => {
    const excluded = ["XAU", "XAG", "XPD", "XPT", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XAD"];
    for (const code of excluded) expect(isSupportedCurrency(code)).toBe(false);
  });

  it("rejects withdrawn codes", () => {
    for (const code of ["HRK", "SLL", "VEF", "MRO", "STD", "CUC", "ZWL", "ANG", "BGN", "DEM", "FRF"]) {
      expect(isSupportedCurrency(code)).toBe(false);
    }
  });

  it("accepts the codes that replaced withdrawn ones", () => {
    for (const code of ["EUR", "SLE", "VES", "VED", "MRU", "STN", "ZWG", "XCG"]) {
      expect(isSupportedCurrency(code)).toBe(true);
    }
  });

  it("rejects anything that is not exactly three ASCII letters of a known code", () => {
    for (const code of ["", "US", "USDD", " USD", "USD ", "U$D", "ABC", "123", "uſd", "__proto__", "constructor", "toString"]) {
      expect(normalizeCurrencyCode(code)).toBeUndefined();
    }
  });
});

describe("currencyExponent", () => {
  it("is 0 for zero-decimal currencies", () => {
    const zeroDecimal = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(" ");
    for (const code of zeroDecimal) expect(currencyExponent(code)).toBe(0);
  });

  it("is 3 for three-decimal currencies", () => {
    for (const code of "BHD IQD JOD KWD LYD OMR TND".split(" ")) expect(currencyExponent(code)).toBe(3);
  });

  it("is 4 for CLF and UYW", () => {
    expect(currencyExponent("CLF")).toBe(4);
    expect(currencyExponent("UYW")).toBe(4);
  });

  it("is 2 for the rest", () => {
    for (const code of ["USD", "EUR", "GBP", "CHF", "INR", "BRL", "MXN", "CAD", "AUD", "CNY", "XCD"]) {
      expect(currencyExponent(code)).toBe(2);
    }
  });

  it("is case-insensitive and undefined for unsupported codes", () => {
    expect(currencyExponent("jpy")).toBe(0);
    expect(currencyExponent("XXX")).toBeUndefined();
    expect(currencyExponent("HRK")).toBeUndefined();
  });
});

describe("formatDecimal", () => {
  it("writes integer units as a decimal string with the given number of decimals", () => {
    expect(formatDecimal(1999, 2)).toBe("19.99");
    expect(formatDecimal(5, 2)).toBe("0.05");
    expect(formatDecimal(0, 2)).toBe("0.00");
    expect(formatDecimal(500, 0)).toBe("500");
    expect(formatDecimal(5, 3)).toBe("0.005");
    expect(formatDecimal(12_345, 4)).toBe("1.2345");
    expect(formatDecimal(-150, 2)).toBe("-1.50");
  });
});
