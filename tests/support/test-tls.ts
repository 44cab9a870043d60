/**
 * A throw-away certificate authority and one server certificate it signed, made with `openssl`
 * the first time a test process asks, so that the fake gateways can serve https: production
 * refuses http gateway base URLs (docs/CONTRACT.md §11). The program under test trusts the CA
 * through NODE_EXTRA_CA_CERTS, which Bun honours for fetch (the Stripe SDK's client under Bun)
 * and node:https (the PayPal adapter's transport), from source and compiled alike. Nothing of it
 * is ever baked into an image: container tests mount `caFile` and name it in the environment.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestTls {
  /** The CA certificate (PEM), for NODE_EXTRA_CA_CERTS; readable by any user (a container's too). */
  caFile: string;
  /** The server's key and certificate (PEM), for node:https createServer. */
  key: string;
  cert: string;
}

/** The names the server certificate is valid for: loopback, and the host name the compose test gives the host. */
export const TEST_TLS_NAMES = ["IP:127.0.0.1", "IP:::1", "DNS:localhost", "DNS:fake-stripe", "DNS:fake-paypal"];

let made: TestTls | undefined;

function openssl(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.toString()}`);
}

/** The process's test CA and server certificate, made once; the folder goes when the process exits. */
export function testTls(): TestTls {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), "paystream-test-tls-"));
  // A container's user (uid 65532) reads the CA through a bind mount of this folder's file.
  chmodSync(dir, 0o755);
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=paystream test CA (throw-away)",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    dir,
  );
  openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=paystream test gateway"], dir);
  writeFileSync(join(dir, "server.ext"), `subjectAltName=${TEST_TLS_NAMES.join(",")}\nextendedKeyUsage=serverAuth\n`);
  openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
    dir,
  );
  // The CA's key is not needed again: nothing else can be signed with it.
  rmSync(join(dir, "ca.key"));
  chmodSync(join(dir, "ca.pem"), 0o644);
  made = { caFile: join(dir, "ca.pem"), key: readFileSync(join(dir, "server.key"), "utf8"), cert: readFileSync(join(dir, "server.pem"), "utf8") };
  return made;
}
