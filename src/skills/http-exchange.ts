import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { untilAborted } from "../abortable.js";
import { AppError } from "../errors.js";
import { checkTarget, type CheckedTarget, type HostLookup } from "../policy/ssrf-guard.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import { abortedOutcome, failure } from "./outcome.js";

/**
 * One HTTP exchange as the HTTP skills (http_call, webhook_send, slack_send) make it: every hop, redirects
 * included, is checked by the SSRF guard and sent to the address the guard checked; the body read is capped; the
 * exchange honours its timeout and the step's signal. Messages and logs name hosts only, never paths or header
 * values, so a skill whose URL is a secret can use it too.
 */
export interface Exchange {
  /** The skill's name, for messages and logs. */
  skill: string;
  first: Hop;
  followRedirects: boolean;
  timeoutMs: number;
  /** Truncate a success body past the cap instead of failing RESPONSE_TOO_LARGE (error bodies always are). */
  truncateBody: boolean;
  lookup?: HostLookup | undefined;
}

/** One request of the chain: the first, or one made to follow a redirect. */
export interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export interface FinalResponse {
  url: URL;
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Credentials a redirect must not carry to another origin, as browsers and curl do. */
const CREDENTIAL_HEADERS = new Set(["authorization", "proxy-authorization", "cookie"]);
const ERROR_BODY_CHARS = 1000;

/** Makes the exchange and turns its final response into the skill's outcome; never throws for HTTP trouble. */
export async function exchange(
  request: Exchange,
  ctx: SkillContext,
  outcomeOf: (response: FinalResponse) => SkillOutcome,
): Promise<SkillOutcome> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = AbortSignal.any([ctx.signal, timeout]);
  try {
    return outcomeOf(await followRedirects(request, ctx, signal));
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome(request.skill, ctx.signal);
    if (timeout.aborted) {
      const message = `${request.skill} to ${request.first.url.host} timed out after ${request.timeoutMs} ms`;
      return failure("TIMEOUT", message, { details: { timeout_ms: request.timeoutMs } });
    }
    if (error instanceof AppError) {
      return failure(error.code, error.message, { retryable: error.retryable, details: error.details });
    }
    throw error;
  }
}

/** HTTP_4XX (permanent) or HTTP_5XX (retryable) for an error status, with the start of the body. */
export function statusFailure(where: string, response: FinalResponse): SkillOutcome {
  const { statusCode } = response;
  const details = { status_code: statusCode, body: response.body.toString("utf8").slice(0, ERROR_BODY_CHARS) };
  return failure(statusCode < 500 ? "HTTP_4XX" : "HTTP_5XX", `${where} answered ${statusCode}`, { details });
}

async function followRedirects(request: Exchange, ctx: SkillContext, signal: AbortSignal): Promise<FinalResponse> {
  const { skill, first } = request;
  let hop = first;
  for (let redirects = 0; ; redirects += 1) {
    const target = await untilAborted(checkTarget(hop.url, ctx.egress, request.lookup), signal);
    const response = await openResponse(skill, hop, target, signal);
    const statusCode = response.statusCode ?? 0;
    ctx.log.debug(`${skill} response`, { method: hop.method, host: hop.url.host, status_code: statusCode });
    const redirected = request.followRedirects && REDIRECT_STATUSES.has(statusCode);
    const next = redirected ? redirectHop(hop, response.headers.location, statusCode) : undefined;
    if (next === undefined) {
      const cap = { maxBytes: ctx.limits.httpMaxResponseBytes, truncate: request.truncateBody || statusCode >= 400 };
      const body = hop.method === "HEAD" ? noBody(response) : await readBody(skill, response, cap, hop.url);
      return { url: hop.url, statusCode, headers: response.headers, body };
    }
    response.destroy();
    const maxRedirects = ctx.limits.httpMaxRedirects;
    if (redirects >= maxRedirects) {
      const message = `${skill} to ${first.url.host} redirected more than ${maxRedirects} times`;
      throw new AppError("TOO_MANY_REDIRECTS", message, { details: { max_redirects: maxRedirects } });
    }
    hop = next;
  }
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
function openResponse(skill: string, hop: Hop, target: CheckedTarget, signal: AbortSignal): Promise<IncomingMessage> {
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
    request.on("error", (error) => reject(networkError(skill, error, url)));
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
function readBody(
  skill: string,
  response: IncomingMessage,
  cap: { maxBytes: number; truncate: boolean },
  url: URL,
): Promise<Buffer> {
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
    response.on("error", (error) => reject(networkError(skill, error, url)));
  });
}

/** Node's connection errors name the code and the address, never paths or header values, so they are safe. */
function networkError(skill: string, error: Error, url: URL): AppError {
  const code = (error as NodeJS.ErrnoException).code ?? "unknown";
  const message = `${skill} to ${url.host} failed: ${error.message}`;
  return new AppError("NETWORK_ERROR", message, { cause: error, details: { code } });
}
