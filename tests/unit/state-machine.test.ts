import { describe, expect, it } from "bun:test";
import { allowedSources, canTransition, isFinal, PAYMENT_STATUSES } from "../../modules/payments";

describe("payment status machine", () => {
  it("allows only PENDING → PROCESSING → COMPLETED | FAILED", () => {
    const allowed: string[] = [];
    for (const from of PAYMENT_STATUSES) for (const to of PAYMENT_STATUSES) if (canTransition(from, to)) allowed.push(`${from}→${to}`);
    expect(allowed.sort()).toEqual(["PENDING→PROCESSING", "PROCESSING→COMPLETED", "PROCESSING→FAILED"]);
  });

  it("treats COMPLETED and FAILED as final and nothing else", () => {
    expect(PAYMENT_STATUSES.filter(isFinal)).toEqual(["COMPLETED", "FAILED"]);
  });

  it("derives the SQL guard's source statuses from the same table", () => {
    expect(allowedSources("COMPLETED")).toEqual(["PROCESSING"]);
    expect(allowedSources("FAILED")).toEqual(["PROCESSING"]);
    expect(allowedSources("PROCESSING")).toEqual(["PENDING"]);
    expect(allowedSources("PENDING")).toEqual([]);
  });
});
