import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { describeFailure } from "../failure-catalog.js";
import { type Egress, parseEgressOpenings } from "../egress.js";
import { checkTarget, type HostLookup } from "./ssrf-guard.js";

/** A resolver with fixed answers, so tests decide where a name points. */
function fakeLookup(answers: Record<string, string[]>): HostLookup {
  return async (hostname) => {
    const addresses = answers[hostname];
    if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
}

const resolver = fakeLookup({
  "public.test": ["93.184.215.14"],
  "evil.test": ["127.0.0.1"],
  "mixed.test": ["93.184.215.14", "10.0.0.7"],
  "v6.test": ["2606:4700::6810:84e5"],
  localhost: ["127.0.0.1"],
});

/** The operator's openings (AOS_EGRESS_ALLOW's text) and the agent's allowed_hosts. */
function egress(openings = "", narrowTo: readonly string[] = []): Egress {
  const parsed = parseEgressOpenings(openings);
  if (!parsed.ok) throw new Error(`bad openings in the test: ${parsed.entry}`);
  return { openings: parsed.openings, narrowTo };
}
const closed = egress();

async function blocked(url: string, rules: Egress = closed): Promise<AppError> {
  const error: unknown = await checkTarget(url, rules, resolver).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof AppError)) throw new Error(`expected ${url} to be refused, got ${String(error)}`);
  return error;
}

describe("checkTarget blocks non-public addresses", () => {
  it.each([
    ["http://127.0.0.1/", "loopback"],
    ["http://127.8.9.10:8080/", "loopback"],
    ["http://[::1]/", "loopback"],
    ["http://10.1.2.3/", "private"],
    ["http://172.16.0.1/", "private"],
    ["http://172.31.255.254/", "private"],
    ["http://192.168.1.1/", "private"],
    ["http://[fd00::1]/", "private, unique local"],
    ["http://169.254.169.254/latest/meta-data/", "link-local, cloud metadata"],
    ["http://169.254.1.1/", "link-local"],
    ["http://[fe80::1]/", "link-local"],
    ["http://0.0.0.0/", "unspecified"],
    ["http://[::]/", "unspecified"],
    ["http://100.64.0.1/", "carrier-grade NAT"],
    ["http://224.0.0.1/", "multicast"],
    ["http://255.255.255.255/", "broadcast"],
    ["http://240.0.0.1/", "reserved"],
    ["http://[::ffff:127.0.0.1]/", "loopback"],
    ["http://[::ffff:7f00:1]/", "loopback"],
    ["http://[::ffff:a9fe:a9fe]/", "link-local, cloud metadata"],
    ["http://[64:ff9b::7f00:1]/", "NAT64 of loopback"],
    ["http://[2002:c0a8:101::1]/", "6to4 of private"],
    ["http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "teredo"],
    ["http://[::7f00:1]/", "IPv4-compatible IPv6"],
    ["http://2130706433/", "loopback"],
    ["http://0x7f.1/", "loopback"],
  ])("%s is refused as %s", async (url, label) => {
    const error = await blocked(url);
    expect(error.code).toBe("FORBIDDEN_TARGET");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`(${label})`);
    expect(error.message).toContain("only the operator can open it, with AOS_EGRESS_ALLOW");
  });

  it("names the host and the address it resolved to", async () => {
    const error = await blocked("https://evil.test/steal");
    expect(error.message).toBe(
      "blocked request to evil.test, which resolves to 127.0.0.1 (loopback): the egress floor blocks it; only the operator can open it, with AOS_EGRESS_ALLOW (an agent's allowed_hosts cannot)",
    );
    expect(error.details).toEqual({ host: "evil.test", address: "127.0.0.1", range: "loopback" });
  });

  it("refuses a host when any one of its addresses is private", async () => {
    expect((await blocked("http://mixed.test/")).details).toMatchObject({ address: "10.0.0.7", range: "private" });
  });

  it.each(["http://localhost:3000/", "http://LOCALHOST./", "http://api.localhost/", "http://metadata.google.internal/"])(
    "refuses the reserved name %s before any DNS lookup",
    async (url) => {
      const error = await blocked(url);
      expect(error.code).toBe("FORBIDDEN_TARGET");
      expect(error.message).toContain("reserved host name");
    },
  );

  it.each(["ftp://public.test/file", "file:///etc/passwd", "gopher://public.test/"])("refuses the scheme of %s", async (url) => {
    expect((await blocked(url)).code).toBe("FORBIDDEN_TARGET");
  });
});

