import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { z } from "zod";
import { AppError } from "../errors.js";
import { checkTarget, type CheckedTarget, type HostLookup } from "../policy/ssrf-guard.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { abortedOutcome, failure, ok } from "./outcome.js";

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

/** Rejects what Node would refuse to send; the message names the header, never its value (it may be a secret). */
function checkHeaders(headers: Record<string, string>, refinement: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(headers)) {
    try {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, value);
    } catch {
      refinement.addIssue({ code: "custom", path: [name], message: `header "${name}" has an invalid name or value` });
    }
  }
}

export type HttpCallInput = z.output<typeof inputSchema>;

/** One request of the chain: the first, or one made to follow a redirect. */
interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

interface FinalResponse {
  url: URL;
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RESULT_HEADERS = ["content-type", "content-length", "etag", "location"] as const;
/** Credentials a redirect must not carry to another origin, as browsers and curl do. */
const CREDENTIAL_HEADERS = new Set(["authorization", "proxy-authorization", "cookie"]);
const ERROR_BODY_CHARS = 1000;

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
    estimateCostCents: () => 0,
    targetUrls: (input) => [input.url],
    limits: {
      max_response_bytes: "HTTP_MAX_RESPONSE_BYTES (default 1048576)",
      default_timeout_ms: "HTTP_DEFAULT_TIMEOUT_MS (default 30000); timeout_ms overrides it, up to 300000",
      max_redirects: "HTTP_MAX_REDIRECTS (default 5)",
    },
    failureCodes: [
      "HTTP_4XX", "HTTP_5XX", "TIMEOUT", "NETWORK_ERROR", "DNS_ERROR", "FORBIDDEN_TARGET",
      "RESPONSE_TOO_LARGE", "TOO_MANY_REDIRECTS", "CANCELLED",
    ],
    execute: (input, ctx) => executeHttpCall(input, ctx, lookup),
  };
}

export const httpCallSkill: Skill<HttpCallInput> = createHttpCallSkill();

async function executeHttpCall(input: HttpCallInput, ctx: SkillContext, lookup?: HostLookup): Promise<SkillOutcome> {
  const timeoutMs = input.timeout_ms ?? ctx.limits.httpDefaultTimeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([ctx.signal, timeout]);
  try {
    return outcomeOf(await followRedirects(firstHop(input, ctx), input.follow_redirects, ctx, signal, lookup));
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome("http_call", ctx.signal);
    if (timeout.aborted) {
      const host = new URL(input.url).host;
      const details = { timeout_ms: timeoutMs };
      return failure("TIMEOUT", `http_call to ${host} timed out after ${timeoutMs} ms`, { details });
    }
    if (error instanceof AppError) return failureFrom(error);
    throw error;
  }
}

