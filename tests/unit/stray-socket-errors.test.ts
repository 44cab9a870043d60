import { describe, expect, it } from "bun:test";
import { join } from "node:path";
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

/**
 * The rule as the runtime applies it, in a child process: Bun does not hand an unhandled rejection
 * to 'uncaughtException' listeners (it prints it and exits 1), so a guard on that event alone was
 * passed by postgres-js's dropped `read ECONNRESET` rejection (RELIABILITY.md, F6).
 */
describe("the process guard of src/main.ts, in a real Bun process", () => {
  const guardModule = join(import.meta.dir, "../../src/stray-socket-errors.ts");

  async function run(trigger: string) {
    const script = `
      import { guardAgainstStraySocketErrors } from ${JSON.stringify(guardModule)};
      guardAgainstStraySocketErrors(process, {
        stray: (e) => console.log("stray:", e.code),
        fatal: (e) => { console.log("fatal:", e?.message ?? String(e)); process.exit(1); },
      });
      const socketError = (code, syscall) => Object.assign(new Error(syscall + " " + code), { code, errno: -104, syscall });
      ${trigger}
      setTimeout(() => console.log("alive"), 100);
    `;
    const proc = Bun.spawn([process.execPath, "--eval", script], { stdout: "pipe", stderr: "pipe" });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return { stdout: stdout.trim().split("\n"), code };
  }

  it("survives a stray socket error that arrives as an unhandled rejection or as an uncaught exception", async () => {
    expect(await run(`Promise.reject(socketError("ECONNRESET", "read"));`)).toEqual({ stdout: ["stray: ECONNRESET", "alive"], code: 0 });
    expect(await run(`setTimeout(() => { throw socketError("EPIPE", "write"); }, 0);`)).toEqual({ stdout: ["stray: EPIPE", "alive"], code: 0 });
  });

  it("stays fatal for anything else, rejected or thrown", async () => {
    expect(await run(`Promise.reject(Object.assign(new Error("write CONNECTION_SILENT"), { code: "CONNECTION_SILENT" }));`)).toEqual({
      stdout: ["fatal: write CONNECTION_SILENT"],
      code: 1,
    });
    const thrown = await run(`setTimeout(() => { null.x; }, 0);`);
    expect(thrown.code).toBe(1);
    expect(thrown.stdout).toEqual([expect.stringMatching(/^fatal: null is not an object/)]);
  });
});
