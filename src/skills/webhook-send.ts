import { createHmac } from "node:crypto";
import { z } from "zod";
import { settingWithDefault } from "../defaults.js";
import { canonicalJson } from "../trace/canonical-json.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { exchange, statusFailure, type FinalResponse } from "./http-exchange.js";
import { failure, ok } from "./outcome.js";

const inputSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    payload: z.record(z.string(), z.unknown()).superRefine(checkSerialisable),
    timeout_ms: z.int().min(1).max(120_000).optional(),
  })
  .strict();

/** Refused here rather than at send time, so a payload that cannot be signed never becomes a failed delivery. */
function checkSerialisable(payload: Record<string, unknown>, refinement: z.RefinementCtx): void {
  try {
    canonicalJson(payload);
  } catch (error) {
    refinement.addIssue({ code: "custom", message: `payload cannot be sent as JSON: ${(error as Error).message}` });
  }
}

export type WebhookSendInput = z.output<typeof inputSchema>;

const SIGNATURE_HEADER = "X-Signature-256";
const TIMESTAMP_HEADER = "X-Signature-Timestamp";

export const webhookSendSkill: Skill<WebhookSendInput> = {
  name: "webhook_send",
  version: "1.0.0",
  description:
    "POSTs a JSON payload to a URL, signed with HMAC-SHA256 over \"<unix timestamp>.<body>\" using WEBHOOK_SECRET " +
    `(headers ${SIGNATURE_HEADER}: sha256=<hex> and ${TIMESTAMP_HEADER}). The body is canonical JSON (RFC 8785, ` +
    "sorted keys); every target, redirects included, is checked against the SSRF guard; the delivery carries the " +
    "step's Idempotency-Key header so the receiver can drop a retried duplicate.",
  input: inputSchema,
  output: {
    status_code: "the receiver's HTTP status (2xx)",
    delivered: "always true: any other answer is an error outcome",
    signature_timestamp: `the unix timestamp (seconds) that was signed and sent in ${TIMESTAMP_HEADER}`,
    response_body: "the receiver's response as UTF-8 text, cut at HTTP_MAX_RESPONSE_BYTES",
  },
  determinism: "non_deterministic",
  sideEffects: "external_write",
  estimateLatencyMs: () => 300,
  estimateCostCents: () => 0,
  targetUrls: (input) => [input.url],
  limits: {
    max_response_bytes: `${settingWithDefault("HTTP_MAX_RESPONSE_BYTES")}; a longer response is cut, not refused`,
    default_timeout_ms: `${settingWithDefault("HTTP_DEFAULT_TIMEOUT_MS")}; timeout_ms overrides it, up to 120000`,
    max_redirects: settingWithDefault("HTTP_MAX_REDIRECTS"),
  },
  missingSettings: (settings) => (settings.webhookSecret ? [] : ["WEBHOOK_SECRET"]),
  failureCodes: [
    "CREDENTIALS_MISSING", "HTTP_4XX", "HTTP_5XX", "TIMEOUT", "NETWORK_ERROR", "DNS_ERROR", "HOST_NOT_FOUND", "FORBIDDEN_TARGET",
    "TOO_MANY_REDIRECTS", "CANCELLED",
  ],
  execute: executeWebhookSend,
};

/** `sha256=<hex>` over `<timestamp>.<body>`, the body as the exact bytes sent. */
function webhookSignature(secret: string, timestamp: number, body: Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex")}`;
}

function executeWebhookSend(input: WebhookSendInput, ctx: SkillContext): Promise<SkillOutcome> {
  const secret = ctx.settings.webhookSecret;
  if (secret === undefined || secret === "") {
    const message = "webhook_send signs every delivery and needs WEBHOOK_SECRET, which is not set; nothing was sent";
    return Promise.resolve(failure("CREDENTIALS_MISSING", message, { retryable: false }));
  }
  const body = Buffer.from(canonicalJson(input.payload), "utf8");
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    "Content-Type": "application/json",
    "Idempotency-Key": ctx.idempotencyKey,
    [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
    [TIMESTAMP_HEADER]: String(timestamp),
  };
  const first = { url: new URL(input.url), method: "POST", headers, body };
  const timeoutMs = input.timeout_ms ?? ctx.limits.httpDefaultTimeoutMs;
  const request = { skill: "webhook_send", first, followRedirects: true, timeoutMs, truncateBody: true };
  return exchange(request, ctx, (response) => outcomeOf(response, timestamp));
}

/** Only a 2xx is a delivery; a 3xx that could not be followed counts with the 4xx as permanent. */
function outcomeOf(response: FinalResponse, timestamp: number): SkillOutcome {
  const { statusCode } = response;
  if (statusCode < 200 || statusCode >= 300) {
    return statusFailure(`${response.url.origin}${response.url.pathname}`, response);
  }
  return ok({
    status_code: statusCode,
    delivered: true,
    signature_timestamp: timestamp,
    response_body: response.body.toString("utf8"),
  });
}
