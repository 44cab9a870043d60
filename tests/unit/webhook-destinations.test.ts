import { describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { type AddressClass, checkEndpointUrl, classifyAddress, type DestinationPolicy, parseIpLiteral } from "../../modules/webhooks";
import { loadConfig } from "../../src/config";

const classOf = (text: string): AddressClass | "not an IP" => {
  const address = parseIpLiteral(text);
  return address ? classifyAddress(address) : "not an IP";
};

/**
 * The IANA IPv4 Special-Purpose Address Registry (plus multicast 224/4), each block by its first
 * and last address, and the public addresses just outside it.
 */
const IPV4_SPECIAL: [block: string, first: string, last: string, expected: AddressClass][] = [
  ["0.0.0.0/8 this network", "0.0.0.0", "0.255.255.255", "reserved"],
  ["10.0.0.0/8 private-use", "10.0.0.0", "10.255.255.255", "private"],
  ["100.64.0.0/10 shared address space (CGNAT)", "100.64.0.0", "100.127.255.255", "private"],
  ["127.0.0.0/8 loopback", "127.0.0.0", "127.255.255.255", "loopback"],
  ["169.254.0.0/16 link-local (cloud metadata)", "169.254.0.0", "169.254.255.255", "reserved"],
  ["172.16.0.0/12 private-use", "172.16.0.0", "172.31.255.255", "private"],
  ["192.0.0.0/24 IETF protocol assignments", "192.0.0.0", "192.0.0.255", "reserved"],
  ["192.0.2.0/24 TEST-NET-1", "192.0.2.0", "192.0.2.255", "reserved"],
  ["192.31.196.0/24 AS112-v4", "192.31.196.0", "192.31.196.255", "reserved"],
  ["192.52.193.0/24 AMT", "192.52.193.0", "192.52.193.255", "reserved"],
  ["192.88.99.0/24 deprecated 6to4 relay anycast", "192.88.99.0", "192.88.99.255", "reserved"],
  ["192.168.0.0/16 private-use", "192.168.0.0", "192.168.255.255", "private"],
  ["192.175.48.0/24 AS112 direct delegation", "192.175.48.0", "192.175.48.255", "reserved"],
  ["198.18.0.0/15 benchmarking", "198.18.0.0", "198.19.255.255", "reserved"],
  ["198.51.100.0/24 TEST-NET-2", "198.51.100.0", "198.51.100.255", "reserved"],
  ["203.0.113.0/24 TEST-NET-3", "203.0.113.0", "203.0.113.255", "reserved"],
  ["224.0.0.0/4 multicast", "224.0.0.0", "239.255.255.255", "reserved"],
  ["240.0.0.0/4 reserved", "240.0.0.0", "255.255.255.254", "reserved"],
  ["255.255.255.255/32 limited broadcast", "255.255.255.255", "255.255.255.255", "reserved"],
];

const IPV4_PUBLIC = [
  "1.1.1.1",
  "8.8.8.8",
  "9.255.255.255",
  "11.0.0.0",
  "100.63.255.255",
  "100.128.0.0",
  "126.255.255.255",
  "128.0.0.0",
  "169.253.255.255",
  "169.255.0.0",
  "172.15.255.255",
  "172.32.0.0",
  "192.0.1.0",
  "192.0.3.0",
  "192.88.98.255",
  "192.167.255.255",
  "192.169.0.0",
  "198.17.255.255",
  "198.20.0.0",
  "198.51.99.255",
  "203.0.112.255",
  "223.255.255.255",
];

/** The IANA IPv6 Special-Purpose Address Registry, multicast, site-local and the forms that carry an IPv4 address. */
const IPV6_SPECIAL: [block: string, addresses: string[], expected: AddressClass][] = [
  ["::1/128 loopback", ["::1", "0:0:0:0:0:0:0:1"], "loopback"],
  ["::/128 unspecified", ["::"], "reserved"],
  ["::ffff:0:0/96 IPv4-mapped, loopback inside", ["::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:127.255.255.255"], "loopback"],
  ["::ffff:0:0/96 IPv4-mapped, private inside", ["::ffff:10.0.0.1", "::ffff:192.168.1.1", "::ffff:ac10:1"], "private"],
  ["::ffff:0:0/96 IPv4-mapped, reserved inside", ["::ffff:169.254.169.254", "::ffff:0.0.0.0", "::ffff:224.0.0.1"], "reserved"],
  ["::/96 IPv4-compatible (deprecated)", ["::127.0.0.1", "::7f00:1", "::10.0.0.1", "::169.254.169.254", "::8.8.8.8", "::808:808", "::2"], "reserved"],
  ["::ffff:0:0:0/96 IPv4-translated", ["::ffff:0:127.0.0.1", "::ffff:0:808:808"], "reserved"],
  ["64:ff9b::/96 NAT64, non-public inside", ["64:ff9b::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::10.1.2.3", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:1"], "reserved"],
  ["64:ff9b:1::/48 local-use NAT64", ["64:ff9b:1::1", "64:ff9b:1::808:808", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"], "reserved"],
  ["100::/64 discard-only", ["100::", "100::ffff:ffff:ffff:ffff"], "reserved"],
  ["100:0:0:1::/64 dummy prefix", ["100:0:0:1::1"], "reserved"],
  ["2001::/32 Teredo", ["2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"], "reserved"],
  [
    "2001::/23 IETF protocol assignments",
    ["2001:1::1", "2001:1::2", "2001:1::3", "2001:2::1", "2001:3::1", "2001:4:112::1", "2001:10::1", "2001:20::1", "2001:30::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"],
    "reserved",
  ],
  ["2001:db8::/32 documentation", ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"], "reserved"],
  ["2002::/16 6to4, non-public inside", ["2002:7f00:1::1", "2002:a00:1::", "2002:c0a8:101::1", "2002:a9fe:a9fe::1", "2002::1"], "reserved"],
  ["2620:4f:8000::/48 AS112 direct delegation", ["2620:4f:8000::1"], "reserved"],
  ["3fff::/20 documentation", ["3fff::1", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"], "reserved"],
  ["5f00::/16 segment routing SIDs", ["5f00::1"], "reserved"],
  ["fc00::/7 unique local", ["fc00::", "fd00::1", "fd00:ec2::254", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], "private"],
  ["fec0::/10 site-local (deprecated)", ["fec0::1", "feff::1"], "private"],
  ["fe80::/10 link-local", ["fe80::", "fe80::1", "fe80::1%eth0", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], "reserved"],
  ["ff00::/8 multicast", ["ff00::", "ff02::1", "ff05::2", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], "reserved"],
  ["outside 2000::/3 (not allocated as global unicast)", ["1::1", "4000::1", "8000::1", "e000::1"], "reserved"],
  ["a zone on a global address", ["2606:4700:4700::1111%eth0"], "reserved"],
];

const IPV6_PUBLIC = [
  "2606:4700:4700::1111",
  "2001:4860:4860::8888",
  "2a00:1450:4001:80b::200e",
  "2001:200::1",
  "2c0f:fb50:4003::",
  "3ffe::1",
  "3fff:1000::1",
  // Forms that carry a public IPv4 address go to it: DNS64 networks hand out 64:ff9b::a.b.c.d for IPv4-only hosts.
  "::ffff:8.8.8.8",
  "64:ff9b::8.8.8.8",
  "64:ff9b::808:808",
  "2002:808:808::1",
];

/** How an IP address can be written in a URL host or handed to a resolver that calls inet_aton. */
const ODD_LITERALS: [text: string, expected: AddressClass][] = [
  ["2130706433", "loopback"],
  ["0x7f.1", "loopback"],
  ["0x7f000001", "loopback"],
  ["017700000001", "loopback"],
  ["0177.0.0.1", "loopback"],
  ["127.1", "loopback"],
  ["127.0.1", "loopback"],
  ["127.000.000.001", "loopback"],
  ["[::1]", "loopback"],
  ["[::ffff:127.0.0.1]", "loopback"],
  ["[::ffff:7f00:1]", "loopback"],
  ["[fe80::1%eth0]", "reserved"],
  ["[fe80::1%25eth0]", "reserved"],
  ["0", "reserved"],
  ["0x0", "reserved"],
  ["167772161", "private"],
  ["0xa.0.0.1", "private"],
  ["012.0.0.1", "private"],
  ["3232235777", "private"],
  ["0xc0a80101", "private"],
  ["2852039166", "reserved"],
  ["0xa9fea9fe", "reserved"],
  ["0251.0376.0251.0376", "reserved"],
  ["134744072", "public"],
  ["0x8080808", "public"],
];

describe("webhook destination address classes (IANA special-purpose registries)", () => {
  for (const [block, first, last, expected] of IPV4_SPECIAL)
    it(`IPv4 ${block} is ${expected}`, () => {
      expect({ first: classOf(first), last: classOf(last) }).toEqual({ first: expected, last: expected });
    });

  it("IPv4 unicast outside every special block is public, up to the blocks' edges", () => {
    expect(IPV4_PUBLIC.map((a) => [a, classOf(a)])).toEqual(IPV4_PUBLIC.map((a) => [a, "public"]));
  });

  for (const [block, addresses, expected] of IPV6_SPECIAL)
    it(`IPv6 ${block} is ${expected}`, () => {
      expect(addresses.map((a) => [a, classOf(a)])).toEqual(addresses.map((a) => [a, expected]));
    });

  it("IPv6 global unicast, and forms carrying a public IPv4 address, are public", () => {
    expect(IPV6_PUBLIC.map((a) => [a, classOf(a)])).toEqual(IPV6_PUBLIC.map((a) => [a, "public"]));
  });

  it("reads decimal, octal, hex and shortened IPv4 and bracketed or zoned IPv6 as the address they mean", () => {
    expect(ODD_LITERALS.map(([t]) => [t, classOf(t)])).toEqual(ODD_LITERALS);
  });

  it("reads host names and malformed addresses as names, left to resolution", () => {
    for (const name of ["example.com", "localhost", "1.2.3.4.5", "08.1.1.1", "0x100000000", "4294967296", "::ffff::1", "[::1", "1e2.0.0.1"])
      expect({ name, kind: classOf(name) }).toEqual({ name, kind: "not an IP" });
  });
});

describe("webhook endpoint URLs at registration", () => {
  const production: DestinationPolicy = { requireHttps: true, allowPrivateNetworks: false };
  const development: DestinationPolicy = { requireHttps: false, allowPrivateNetworks: false };
  const local: DestinationPolicy = { requireHttps: false, allowPrivateNetworks: true };
  const codeOf = (url: string, policy: DestinationPolicy) => {
    const checked = checkEndpointUrl({ url }, policy);
    return checked.ok ? "ok" : checked.errors[0]?.code;
  };

  it("takes only https in production, http as well elsewhere", () => {
    expect(codeOf("http://shop.example.com/hooks", production)).toBe("https_required");
    expect(codeOf("https://shop.example.com/hooks", production)).toBe("ok");
    expect(codeOf("http://shop.example.com/hooks", development)).toBe("ok");
  });

  const refused: [url: string, code: string][] = [
    ["https://localhost/hooks", "loopback_not_allowed"],
    ["https://localhost./hooks", "loopback_not_allowed"],
    ["https://LOCALHOST:8443/hooks", "loopback_not_allowed"],
    ["https://api.localhost/hooks", "loopback_not_allowed"],
    ["https://0x7f.1/hooks", "loopback_not_allowed"],
    ["https://2130706433/hooks", "loopback_not_allowed"],
    ["https://017700000001/hooks", "loopback_not_allowed"],
    ["https://127.1/hooks", "loopback_not_allowed"],
    ["https://[::1]/hooks", "loopback_not_allowed"],
    ["https://[::ffff:127.0.0.1]/hooks", "loopback_not_allowed"],
    ["https://[::127.0.0.1]/hooks", "private_address_not_allowed"],
    ["https://[64:ff9b::127.0.0.1]/hooks", "private_address_not_allowed"],
    ["https://[64:ff9b:1::a00:1]/hooks", "private_address_not_allowed"],
    ["https://[2002:7f00:1::1]/hooks", "private_address_not_allowed"],
    ["https://[2001::1]/hooks", "private_address_not_allowed"],
    ["https://[fe80::1]/hooks", "private_address_not_allowed"],
    ["https://[fd00:ec2::254]/latest/meta-data", "private_address_not_allowed"],
    ["https://169.254.169.254/latest/meta-data", "private_address_not_allowed"],
    ["https://0/hooks", "private_address_not_allowed"],
    ["https://10.0.0.8/hooks", "private_address_not_allowed"],
    ["https://100.100.100.200/latest/meta-data", "private_address_not_allowed"],
    ["https://metadata.google.internal/computeMetadata/v1/", "private_address_not_allowed"],
    ["https://metadata.google.internal./computeMetadata/v1/", "private_address_not_allowed"],
    ["https://metadata/computeMetadata/v1/", "private_address_not_allowed"],
    ["https://printer.local/hooks", "private_address_not_allowed"],
    ["https://nas.home.arpa/hooks", "private_address_not_allowed"],
    ["https://db.corp/hooks", "private_address_not_allowed"],
    ["https://[fe80::1%25eth0]/hooks", "invalid_url"],
  ];

  it("refuses loopback, private, reserved and internal-only hosts however they are written", () => {
    for (const policy of [production, development])
      expect(refused.map(([url]) => [url, codeOf(url, policy)])).toEqual(refused);
  });

  it("lets loopback and private hosts through only with allowPrivateNetworks, and reserved ones never", () => {
    for (const url of ["http://localhost:4000/hooks", "http://127.0.0.1:4000/hooks", "http://[::1]/hooks", "http://10.0.0.8/hooks", "http://receiver/hooks"])
      expect({ url, code: codeOf(url, local) }).toEqual({ url, code: "ok" });
    for (const url of ["http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/", "http://[64:ff9b::7f00:1]/"])
      expect({ url, code: codeOf(url, local) }).toEqual({ url, code: "private_address_not_allowed" });
  });

  it("answers every input with ok or a field error, never an exception", () => {
    const hosts = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV4Extended(), fc.ipV6().map((a) => `[${a}]`), fc.string());
    fc.assert(
      fc.property(fc.constantFrom("http", "https", "ftp", ""), hosts, fc.string(), (scheme, host, rest) => {
        for (const policy of [production, development, local]) {
          const checked = checkEndpointUrl({ url: `${scheme}://${host}/${rest}` }, policy);
          expect(checked.ok || checked.errors.length === 1).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("accepts public addresses and ordinary names (their addresses are checked at delivery)", () => {
    for (const url of ["https://93.184.215.14/hooks", "https://[2606:4700:4700::1111]/hooks", "https://[::ffff:8.8.8.8]/hooks", "https://hooks.shop.example.com:8443/p?q=1"])
      expect({ url, code: codeOf(url, production) }).toEqual({ url, code: "ok" });
  });
});

describe("webhook destination settings", () => {
  const productionEnv = {
    NODE_ENV: "production",
    API_KEYS: `shop:sk_live_${randomBytes(24).toString("hex")}`,
    CARD_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    GATEWAY: "stripe",
    STRIPE_SECRET_KEY: "sk_test_not_used",
  };

  it("production takes https endpoints on public networks only", () => {
    expect(loadConfig(productionEnv).webhooks.destinations).toEqual({ requireHttps: true, allowPrivateNetworks: false });
  });

  it("refuses to start in production with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true", () => {
    expect(() => loadConfig({ ...productionEnv, WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true" })).toThrow(/^WEBHOOK_ALLOW_PRIVATE_NETWORKS /);
  });

  it("outside production takes http too, and private networks only when switched on", () => {
    expect(loadConfig({}).webhooks.destinations).toEqual({ requireHttps: false, allowPrivateNetworks: false });
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true" }).webhooks.destinations).toEqual({ requireHttps: false, allowPrivateNetworks: true });
  });
});
