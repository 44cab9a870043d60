import { describe, expect, it } from "bun:test";
import { isStraySocketError } from "../../src/stray-socket-errors";

const socketError = (code: string, syscall: string) => Object.assign(new Error(`${syscall} ${code}`), { code, errno: -104, syscall });

describe("which uncaught errors the process survives (src/main.ts)", () => {
  it("survives a reset, broken pipe or timeout on a socket's read or write: the connection's work already failed", () => {
    for (const code of ["ECONNRESET", "EPIPE", "ETIMEDOUT"]) {
      expect(isStraySocketError(socketError(code, "read"))).toBe(true);
      expect(isStraySocketError(socketError(code, "write"))).toBe(true);
    }
  });

  it("stays fatal for everything else: other codes, connects, programming errors, non-errors", () => {
    expect(isStraySocketError(socketError("ECONNREFUSED", "connect"))).toBe(false);
    expect(isStraySocketError(socketError("ECONNRESET", "connect"))).toBe(false);
    expect(isStraySocketError(socketError("EACCES", "read"))).toBe(false);
    expect(isStraySocketError(new TypeError("undefined is not a function"))).toBe(false);
    expect(isStraySocketError(Object.assign(new Error("no syscall"), { code: "ECONNRESET" }))).toBe(false);
    expect(isStraySocketError({ code: "ECONNRESET", syscall: "read" })).toBe(false);
    expect(isStraySocketError("ECONNRESET")).toBe(false);
  });
});
