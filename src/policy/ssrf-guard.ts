import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { AppError } from "../errors.js";
import { type Egress, isLoopbackHost, namesHost, opensAddress, opensHost, otherLoopbackEntries, otherLoopbackOpenings } from "../egress.js";

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses; injectable so tests can make a name resolve anywhere. */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** A checked target: connect to `address`, and to nothing else, so DNS cannot change between check and connect. */
export interface CheckedTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const BLOCKED_NAMES = new Set(["localhost", "metadata.google.internal"]);
const ALLOWED_SCHEMES = new Set(["http:", "https:"]);
/**
 * The endpoints an operator configures for skills (a model provider, Voyage, Resend, the SMTP relay, the database of
 * postgres_query, Redis) and each scheme's default port: they pass through the same floor and narrowing.
 */
export const ENDPOINT_PORTS: Readonly<Record<string, string>> = {
  "http:": "80",
  "https:": "443",
  "postgres:": "5432",
  "postgresql:": "5432",
  "redis:": "6379",
  "rediss:": "6379",
  "smtp:": "587",
  "smtps:": "465",
};
const METADATA_ADDRESS = "169.254.169.254";
const FLOOR_HINT = "the egress floor blocks it; only the operator can open it, with AOS_EGRESS_ALLOW (an agent's allowed_hosts cannot)";

const RANGE_LABELS: Record<string, string> = {
  linkLocal: "link-local",
  uniqueLocal: "private, unique local",
  carrierGradeNat: "carrier-grade NAT",
  ipv4Compatible: "IPv4-compatible IPv6",
  rfc6052: "NAT64",
  rfc6145: "IPv4-translated IPv6",
};

/**
 * Checks that `url` may be called (docs/governance.md, "The egress floor"): http(s) only; a host the agent's
 * allowed_hosts names, when it names any; and, unless the operator opened it, not a reserved name nor a loopback,
 * private, link-local, metadata or otherwise non-public address, for every address the host resolves to.
 */
export async function checkTarget(url: URL | string, egress: Egress, lookup: HostLookup = systemLookup): Promise<CheckedTarget> {
  return checkHost(parseTarget(url), egress, lookup);
}

/**
 * The floor and the narrowing for a parsed URL of any scheme the floor knows (ENDPOINT_PORTS gives its default port):
 * its host must be named by the agent's allowed_hosts when it names any, and, unless opened, be no reserved name and
 * resolve to no blocked address. Callers vouch that `target` is where the connection will go.
 */
export async function checkHost(target: URL, egress: Egress, lookup: HostLookup = systemLookup): Promise<CheckedTarget> {
  const host = bareHostname(target);
  const port = effectivePort(target);
  if (egress.narrowTo.length > 0 && !namesHost(egress.narrowTo, host, port)) {
    const message = `blocked request to ${host}: it is not in the agent's allowed_hosts (${egress.narrowTo.join(", ")}), the only hosts its steps may reach`;
    const hint = loopbackHint(host, otherLoopbackEntries(egress.narrowTo, host), "add it to the agent's allowed_hosts");
    throw new AppError("FORBIDDEN_TARGET", message + hint, { details: { host } });
  }
  const opened = opensHost(egress.openings, host, port);
  const floorHint = () => loopbackHint(host, otherLoopbackOpenings(egress.openings, host), "the operator adds it to AOS_EGRESS_ALLOW");
  if (!opened) rejectBlockedName(host, floorHint);
  const addresses = isIP(host) === 0 ? await resolve(host, lookup) : [host];
  const checked = addresses.map((address) => ipaddr.process(address));
  if (!opened) {
    for (const address of checked) if (!opensAddress(egress.openings, address, port)) rejectBlockedAddress(host, address, floorHint);
  }
  const first = checked[0] as ipaddr.IPv4 | ipaddr.IPv6;
  return { url: target, address: first.toString(), family: first.kind() === "ipv4" ? 4 : 6 };
}

/** Why an address is not public unicast (a range name), or undefined when it may be reached. */
function blockedRange(address: ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  if (address.kind() === "ipv4") {
    const range = address.range();
    return range === "unicast" ? undefined : range;
  }
  const v6 = address as ipaddr.IPv6;
  const range = v6.range();
  if (range === "unicast") return isIPv4Compatible(v6) ? "ipv4Compatible" : undefined;
  const embedded = embeddedIPv4(v6, range);
  if (embedded === undefined) return range;
  const inner = blockedRange(embedded);
  return inner === undefined ? undefined : `${range} of ${inner}`;
}