async function followRedirects(
  first: Hop,
  follow: boolean,
  ctx: SkillContext,
  signal: AbortSignal,
  lookup: HostLookup | undefined,
): Promise<FinalResponse> {
  let hop = first;
  for (let redirects = 0; ; redirects += 1) {
    const target = await untilAborted(checkTarget(hop.url, ctx.allowedHosts, lookup), signal);
    const response = await openResponse(hop, target, signal);
    const statusCode = response.statusCode ?? 0;
    ctx.log.debug("http_call response", { method: hop.method, host: hop.url.host, status_code: statusCode });
    const redirected = follow && REDIRECT_STATUSES.has(statusCode);
    const next = redirected ? redirectHop(hop, response.headers.location, statusCode) : undefined;
    if (next === undefined) {
      const cap = { maxBytes: ctx.limits.httpMaxResponseBytes, truncate: statusCode >= 400 };
      const body = hop.method === "HEAD" ? noBody(response) : await readBody(response, cap, hop.url);
      return { url: hop.url, statusCode, headers: response.headers, body };
    }
    response.destroy();
    const maxRedirects = ctx.limits.httpMaxRedirects;
    if (redirects >= maxRedirects) {
      const message = `http_call to ${first.url.host} redirected more than ${maxRedirects} times`;
      throw new AppError("TOO_MANY_REDIRECTS", message, { details: { max_redirects: maxRedirects } });
    }
    hop = next;
  }
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

/** The next hop, or undefined when the redirect cannot be followed and the 3xx response is the final one. */
function redirectHop(previous: Hop, location: string | undefined, statusCode: number): Hop | undefined {
  const url = parseLocation(location, previous.url);
  if (url === undefined) return undefined;
  const toGet = statusCode === 303 && previous.method !== "HEAD";
  const crossOrigin = url.origin !== previous.url.origin;
  const headers = Object.fromEntries(
    Object.entries(previous.headers).filter(([name]) => {
      const lower = name.toLowerCase();
      return !(crossOrigin && CREDENTIAL_HEADERS.has(lower)) && !(toGet && lower === "content-type");
    }),
  );
  return { url, method: toGet ? "GET" : previous.method, headers, body: toGet ? undefined : previous.body };
}

function parseLocation(location: string | undefined, base: URL): URL | undefined {
  return location !== undefined && URL.canParse(location, base.href) ? new URL(location, base) : undefined;
}

/** Sends one request to the address the guard checked, never to a fresh DNS answer. */
function openResponse(hop: Hop, target: CheckedTarget, signal: AbortSignal): Promise<IncomingMessage> {
  const { url } = target;
  const transport = url.protocol === "https:" ? https : http;
  const headers: Record<string, string> = { ...hop.headers };
  if (hop.body !== undefined) headers["content-length"] = String(hop.body.length);
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: hop.method,
        headers,
        signal,
        agent: false,
        lookup: pinnedLookup(target),
      },
      resolve,
    );
    request.on("error", (error) => reject(networkError(error, url)));
    request.end(hop.body);
  });
}

function pinnedLookup(target: CheckedTarget): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}

/** A HEAD response has no body, whatever its content-length says. */
function noBody(response: IncomingMessage): Buffer {
  response.destroy();
  return Buffer.alloc(0);
}

/**
 * Reads the body up to the cap; past it, stops reading and destroys the socket rather than drain the rest.
 * An error response is truncated instead: only its start is reported, and failing it as too large would turn a
 * retryable 5xx into a permanent failure.
 */
function readBody(response: IncomingMessage, cap: { maxBytes: number; truncate: boolean }, url: URL): Promise<Buffer> {
  const { maxBytes, truncate } = cap;
  const tooLarge = () =>
    new AppError("RESPONSE_TOO_LARGE", `the response from ${url.host} is larger than the ${maxBytes}-byte cap`, {
      details: { max_response_bytes: maxBytes },
    });
  if (!truncate && Number(response.headers["content-length"]) > maxBytes) {
    response.destroy();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= maxBytes) return;
      response.destroy();
      if (truncate) resolve(Buffer.concat(chunks).subarray(0, maxBytes));
      else reject(tooLarge());
    });
    response.on("end", () => resolve(Buffer.concat(chunks)));
    response.on("error", (error) => reject(networkError(error, url)));
  });
}

function outcomeOf(response: FinalResponse): SkillOutcome {
  const { statusCode } = response;
  const text = response.body.toString("utf8");
  if (statusCode < 400) {
    return ok({ status_code: statusCode, headers: resultHeaders(response.headers), body: decodeBody(response, text) });
  }
  const where = `${response.url.origin}${response.url.pathname}`;
  const details = { status_code: statusCode, body: text.slice(0, ERROR_BODY_CHARS) };
  if (statusCode < 500) return failure("HTTP_4XX", `${where} answered ${statusCode}`, { details });
  return failure("HTTP_5XX", `${where} answered ${statusCode}`, { details });
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

/** Node's connection errors name the code and the address, never header values, so their messages are safe. */
function networkError(error: Error, url: URL): AppError {
  const code = (error as NodeJS.ErrnoException).code ?? "unknown";
  const message = `http_call to ${url.host} failed: ${error.message}`;
  return new AppError("NETWORK_ERROR", message, { cause: error, details: { code } });
}

function failureFrom(error: AppError): SkillOutcome {
  return failure(error.code, error.message, { retryable: error.retryable, details: error.details });
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
