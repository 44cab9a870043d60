import { describe, expect, it } from "bun:test";
import { cameOverHttps, isCrossSite, sessionCookieIsSecure, sessionTokenOf } from "../../modules/dashboard/cookie";

const request = (headers: Record<string, string>, url = "http://pay.example.com/dashboard/sign-out") =>
  new Request(url, { method: "POST", headers: { host: new URL(url).host, ...headers } });

describe("dashboard: who sent a sign-in or sign-out", () => {
  it.each([
    [{ "sec-fetch-site": "same-origin" }, false],
    [{ "sec-fetch-site": "none" }, false],
    [{ "sec-fetch-site": "same-site" }, true],
    [{ "sec-fetch-site": "cross-site" }, true],
    [{ "sec-fetch-site": "" }, true],
    // Sec-Fetch-Site decides when present, whatever Origin says.
    [{ "sec-fetch-site": "cross-site", origin: "http://pay.example.com" }, true],
    [{ origin: "http://pay.example.com" }, false],
    [{ origin: "https://pay.example.com" }, false],
    [{ origin: "http://PAY.example.com" }, false],
    [{ origin: "http://pay.example.com:8443" }, true],
    [{ origin: "http://evil.example" }, true],
    [{ origin: "http://sub.pay.example.com" }, true],
    [{ origin: "null" }, true],
    [{ origin: "not a url" }, true],
    [{}, false],
  ] as const)("%j is cross-site: %p", (headers, expected) => {
    expect(isCrossSite(request(headers))).toBe(expected);
  });
});

describe("dashboard: https detection for the Secure attribute", () => {
  it("trusts the request URL's scheme always, and X-Forwarded-Proto only behind a trusted proxy", () => {
    expect(cameOverHttps(request({}, "https://pay.example.com/dashboard"), false)).toBe(true);
    expect(cameOverHttps(request({ "x-forwarded-proto": "https" }), false)).toBe(false);
    expect(cameOverHttps(request({ "x-forwarded-proto": "https" }), true)).toBe(true);
    expect(cameOverHttps(request({ "x-forwarded-proto": "HTTPS, http" }), true)).toBe(true);
    expect(cameOverHttps(request({ "x-forwarded-proto": "http, https" }), true)).toBe(false);
    expect(cameOverHttps(request({}), true)).toBe(false);
  });

  it("makes the cookie Secure in production whatever the scheme and TRUST_PROXY say, and elsewhere only over https", () => {
    for (const trustProxy of [false, true]) {
      expect(sessionCookieIsSecure(request({}), { trustProxy, production: true })).toBe(true);
      expect(sessionCookieIsSecure(request({ "x-forwarded-proto": "http" }), { trustProxy, production: true })).toBe(true);
      expect(sessionCookieIsSecure(request({}), { trustProxy, production: false })).toBe(false);
      expect(sessionCookieIsSecure(request({}, "https://pay.example.com/dashboard"), { trustProxy, production: false })).toBe(true);
    }
    expect(sessionCookieIsSecure(request({ "x-forwarded-proto": "https" }), { trustProxy: false, production: false })).toBe(false);
    expect(sessionCookieIsSecure(request({ "x-forwarded-proto": "https" }), { trustProxy: true, production: false })).toBe(true);
  });
});

describe("dashboard: the session cookie in a Cookie header", () => {
  it("finds it among others and ignores look-alike names", () => {
    expect(sessionTokenOf(request({ cookie: "a=1; paystream_dashboard=tok; b=2" }))).toBe("tok");
    expect(sessionTokenOf(request({ cookie: "xpaystream_dashboard=no; paystream_dashboard_old=no" }))).toBeUndefined();
    expect(sessionTokenOf(request({}))).toBeUndefined();
  });
});
