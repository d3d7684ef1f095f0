import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { parseEgressOpenings, parseHostEntry } from "./egress.js";

describe("host entries (an agent's allowed_hosts, the operator's host openings)", () => {
  it.each([
    ["api.example.com", { host: "api.example.com", port: undefined }],
    ["API.Example.COM.", { host: "api.example.com", port: undefined }],
    ["api.example.com:8443", { host: "api.example.com", port: "8443" }],
    ["10.0.0.5", { host: "10.0.0.5", port: undefined }],
    ["10.0.0.5:8080", { host: "10.0.0.5", port: "8080" }],
    ["::1", { host: "::1", port: undefined }],
    ["[::1]", { host: "::1", port: undefined }],
    ["[0:0:0:0:0:0:0:1]:8443", { host: "::1", port: "8443" }],
    ["localhost", { host: "localhost", port: undefined }],
    // As the URL parser writes a host, so the entry matches the URLs that name it.
    ["2130706433", { host: "127.0.0.1", port: undefined }],
    ["0x7f.1:8080", { host: "127.0.0.1", port: "8080" }],
    ["0177.0.0.1", { host: "127.0.0.1", port: undefined }],
    ["1.2.3", { host: "1.2.0.3", port: undefined }],
  ])("reads %s", (entry, expected) => {
    expect(parseHostEntry(entry)).toEqual(expected);
  });

  it.each(["", "*", "*.example.com", "0.0.0.0/0", "http://x/", "api.example.com/path", "a b", "user@host", "host:0", "host:65536", "[api.example.com]", "-bad.example", `${"a".repeat(64)}.com`, "fe80::1%eth0", "999.1.1.1", "host%2e"])(
    "refuses %j, saying why",
    (entry) => {
      expect(typeof parseHostEntry(entry)).toBe("string");
    },
  );
});

describe("AOS_EGRESS_ALLOW", () => {
  it("reads hosts, addresses and CIDR ranges, comma separated, blanks ignored", () => {
    const parsed = parseEgressOpenings(" 127.0.0.1, 10.0.0.0/8 ,internal.example:8443,,fd00::/8, [::1]:9000 ");
    expect(parsed.ok && parsed.openings.map((opening) => [opening.kind, opening.port])).toEqual([
      ["range", undefined],
      ["range", undefined],
      ["host", "8443"],
      ["range", undefined],
      ["range", "9000"],
    ]);
  });

  it.each([
    ["10.0.0.0/33", "CIDR"],
    ["*", "not a host name"],
    ["10.0.0.0/8:80", "CIDR"],
    ["http://10.0.0.1/", "it is a URL"],
  ])("refuses %s at start, naming the entry", (raw, reason) => {
    expect(() => loadConfig({ AOS_HOME: "/tmp/aos-egress-test", AOS_EGRESS_ALLOW: raw })).toThrow(
      expect.objectContaining({ code: "USAGE", message: expect.stringMatching(new RegExp(`^AOS_EGRESS_ALLOW: "${raw.replace(/[.*/[\]]/g, "\\$&")}": .*${reason}`)) }),
    );
  });
});
