import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { untilAborted } from "../abortable.js";
import type { Egress } from "../egress.js";
import { AppError } from "../errors.js";
import { checkEndpoint } from "../policy/configured-endpoint.js";
import type { CheckedTarget, HostLookup } from "../policy/ssrf-guard.js";
import {
  ADD_CHECKPOINT_PATH,
  type AddCheckpointRequest,
  formatAddCheckpoint,
  MAX_COSIGNATURE_RESPONSE_BYTES,
  parseCosignatureResponse,
  parseSizeConflict,
  SIZE_CONTENT_TYPE,
} from "../trace/witness-protocol.js";

/** What a witness answered: its cosignature lines, the size it has cosigned (409), or another refusal. */
export type SubmitResult =
  | { ok: true; cosignatures: string[] }
  | { ok: false; conflictSize: number }
  | { ok: false; status: number; reason: string };

export interface SubmitOptions {
  signal?: AbortSignal;
  /** The operator's openings in the egress floor: a witness on a private or loopback address needs one. */
  egress: Egress;
  /** Resolves the witness's host name; tests inject one. */
  lookup?: HostLookup;
  /** Default 30 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const REASON_CHARS = 1000;

/**
 * Submits a checkpoint to a witness (c2sp.org/tlog-witness add-checkpoint) at its submission prefix `witnessUrl`.
 * The witness is an endpoint the operator configured, so it passes the egress floor as one (policy/
 * configured-endpoint.ts) and the request goes to the address that check resolved, never to a fresh DNS answer.
 * Every answer of the witness is a value; a connection that cannot be made or finished throws an AppError:
 * FORBIDDEN_TARGET (the floor), HOST_NOT_FOUND, DNS_ERROR, NETWORK_ERROR, TIMEOUT, RESPONSE_TOO_LARGE, or the signal's reason.
 * Cosignature lines are returned as the witness sent them (each ending in "\n"), checked for shape only: verify them
 * with verifyCosignatures (trace/cosignature.ts) and the witness's key before counting them.
 */
export async function submitCheckpoint(witnessUrl: string, request: AddCheckpointRequest, options: SubmitOptions): Promise<SubmitResult> {
  const url = addCheckpointUrl(witnessUrl);
  const body = Buffer.from(formatAddCheckpoint(request), "utf8");
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  try {
    const target = await untilAborted(checkEndpoint(url.href, options.egress, options.lookup), signal);
    const response = await post(target, body, signal);
    return answerOf(response.statusCode ?? 0, response.headers["content-type"], await readBody(response, url));
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    if (timeout.aborted) throw new AppError("TIMEOUT", `the witness at ${url.host} did not answer within ${timeoutMs} ms`, { details: { timeout_ms: timeoutMs } });
    throw error;
  }
}

function addCheckpointUrl(witnessUrl: string): URL {
  if (!URL.canParse(witnessUrl)) throw new AppError("VALIDATION_ERROR", `the witness URL ${JSON.stringify(witnessUrl)} is not a URL`);
  const prefix = new URL(witnessUrl);
  if (prefix.search !== "" || prefix.hash !== "" || prefix.username !== "" || prefix.password !== "") {
    throw new AppError("VALIDATION_ERROR", `the witness URL of ${prefix.host} is a submission prefix: no query, fragment or credentials`);
  }
  prefix.pathname = `${prefix.pathname.replace(/\/+$/, "")}${ADD_CHECKPOINT_PATH}`;
  return prefix;
}

function answerOf(status: number, contentType: string | undefined, body: Buffer): SubmitResult {
  if (status === 200) {
    const parsed = parseCosignatureResponse(body);
    if (parsed.ok) return { ok: true, cosignatures: parsed.lines };
    return { ok: false, status, reason: `the witness answered 200 without cosignature lines: ${parsed.reason}` };
  }
  if (status === 409 && contentType?.split(";")[0]?.trim().toLowerCase() === SIZE_CONTENT_TYPE) {
    const parsed = parseSizeConflict(body);
    if (parsed.ok) return { ok: false, conflictSize: parsed.treeSize };
    return { ok: false, status, reason: `the witness answered a size conflict without a size: ${parsed.reason}` };
  }
  const text = body.toString("utf8").trim();
  return { ok: false, status, reason: text === "" ? `the witness answered ${status}` : text.slice(0, REASON_CHARS) };
}

function post(target: CheckedTarget, body: Buffer, signal: AbortSignal): Promise<IncomingMessage> {
  const { url } = target;
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port === "" ? undefined : Number(url.port),
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(body.length) },
        signal,
        agent: false,
        lookup: pinnedLookup(target),
      },
      resolve,
    );
    request.on("error", (error) => reject(networkError(error, url)));
    request.end(body);
  });
}

/** Connects to the address the egress check resolved and approved, whatever DNS says by now. */
function pinnedLookup(target: CheckedTarget): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}

function readBody(response: IncomingMessage, url: URL): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size <= MAX_COSIGNATURE_RESPONSE_BYTES) return;
      response.destroy();
      reject(new AppError("RESPONSE_TOO_LARGE", `the witness at ${url.host} answered more than ${MAX_COSIGNATURE_RESPONSE_BYTES} bytes`));
    });
    response.on("end", () => resolve(Buffer.concat(chunks)));
    response.on("error", (error) => reject(networkError(error, url)));
    response.on("close", () => {
      if (!response.complete) reject(networkError(new Error("the connection closed before the answer was complete"), url));
    });
  });
}

function networkError(error: Error, url: URL): AppError {
  const code = (error as NodeJS.ErrnoException).code ?? "unknown";
  return new AppError("NETWORK_ERROR", `the witness at ${url.host} could not be reached: ${error.message}`, { cause: error, details: { code } });
}
