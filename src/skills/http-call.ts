import http, { type IncomingHttpHeaders } from "node:http";
import { z } from "zod";
import { settingWithDefault } from "../defaults.js";
import type { HostLookup } from "../policy/ssrf-guard.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { exchange, statusFailure, type Exchange, type FinalResponse, type Hop } from "./http-exchange.js";
import { ok } from "./outcome.js";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;

const inputSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(METHODS).default("GET"),
    headers: z.record(z.string(), z.string()).superRefine(checkHeaders).optional(),
    body: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown()), z.string()]).optional(),
    timeout_ms: z.int().min(1).max(300_000).optional(),
    follow_redirects: z.boolean().default(true),
  })
  .strict();

/**
 * Headers that say where a request goes or how its bytes are framed: the exchange sets them itself, from the checked
 * URL and the body. A plan's `Host` would reach a virtual host other than the one the egress floor checked (on an
 * opened proxy, say); a framing header could smuggle a second request.
 */
const EXCHANGE_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "expect", "proxy-connection"]);

/** Rejects what Node would refuse to send; the message names the header, never its value (it may be a secret). */
function checkHeaders(headers: Record<string, string>, refinement: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(headers)) {
    if (EXCHANGE_HEADERS.has(name.toLowerCase())) {
      refinement.addIssue({ code: "custom", path: [name], message: `header "${name}" is set by the exchange itself, from the URL and the body; leave it out` });
      continue;
    }
    try {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, value);
    } catch {
      refinement.addIssue({ code: "custom", path: [name], message: `header "${name}" has an invalid name or value` });
    }
  }
}

export type HttpCallInput = z.output<typeof inputSchema>;

const RESULT_HEADERS = ["content-type", "content-length", "etag", "location"] as const;

/** The http_call skill; `lookup` replaces DNS so tests can make a name resolve to a server of theirs. */
export function createHttpCallSkill(lookup?: HostLookup): Skill<HttpCallInput> {
  return {
    name: "http_call",
    version: "1.0.0",
    description:
      "Calls an HTTP(S) URL. Every target, redirects included, is resolved and checked against the SSRF guard " +
      "before connecting; the call carries the step's Idempotency-Key header.",
    input: inputSchema,
    output: {
      status_code: "the final response's HTTP status (2xx, or 3xx when not following redirects)",
      headers: "content-type, content-length, etag and location, when the response has them",
      body: "the response body: parsed JSON when the content type is JSON, else UTF-8 text",
    },
    determinism: "non_deterministic",
    sideEffects: "external_write",
    // Safe methods (RFC 9110 §9.2.1) only read; anything else may change something at the other end.
    sideEffectsOf: (input) => (["GET", "HEAD", "OPTIONS"].includes(input.method) ? "external_read" : "external_write"),
    estimateLatencyMs: () => 500,
    estimateCostCents: () => 0,
    targetUrls: (input) => [input.url],
    limits: {
      max_response_bytes: settingWithDefault("HTTP_MAX_RESPONSE_BYTES"),
      default_timeout_ms: `${settingWithDefault("HTTP_DEFAULT_TIMEOUT_MS")}; timeout_ms overrides it, up to 300000`,
      max_redirects: settingWithDefault("HTTP_MAX_REDIRECTS"),
    },
    failureCodes: [
      "HTTP_4XX", "HTTP_5XX", "TIMEOUT", "NETWORK_ERROR", "DNS_ERROR", "HOST_NOT_FOUND", "FORBIDDEN_TARGET",
      "RESPONSE_TOO_LARGE", "TOO_MANY_REDIRECTS", "CANCELLED",
    ],
    execute: (input, ctx) => executeHttpCall(input, ctx, lookup),
  };
}

export const httpCallSkill: Skill<HttpCallInput> = createHttpCallSkill();

function executeHttpCall(input: HttpCallInput, ctx: SkillContext, lookup?: HostLookup): Promise<SkillOutcome> {
  const request: Exchange = {
    skill: "http_call",
    first: firstHop(input, ctx),
    followRedirects: input.follow_redirects,
    timeoutMs: input.timeout_ms ?? ctx.limits.httpDefaultTimeoutMs,
    truncateBody: false,
    lookup,
  };
  return exchange(request, ctx, outcomeOf);
}

/** Our Idempotency-Key is set last, so it replaces one the input sent in any casing (Node keeps the last). */
function firstHop(input: HttpCallInput, ctx: SkillContext): Hop {
  const headers = { ...input.headers, "idempotency-key": ctx.idempotencyKey };
  const hop: Hop = { url: new URL(input.url), method: input.method, headers, body: undefined };
  if (typeof input.body === "string") {
    hop.body = Buffer.from(input.body);
  } else if (input.body !== undefined) {
    hop.body = Buffer.from(JSON.stringify(input.body));
    const typed = Object.keys(hop.headers).some((name) => name.toLowerCase() === "content-type");
    if (!typed) hop.headers["content-type"] = "application/json";
  }
  return hop;
}

function outcomeOf(response: FinalResponse): SkillOutcome {
  const { statusCode } = response;
  if (statusCode >= 400) return statusFailure(`${response.url.origin}${response.url.pathname}`, response);
  const body = decodeBody(response, response.body.toString("utf8"));
  return ok({ status_code: statusCode, headers: resultHeaders(response.headers), body });
}

function decodeBody(response: FinalResponse, text: string): unknown {
  if (!/[/+]json\b/i.test(response.headers["content-type"] ?? "")) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function resultHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of RESULT_HEADERS) {
    const value = headers[name];
    if (typeof value === "string") kept[name] = value;
  }
  return kept;
}
