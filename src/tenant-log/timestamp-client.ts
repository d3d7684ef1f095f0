import { createHash, randomBytes } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { untilAborted } from "../abortable.js";
import type { Egress } from "../egress.js";
import { AppError } from "../errors.js";
import { checkEndpoint } from "../policy/configured-endpoint.js";
import type { CheckedTarget, HostLookup } from "../policy/ssrf-guard.js";
import { parseTimestampResponse, readTimestampToken, timestampRequest } from "../trace/timestamp-token.js";

/**
 * Asks a timestamp authority for an RFC 3161 token over some bytes, by the HTTP transport of RFC 3161 §3.4: one POST
 * of a DER TimeStampReq as application/timestamp-query, answered by a DER TimeStampResp as
 * application/timestamp-reply. The TSA URL is a configured endpoint, so it passes the egress floor before anything
 * connects (src/policy/configured-endpoint.ts) and the request goes to the address that was checked; redirects are
 * not followed, since the next hop would not have been. The reply is read up to a cap and within the timeout.
 *
 * The client checks that the token answers this request (a SHA-256 imprint of the message, the nonce it sent); it
 * does not decide whether to trust the TSA. That is verifyTimestampToken's, offline, with the operator's trusted
 * certificates, wherever the token is later checked. Messages name the TSA's host only: a URL's path may be a secret.
 */
export interface TimestampClientOptions {
  /** Cancels the request; its reason is what the call rejects with. */
  signal?: AbortSignal;
  egress: Egress;
  /** From the start of the egress check to the last byte of the reply. */
  timeoutMs: number;
  maxResponseBytes?: number;
  /** Resolves the TSA's host name; tests make a name resolve anywhere with it. */
  lookup?: HostLookup;
}

export interface RequestedTimestamp {
  /** The TimeStampToken (a CMS ContentInfo), DER: what a proof bundle carries. */
  token: Buffer;
  /** When the TSA says it signed, unverified until verifyTimestampToken checks the token. */
  genTime: Date;
}

/** A token is 2–8 KiB with its certificates; a reply far larger is not one. */
export const TIMESTAMP_REPLY_MAX_BYTES = 64 * 1024;
const QUERY_TYPE = "application/timestamp-query";
const REPLY_TYPE = "application/timestamp-reply";
const NONCE_BYTES = 8;
/** RFC 3161 §2.4.2 statuses and failures that say "later" rather than "no". */
const TRANSIENT_REFUSALS = new Set(["waiting", "timeNotAvailable", "systemFailure"]);

/** Requests a token for `message`; throws AppError (FORBIDDEN_TARGET, TIMEOUT, TIMESTAMP_REFUSED, …) when it gets none. */
export async function requestTimestamp(tsaUrl: string, message: Buffer, options: TimestampClientOptions): Promise<RequestedTimestamp> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  const url = URL.canParse(tsaUrl) ? new URL(tsaUrl) : undefined;
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new AppError("FORBIDDEN_TARGET", "blocked the timestamp authority's URL: it is not an http: or https: URL");
  }
  const auth = credentials(url);
  const imprint = createHash("sha256").update(message).digest();
  const nonce = BigInt(`0x${randomBytes(NONCE_BYTES).toString("hex")}`);
  try {
    const target = await untilAborted(checkEndpoint(tsaUrl, options.egress, options.lookup), signal);
    const query = timestampRequest(imprint, nonce);
    const reply = await post(target, query, auth, options.maxResponseBytes ?? TIMESTAMP_REPLY_MAX_BYTES, signal);
    return tokenFor(reply, url.host, imprint, nonce);
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    if (timeout.aborted) {
      throw new AppError("TIMEOUT", `the timestamp authority at ${url.host} did not answer within ${options.timeoutMs} ms`, {
        details: { timeout_ms: options.timeoutMs },
      });
    }
    throw error;
  }
}

