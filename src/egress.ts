import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/**
 * Who may open what in the egress floor (docs/governance.md, "The egress floor"). The floor blocks loopback,
 * private, link-local, metadata, carrier-grade NAT, multicast, unspecified and reserved addresses, in every IPv4,
 * IPv6 and mapped form, for every skill that reaches a network. Only the operator opens it, by configuration
 * (AOS_EGRESS_ALLOW); a tenant's or an agent's host list can only narrow what the floor lets through.
 */
export interface Egress {
  /** The operator's openings in the floor. */
  readonly openings: readonly EgressOpening[];
  /** The agent's allowed_hosts: when not empty, the only hosts its steps may reach. */
  readonly narrowTo: readonly string[];
}

/** One opening: a host name, or an address range; with a port, that port only. */
export type EgressOpening =
  | { kind: "host"; host: string; port: string | undefined }
  | { kind: "range"; range: [ipaddr.IPv4 | ipaddr.IPv6, number]; port: string | undefined };

/** A host entry: a name or an address, normalised as the URL parser writes hosts, and perhaps a port. */
export interface HostEntry {
  host: string;
  port: string | undefined;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const PORT = /^[1-9]\d{0,4}$/;
const NOT_A_HOST =
  "it is not a host name (letters, digits and hyphens in dot-separated labels), an address, or either with :port; wildcards, ranges and URLs are not host entries";

/**
 * Parses a host entry: `api.example.com`, `api.example.com:8443`, `10.0.0.5`, `10.0.0.5:8080`, `::1`, `[::1]` or
 * `[::1]:8080`. Returns what is wrong with it instead when it is anything else (a wildcard, a range, a URL, a path),
 * so the caller can name the entry.
 */
export function parseHostEntry(entry: string): HostEntry | string {
  const text = entry.trim().toLowerCase();
  if (text === "") return "it is empty";
  if (text.includes("%")) return "it holds a zone id or an escape (%…), which no URL's host can, so it would never match";
  if (isIP(text) === 6) return { host: ipaddr.parse(text).toString(), port: undefined };
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const withPort = bracketed === null ? /^([^:]+)(?::(\d+))?$/.exec(text) : null;
  const host = bracketed?.[1] ?? withPort?.[1];
  const port = bracketed?.[2] ?? withPort?.[2];
  if (host === undefined) return "it is not a host name or an address, with an optional :port";
  if (port !== undefined && !(PORT.test(port) && Number(port) <= 65535)) return `its port "${port}" is not 1 to 65535`;
  if (bracketed !== null) return isIP(host) === 6 ? { host: ipaddr.parse(host).toString(), port } : "only an IPv6 address goes in brackets";
  if (isIP(host) === 4) return { host, port };
  // What a URL's host becomes once parsed: 2130706433, 0x7f.1 and 127.1 are all 127.0.0.1 to the URL parser, so an
  // entry is kept in that form, the one it will be compared with.
  if (!/^[a-z0-9.-]+$/.test(host)) {
    return NOT_A_HOST;
  }
  const parsed = URL.canParse(`http://${host}/`) ? new URL(`http://${host}/`).hostname : undefined;
  if (parsed === undefined) return "it is not a host a URL can name (an address out of range, or a character no host may hold)";
  if (isIP(parsed) === 4) return { host: parsed, port };
  const name = host.replace(/\.$/, "");
  if (name.length > 253 || !name.split(".").every((label) => LABEL.test(label))) {
    return NOT_A_HOST;
  }
  return { host: name, port };
}

/**
 * Parses the operator's openings (AOS_EGRESS_ALLOW): host entries as above, and address ranges in CIDR notation
 * (`127.0.0.0/8`, `10.0.0.0/8`, `fd00::/8`), separated by commas. Returns the openings, or the first bad entry and
 * what is wrong with it.
 */
export function parseEgressOpenings(raw: string): { ok: true; openings: EgressOpening[] } | { ok: false; entry: string; reason: string } {
  const openings: EgressOpening[] = [];
  for (const entry of raw.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    if (entry.includes("://")) return { ok: false, entry, reason: "it is a URL; give its host (and port) only" };
    if (entry.includes("/")) {
      let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
      try {
        range = ipaddr.parseCIDR(entry);
      } catch {
        return { ok: false, entry, reason: "it is not an address range in CIDR notation, such as 10.0.0.0/8 or fd00::/8" };
      }
      openings.push({ kind: "range", range, port: undefined });
      continue;
    }
    const parsed = parseHostEntry(entry);
    if (typeof parsed === "string") return { ok: false, entry, reason: parsed };
    openings.push(ipaddr.isValid(parsed.host) ? { kind: "range", range: hostRange(parsed.host), port: parsed.port } : { kind: "host", ...parsed });
  }
  return { ok: true, openings };
}

function hostRange(address: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const parsed = ipaddr.parse(address);
  return [parsed, parsed.kind() === "ipv4" ? 32 : 128];
}

/** Whether an opening names this host (a host-name opening: every address the name resolves to is opened). */
export function opensHost(openings: readonly EgressOpening[], host: string, port: string): boolean {
  return openings.some((opening) => opening.kind === "host" && opening.host === host && (opening.port === undefined || opening.port === port));
}

/** Whether an opening's range holds this address (IPv4-mapped addresses are matched as the IPv4 they carry). */
export function opensAddress(openings: readonly EgressOpening[], address: ipaddr.IPv4 | ipaddr.IPv6, port: string): boolean {
  return openings.some(
    (opening) =>
      opening.kind === "range" &&
      opening.range[0].kind() === address.kind() &&
      address.match(opening.range) &&
      (opening.port === undefined || opening.port === port),
  );
}

/**
 * Whether a host, as the URL parser writes it (no brackets), is a loopback name or address: localhost and its
 * subdomains (RFC 6761 §6.3), 127.0.0.0/8, ::1, and an IPv6 form carrying a loopback IPv4 address.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === "loopback";
}

/**
 * The openings that open a loopback form other than `host` (a name, or a range holding 127.0.0.1 or ::1 but not
 * `host`), as they were written: where `host` itself is opened on another port, the port is what differs.
 */
export function otherLoopbackOpenings(openings: readonly EgressOpening[], host: string): string[] {
  const loopback = [ipaddr.parse("127.0.0.1"), ipaddr.parse("::1")];
  const self = ipaddr.isValid(host) ? ipaddr.process(host) : undefined;
  const holds = (range: [ipaddr.IPv4 | ipaddr.IPv6, number], address: ipaddr.IPv4 | ipaddr.IPv6) =>
    address.kind() === range[0].kind() && address.match(range);
  return openings.flatMap((opening) => {
    if (opening.kind === "host") return isLoopbackHost(opening.host) && opening.host !== host ? [withPort(opening.host, opening.port)] : [];
    const [address, bits] = opening.range;
    if (!loopback.some((candidate) => holds(opening.range, candidate)) || (self !== undefined && holds(opening.range, self))) return [];
    const whole = bits === (address.kind() === "ipv4" ? 32 : 128);
    return [withPort(whole ? address.toString() : `${address.toString()}/${bits}`, opening.port)];
  });
}

function withPort(host: string, port: string | undefined): string {
  if (port === undefined) return host;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The entries of a host entry list that name a loopback form other than `host`, as they are written. */
export function otherLoopbackEntries(entries: readonly string[], host: string): string[] {
  return entries.filter((entry) => {
    const parsed = parseHostEntry(entry);
    return typeof parsed !== "string" && parsed.host !== host && isLoopbackHost(parsed.host);
  });
}

/** Whether a host entry list names this host (and port, when the entry has one). */
export function namesHost(entries: readonly string[], host: string, port: string): boolean {
  return entries.some((entry) => {
    const parsed = parseHostEntry(entry);
    return typeof parsed !== "string" && parsed.host === host && (parsed.port === undefined || parsed.port === port);
  });
}