function parseTarget(url: URL | string): URL {
  let target: URL;
  try {
    target = typeof url === "string" ? new URL(url) : url;
  } catch {
    throw AppError.nonRetryable("VALIDATION_ERROR", "http_call needs an absolute http(s) URL");
  }
  if (!ALLOWED_SCHEMES.has(target.protocol)) {
    const message = `blocked request to a ${target.protocol} URL: only http: and https: URLs are allowed`;
    throw new AppError("FORBIDDEN_TARGET", message, { details: { scheme: target.protocol } });
  }
  return target;
}

/** The URL's host without IPv6 brackets or trailing dots, lower-cased (the URL parser already lower-cases). */
function bareHostname(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1").replace(/\.+$/, "");
}

function effectivePort(url: URL): string {
  return url.port || (ENDPOINT_PORTS[url.protocol] ?? "80");
}

/**
 * What to do when a loopback host is refused while another loopback form is allowed (the agent allows 127.0.0.1 and
 * the step calls localhost): both reach this machine, but hosts are matched as written, never by what they resolve
 * to (a name's answer can change between check and connect), so the one does not cover the other. Empty otherwise.
 */
function loopbackHint(host: string, allowedLoopback: readonly string[], addIt: string): string {
  if (!isLoopbackHost(host) || allowedLoopback.length === 0) return "";
  const allowed = allowedLoopback.join(", ");
  return `; ${host} and ${allowed} are both loopback, but hosts are matched as written, not by what they resolve to, so one does not cover the other: write the URL with an allowed form instead, or ${addIt}`;
}

function rejectBlockedName(host: string, hint: () => string): void {
  if (BLOCKED_NAMES.has(host) || host.endsWith(".localhost")) {
    throw new AppError("FORBIDDEN_TARGET", `blocked request to ${host} (reserved host name): ${FLOOR_HINT}${hint()}`, {
      details: { host },
    });
  }
}

function rejectBlockedAddress(host: string, address: ipaddr.IPv4 | ipaddr.IPv6, hint: () => string): void {
  const range = blockedRange(address);
  if (range === undefined) return;
  const shown = address.toString();
  const label = shown === METADATA_ADDRESS ? "link-local, cloud metadata" : labelOf(range);
  const where = shown === host ? shown : `${host}, which resolves to ${shown}`;
  throw new AppError("FORBIDDEN_TARGET", `blocked request to ${where} (${label}): ${FLOOR_HINT}${hint()}`, {
    details: { host, address: shown, range },
  });
}

function labelOf(range: string): string {
  return range
    .split(" of ")
    .map((part) => RANGE_LABELS[part] ?? part)
    .join(" of ");
}

/**
 * The resolver's answers that say the name has no address: NXDOMAIN (getaddrinfo's EAI_NONAME, which Node reports as
 * ENOTFOUND) and a name with no address records (ENODATA). A retry would get the same answer, where a resolver that
 * failed or timed out (EAI_AGAIN, ESERVFAIL, ETIMEOUT, ECONNREFUSED…) may answer the next time.
 */
const NO_SUCH_HOST = new Set(["ENOTFOUND", "ENODATA"]);

async function resolve(host: string, lookup: HostLookup): Promise<string[]> {
  let results: readonly ResolvedAddress[];
  try {
    results = await lookup(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
    const details = { host, code };
    if (NO_SUCH_HOST.has(code)) throw new AppError("HOST_NOT_FOUND", `${host} does not resolve: the DNS has no address for it (${code})`, { cause: error, details });
    throw new AppError("DNS_ERROR", `could not resolve ${host}: the resolver failed (${code})`, { cause: error, details });
  }
  const valid = results.map((result) => result.address).filter((address) => ipaddr.isValid(address));
  if (valid.length === 0) {
    throw new AppError("HOST_NOT_FOUND", `${host} does not resolve: the DNS answered with no address`, { details: { host } });
  }
  return valid;
}

/** ::a.b.c.d, deprecated; no legitimate target uses it, and some stacks route it to the embedded IPv4. */
function isIPv4Compatible(address: ipaddr.IPv6): boolean {
  return address.parts.slice(0, 6).every((part) => part === 0);
}

/**
 * The IPv4 address embedded in a NAT64, 6to4 or IPv4-translated address, so that for example
 * 64:ff9b::7f00:1 is judged as 127.0.0.1. Undefined for ranges without one we can decode: Teredo obfuscates its
 * client address and the local-use NAT64 prefix varies in layout, so those stay blocked as whole ranges.
 */
function embeddedIPv4(address: ipaddr.IPv6, range: string): ipaddr.IPv4 | undefined {
  const p = address.parts;
  const fromParts = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  const wellKnownNat64 = range === "rfc6052" && p[0] === 0x64 && p[1] === 0xff9b && p[2] === 0;
  if (wellKnownNat64 || range === "rfc6145") return fromParts(p[6] ?? 0, p[7] ?? 0);
  if (range === "6to4") return fromParts(p[1] ?? 0, p[2] ?? 0);
  return undefined;
}