/** The token in a granted reply, once it is shown to answer this request. */
function tokenFor(reply: Buffer, host: string, imprint: Buffer, nonce: bigint): RequestedTimestamp {
  const response = parseTimestampResponse(reply);
  if (!response.ok) {
    const retryable = [response.status ?? "", ...(response.failures ?? [])].some((name) => TRANSIENT_REFUSALS.has(name));
    throw new AppError("TIMESTAMP_REFUSED", `the timestamp authority at ${host} gave no token: ${response.reason}`, {
      retryable,
      details: { host, status: response.status ?? null, failures: response.failures ?? [] },
    });
  }
  const read = readTimestampToken(response.token);
  if (!read.ok) throw unusable(host, read.reason);
  const { imprint: stamped, nonce: echoed, genTime } = read.info;
  if (stamped.hash !== "sha256" || !stamped.value.equals(imprint)) throw unusable(host, "its imprint is not the SHA-256 of the message sent");
  if (echoed !== nonce) throw unusable(host, "it does not carry the nonce sent, so it may answer another request");
  return { token: response.token, genTime };
}

function unusable(host: string, problem: string): AppError {
  return new AppError("TIMESTAMP_REFUSED", `the timestamp authority at ${host} answered with an unusable token: ${problem}`, { details: { host } });
}

/** One POST to the checked address; resolves with the reply's body when it is a 200 timestamp reply within the cap. */
function post(target: CheckedTarget, body: Buffer, auth: string | undefined, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const { url } = target;
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: "POST",
        auth,
        headers: { "content-type": QUERY_TYPE, accept: REPLY_TYPE, "content-length": String(body.length) },
        signal,
        agent: false,
        lookup: pinnedLookup(target),
      },
      (response) => readReply(response, url.host, maxBytes).then(resolve, reject),
    );
    request.on("error", (error) => reject(networkError(error, url.host)));
    request.end(body);
  });
}

function readReply(response: IncomingMessage, host: string, maxBytes: number): Promise<Buffer> {
  const status = response.statusCode ?? 0;
  const type = (response.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  const declaredTooLarge = Number(response.headers["content-length"]) > maxBytes ? tooLarge(host, maxBytes) : undefined;
  const refusal = statusRefusal(status, host) ?? typeRefusal(type, host) ?? declaredTooLarge;
  if (refusal !== undefined) {
    response.destroy();
    return Promise.reject(refusal);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= maxBytes) return;
      response.destroy();
      reject(tooLarge(host, maxBytes));
    });
    response.on("end", () => resolve(Buffer.concat(chunks)));
    response.on("error", (error) => reject(networkError(error, host)));
    // A reply cut off mid-body may close without an error; a promise settles once, so after "end" this is a no-op.
    response.on("close", () => reject(networkError(new Error("the connection closed before the reply ended"), host)));
  });
}

/** HTTP basic credentials in the URL (`https://user:secret@tsa.example/`), as some commercial TSAs ask for. */
function credentials(url: URL): string | undefined {
  if (url.username === "" && url.password === "") return undefined;
  try {
    return `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  } catch {
    throw new AppError("VALIDATION_ERROR", `the credentials in the URL of the timestamp authority at ${url.host} are not valid percent-encoding`);
  }
}

function statusRefusal(status: number, host: string): AppError | undefined {
  if (status === 200) return undefined;
  const details = { host, status_code: status };
  if (status >= 300 && status < 400) {
    const message = `the timestamp authority at ${host} answered ${status}: redirects are not followed, since the egress floor checked only this URL`;
    return new AppError("TIMESTAMP_REFUSED", message, { details });
  }
  return new AppError(status >= 500 ? "HTTP_5XX" : "HTTP_4XX", `the timestamp authority at ${host} answered ${status}`, { details });
}

function typeRefusal(type: string | undefined, host: string): AppError | undefined {
  if (type === REPLY_TYPE) return undefined;
  return new AppError("TIMESTAMP_REFUSED", `the timestamp authority at ${host} answered ${JSON.stringify(type)}, not ${REPLY_TYPE}`, { details: { host } });
}

function tooLarge(host: string, maxBytes: number): AppError {
  return new AppError("RESPONSE_TOO_LARGE", `the reply of the timestamp authority at ${host} is larger than ${maxBytes} bytes`, {
    details: { host, max_response_bytes: maxBytes },
  });
}

function pinnedLookup(target: CheckedTarget): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}

function networkError(error: Error, host: string): AppError {
  const code = (error as NodeJS.ErrnoException).code ?? "unknown";
  const message = `the timestamp authority at ${host} could not be reached: ${error.message}`;
  return new AppError("NETWORK_ERROR", message, { cause: error, details: { host, code } });
}
