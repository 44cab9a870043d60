import { describe, expect, it } from "bun:test";
import { maskCredentials } from "../../modules/runtime";

describe("maskCredentials: a password in a URL is shown as *** with its user and host kept", () => {
  const masked: [string, string][] = [
    ["postgres://u:s3cretpw@127.0.0.1:1/x", "postgres://u:***@127.0.0.1:1/x"],
    ["postgresql://payments:s3cretpw@db.internal:5432/paystream?sslmode=require", "postgresql://payments:***@db.internal:5432/paystream?sslmode=require"],
    ["https://user:s3cretpw@stripe.proxy.internal/v1", "https://user:***@stripe.proxy.internal/v1"],
    ["postgres://u:p@ss@h/db", "postgres://u:***@h/db"],
    ["postgres://u:s3c:ret@h/db", "postgres://u:***@h/db"],
    ["postgres://u:s3cret/pw@h/db", "postgres://u:***@h/db"],
    ["postgres://:s3cretpw@h/db", "postgres://:***@h/db"],
    ["u:s3cretpw@k1:9092,v:0therpw@k2:9093", "u:***@k1:9092,v:***@k2:9093"],
    ['DATABASE_URL must match "^(postgres)://" (got "mysql://u:s3cretpw@h/db")', 'DATABASE_URL must match "^(postgres)://" (got "mysql://u:***@h/db")'],
    ['{"msg":"connect failed","url":"postgres://u:s3cretpw@h:5432/db"}', '{"msg":"connect failed","url":"postgres://u:***@h:5432/db"}'],
    ["connecting to postgres://u:s3cretpw@h:5432/db failed", "connecting to postgres://u:***@h:5432/db failed"],
    // Malformed: no URL parser accepts these, and the password is masked all the same.
    ["postgres//u:s3cretpw@h/db", "postgres//u:***@h/db"],
    ["postgres:/u:s3cretpw@h/db", "postgres:***@h/db"],
    ["postgres://u:s3cretpw@h:notaport/db", "postgres://u:***@h:notaport/db"],
    ["postgres://u:s3cretpw@", "postgres://u:***@"],
  ];
  for (const [text, expected] of masked) {
    it(`masks ${JSON.stringify(text)}`, () => {
      expect(maskCredentials(text)).toBe(expected);
      expect(maskCredentials(text)).not.toMatch(/s3cretpw|0therpw|p@ss|s3c:ret|s3cret\/pw/);
    });
  }

  const untouched = [
    "postgres://u@h/db",
    "https://api.stripe.com/v1",
    "pglite://./.data/pglite",
    "127.0.0.1:9092,10.0.0.2:9092",
    "PORT must be <= 65535 (got 70000)",
    "write to ops@example.com",
    "",
  ];
  for (const text of untouched) {
    it(`leaves ${JSON.stringify(text)} as it is (no password in it)`, () => {
      expect(maskCredentials(text)).toBe(text);
    });
  }
});