describe("checkTarget allows", () => {
  it("a public host, returning the address that was checked", async () => {
    const target = await checkTarget("https://public.test/a?b=1", closed, resolver);
    expect(target).toMatchObject({ address: "93.184.215.14", family: 4 });
    expect(target.url.href).toBe("https://public.test/a?b=1");
  });

  it("a public IPv6 host and a public IPv4-mapped literal, connecting to the checked form", async () => {
    expect(await checkTarget("http://v6.test/", closed, resolver)).toMatchObject({ address: "2606:4700::6810:84e5", family: 6 });
    expect(await checkTarget("http://[::ffff:93.184.215.14]/", closed, resolver)).toMatchObject({ address: "93.184.215.14", family: 4 });
    expect(await checkTarget("http://[64:ff9b::5db8:d70e]/", closed, resolver)).toMatchObject({ family: 6 });
  });

  it("what the operator opened: a host name (whatever it resolves to), an address, a range, case-insensitively", async () => {
    expect(await checkTarget("http://127.0.0.1:8080/", egress("127.0.0.1"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://127.8.9.10/", egress("127.0.0.0/8"), resolver)).toMatchObject({ address: "127.8.9.10" });
    expect(await checkTarget("http://[::ffff:127.0.0.1]/", egress("127.0.0.0/8"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://Evil.Test/", egress("EVIL.test"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://evil.test/", egress("127.0.0.1"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://localhost:3000/", egress("localhost"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://[::1]:9000/", egress("::1"), resolver)).toMatchObject({ address: "::1", family: 6 });
    expect(await checkTarget("http://10.9.8.7/", egress("10.0.0.0/8, 192.168.0.0/16"), resolver)).toMatchObject({ address: "10.9.8.7" });
  });

  it("an opening with a port only for that port, and a range only for its addresses", async () => {
    expect(await checkTarget("http://127.0.0.1:8080/", egress("127.0.0.1:8080"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://[::1]:8080/", egress("[::1]:8080"), resolver)).toMatchObject({ address: "::1" });
    expect(await checkTarget("http://evil.test/", egress("evil.test:80"), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect((await blocked("http://127.0.0.1:9090/", egress("127.0.0.1:8080"))).code).toBe("FORBIDDEN_TARGET");
    expect((await blocked("https://evil.test/", egress("evil.test:80"))).code).toBe("FORBIDDEN_TARGET");
    expect((await blocked("http://169.254.169.254/", egress("10.0.0.0/8"))).message).toContain("cloud metadata");
    expect((await blocked("http://mixed.test/", egress("127.0.0.0/8"))).details).toMatchObject({ address: "10.0.0.7" });
  });

  it("no wildcard or suffix matches", async () => {
    expect((await blocked("http://evil.test/", egress("test, vil.test"))).code).toBe("FORBIDDEN_TARGET");
  });
});

describe("an agent's allowed_hosts only narrow the floor, never open it", () => {
  it("a host the list names may be reached when the floor lets it through, and nothing else", async () => {
    expect(await checkTarget("https://public.test/", egress("", ["public.test"]), resolver)).toMatchObject({ address: "93.184.215.14" });
    const other = await blocked("http://v6.test/", egress("", ["public.test"]));
    expect(other.message).toBe("blocked request to v6.test: it is not in the agent's allowed_hosts (public.test), the only hosts its steps may reach");
  });

  it.each([
    ["http://127.0.0.1/", ["127.0.0.1"]],
    ["http://169.254.169.254/latest/meta-data/", ["169.254.169.254"]],
    ["http://localhost:8080/", ["localhost"]],
    ["http://evil.test/", ["evil.test"]],
    ["http://[::1]/", ["::1"]],
  ])("listing %s does not open the floor", async (url, list) => {
    expect((await blocked(url, egress("", list))).message).toContain("egress floor");
  });

  it("loopback opened by the operator and listed by the agent is reached; opened but not listed is not", async () => {
    expect(await checkTarget("http://127.0.0.1:8080/", egress("127.0.0.1", ["127.0.0.1"]), resolver)).toMatchObject({ address: "127.0.0.1" });
    expect((await blocked("http://127.0.0.1:8080/", egress("127.0.0.1", ["public.test"]))).message).toContain("not in the agent's allowed_hosts");
  });
});

describe("checkTarget DNS failures: each code's retryability is the catalog's, so the listing and the retries agree", () => {
  const failingWith = (code: string): HostLookup => () => Promise.reject(Object.assign(new Error(`getaddrinfo ${code} x`), { code }));

  it.each(["ENOTFOUND", "ENODATA"])("reports %s (the name has no address) as HOST_NOT_FOUND, not retryable", async (code) => {
    const error = await checkTarget("http://nowhere.test/", closed, failingWith(code)).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: "HOST_NOT_FOUND", retryable: describeFailure("HOST_NOT_FOUND").retryable });
    expect((error as AppError).retryable).toBe(false);
    expect((error as AppError).message).toBe(`nowhere.test does not resolve: the DNS has no address for it (${code})`);
  });

  it.each(["EAI_AGAIN", "ESERVFAIL", "ETIMEOUT", "ECONNREFUSED", "EAI_FAIL"])("reports %s (the resolver failed) as a retryable DNS_ERROR", async (code) => {
    const error = await checkTarget("http://slow.test/", closed, failingWith(code)).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: "DNS_ERROR", retryable: describeFailure("DNS_ERROR").retryable });
    expect((error as AppError).retryable).toBe(true);
  });

  it("reports an empty answer as HOST_NOT_FOUND", async () => {
    const empty: HostLookup = async () => [];
    await expect(checkTarget("http://empty.test/", closed, empty)).rejects.toMatchObject({ code: "HOST_NOT_FOUND", retryable: false });
  });
});

describe("a loopback host refused while another loopback form is allowed", () => {
  it.each([
    // [URL, operator's openings, agent's allowed_hosts, the allowed form the message names, the layer that refuses]
    ["http://localhost:8080/", "127.0.0.1", ["127.0.0.1"], "127.0.0.1", "allowed_hosts"],
    ["http://127.0.0.1:8080/", "127.0.0.1", ["localhost"], "localhost", "allowed_hosts"],
    ["http://[::1]:8080/", "127.0.0.1,::1", ["127.0.0.1:8080"], "127.0.0.1:8080", "allowed_hosts"],
    ["http://localhost:8080/", "127.0.0.1", [], "127.0.0.1", "AOS_EGRESS_ALLOW"],
    ["http://localhost:8080/", "127.0.0.1", ["localhost"], "127.0.0.1", "AOS_EGRESS_ALLOW"],
    ["http://[::1]:8080/", "127.0.0.0/8", [], "127.0.0.0/8", "AOS_EGRESS_ALLOW"],
    ["http://127.0.0.1:8080/", "localhost", [], "localhost", "AOS_EGRESS_ALLOW"],
  ] as const)("%s with AOS_EGRESS_ALLOW=%s and allowed_hosts %j: refused, naming %s and the way out", async (url, openings, narrowTo, allowed, fix) => {
    const error = await blocked(url, egress(openings, narrowTo));
    expect(error.code).toBe("FORBIDDEN_TARGET");
    expect(error.message).toContain(`and ${allowed} are both loopback`);
    expect(error.message).toContain("matched as written");
    expect(error.message).toContain(fix === "allowed_hosts" ? "add it to the agent's allowed_hosts" : "the operator adds it to AOS_EGRESS_ALLOW");
  });

  it.each([
    ["http://localhost:8080/", "127.0.0.1", ["api.example.com"]],
    ["http://10.0.0.5/", "127.0.0.1", []],
    ["http://127.0.0.1:9090/", "127.0.0.1:8080", []],
    ["http://127.0.0.1:9090/", "", ["127.0.0.1:8080"]],
  ] as const)("%s with AOS_EGRESS_ALLOW=%s and allowed_hosts %j: refused without the loopback hint (no other loopback form allowed at that layer)", async (url, openings, narrowTo) => {
    const error = await blocked(url, egress(openings, narrowTo));
    expect(error.code).toBe("FORBIDDEN_TARGET");
    expect(error.message).not.toContain("both loopback");
  });

  it("never lets localhost through because 127.0.0.1 is allowed, at either layer", async () => {
    for (const rules of [egress("127.0.0.1", ["127.0.0.1"]), egress("127.0.0.0/8", []), egress("127.0.0.1,::1", ["127.0.0.1", "::1"])]) {
      expect((await blocked("http://localhost/", rules)).code).toBe("FORBIDDEN_TARGET");
      expect((await blocked("http://foo.localhost/", rules)).code).toBe("FORBIDDEN_TARGET");
    }
    await expect(checkTarget("http://127.0.0.1/", egress("127.0.0.1", ["127.0.0.1"]), resolver)).resolves.toMatchObject({ address: "127.0.0.1" });
  });
});
