import { AppError } from "../errors.js";
import { type CheckedTarget, checkHost, ENDPOINT_PORTS, type HostLookup } from "./ssrf-guard.js";
import type { Egress } from "../egress.js";

/*
 * An endpoint an operator configured for a skill (a model provider, Voyage, Resend, the SMTP relay, postgres_query's
 * database, Redis, the Slack webhook) reaches a network, so it passes the egress floor and the agent's allowed_hosts
 * like a URL from a plan (docs/governance.md, "The egress floor"). The client that connects is not ours (the model
 * SDKs, pg, node-redis, nodemailer) and each reads a URL its own way: pg takes `?host=` and Unix sockets, node-redis
 * defaults an empty host to localhost, nodemailer decodes percent-escapes and takes `?proxy=`. So an endpoint is
 * checked only in the one plain form every client reads alike, and anything else is refused, never passed unchecked:
 * a known scheme, a host written as a name, a dotted or bracketed address (no escapes, not empty), and only query
 * parameters that cannot move the connection.
 */

/** Query parameters each scheme may carry: none of them names a host, a port, a socket or a proxy. */
const SAFE_QUERY: Readonly<Record<string, ReadonlySet<string> | "any">> = {
  "http:": "any",
  "https:": "any",
  "postgres:": new Set(["sslmode", "ssl", "application_name", "connect_timeout", "options", "sslrootcert", "sslcert", "sslkey"]),
  "postgresql:": new Set(["sslmode", "ssl", "application_name", "connect_timeout", "options", "sslrootcert", "sslcert", "sslkey"]),
  "redis:": new Set(),
  "rediss:": new Set(),
  "smtp:": new Set(["secure", "requireTLS", "ignoreTLS", "name", "connectionTimeout", "greetingTimeout", "socketTimeout"]),
  "smtps:": new Set(["requireTLS", "name", "connectionTimeout", "greetingTimeout", "socketTimeout"]),
};

const PLAIN_HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])$/;

/** What keeps `url` from being checked as the one place its client will connect to, or undefined when nothing does. */
export function endpointProblem(url: string): string | undefined {
  if (!URL.canParse(url)) return "it is not a URL";
  const target = new URL(url);
  const allowed = SAFE_QUERY[target.protocol];
  if (allowed === undefined || ENDPOINT_PORTS[target.protocol] === undefined) {
    return `its scheme ${target.protocol} is not one the egress floor checks (${Object.keys(SAFE_QUERY).join(" ")})`;
  }
  if (target.hostname === "") return "it names no host (a client would pick one itself: localhost, a socket)";
  if (!PLAIN_HOST.test(target.hostname)) return `its host ${JSON.stringify(target.hostname)} is not written plainly (a name, a dotted or bracketed address, no escapes)`;
  if (allowed !== "any") {
    const moving = [...target.searchParams.keys()].filter((name) => !allowed.has(name));
    if (moving.length > 0) return `its query parameter ${moving.map((name) => JSON.stringify(name)).join(", ")} may move the connection elsewhere`;
  }
  return undefined;
}

/** Checks a configured endpoint before a step uses it; FORBIDDEN_TARGET when it is blocked or cannot be checked. */
export async function checkEndpoint(url: string, egress: Egress, lookup?: HostLookup): Promise<CheckedTarget> {
  const problem = endpointProblem(url);
  if (problem !== undefined) {
    const parsed = URL.canParse(url) ? new URL(url) : undefined;
    const shown = parsed === undefined ? "(unparseable)" : `${parsed.protocol}//${parsed.host}`;
    throw new AppError("FORBIDDEN_TARGET", `blocked the configured endpoint ${shown}: ${problem}; the operator must configure it plainly`, {
      details: { endpoint: shown },
    });
  }
  return checkHost(new URL(url), egress, lookup);
}
