import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
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

async function blocked(url: string, allowedHosts: readonly string[] = []): Promise<AppError> {
  const error: unknown = await checkTarget(url, allowedHosts, resolver).then(
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
    expect(error.message).toContain("allowed_hosts");
  });

  it("names the host and the address it resolved to", async () => {
    const error = await blocked("https://evil.test/steal");
    expect(error.message).toBe(
      "blocked request to evil.test, which resolves to 127.0.0.1 (loopback): add the host to the agent's allowed_hosts to permit it",
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
    const target = await checkTarget("https://public.test/a?b=1", [], resolver);
    expect(target).toMatchObject({ address: "93.184.215.14", family: 4 });
    expect(target.url.href).toBe("https://public.test/a?b=1");
  });

  it("a public IPv6 host and a public IPv4-mapped literal, connecting to the checked form", async () => {
    expect(await checkTarget("http://v6.test/", [], resolver)).toMatchObject({ address: "2606:4700::6810:84e5", family: 6 });
    expect(await checkTarget("http://[::ffff:93.184.215.14]/", [], resolver)).toMatchObject({ address: "93.184.215.14", family: 4 });
    expect(await checkTarget("http://[64:ff9b::5db8:d70e]/", [], resolver)).toMatchObject({ family: 6 });
  });

  it("loopback when the allow-list names the host, case-insensitively", async () => {
    expect(await checkTarget("http://127.0.0.1:8080/", ["127.0.0.1"], resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://Evil.Test/", ["EVIL.test"], resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://localhost:3000/", ["localhost"], resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://[::1]:9000/", ["::1"], resolver)).toMatchObject({ address: "::1", family: 6 });
  });

  it("an allow-list entry with a port only for that port", async () => {
    expect(await checkTarget("http://127.0.0.1:8080/", ["127.0.0.1:8080"], resolver)).toMatchObject({ address: "127.0.0.1" });
    expect(await checkTarget("http://[::1]:8080/", ["[::1]:8080"], resolver)).toMatchObject({ address: "::1" });
    expect(await checkTarget("http://evil.test/", ["evil.test:80"], resolver)).toMatchObject({ address: "127.0.0.1" });
    expect((await blocked("http://127.0.0.1:9090/", ["127.0.0.1:8080"])).code).toBe("FORBIDDEN_TARGET");
    expect((await blocked("https://evil.test/", ["evil.test:80"])).code).toBe("FORBIDDEN_TARGET");
  });

  it("no wildcard or suffix matches", async () => {
    expect((await blocked("http://evil.test/", ["test", "vil.test", "*.test"])).code).toBe("FORBIDDEN_TARGET");
  });
});

describe("checkTarget DNS failures", () => {
  it("reports a name that does not resolve as DNS_ERROR, not retryable", async () => {
    const error = await blocked("http://nowhere.test/");
    expect(error.code).toBe("DNS_ERROR");
    expect(error.retryable).toBe(false);
    expect(error.message).toBe("could not resolve nowhere.test (ENOTFOUND)");
  });

  it("reports a resolver timeout as a retryable DNS_ERROR", async () => {
    const timingOut: HostLookup = () => Promise.reject(Object.assign(new Error("queryA ETIMEOUT"), { code: "EAI_AGAIN" }));
    const error = await checkTarget("http://slow.test/", [], timingOut).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: "DNS_ERROR", retryable: true });
  });

  it("reports an empty answer as DNS_ERROR", async () => {
    const empty: HostLookup = async () => [];
    await expect(checkTarget("http://empty.test/", [], empty)).rejects.toMatchObject({ code: "DNS_ERROR" });
  });
});
