import { z } from "zod";
import { settingWithDefault } from "../defaults.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { exchange, statusFailure, type FinalResponse } from "./http-exchange.js";
import { failure, ok } from "./outcome.js";

/** Slack's own limits: 40,000 characters of text, 50 blocks, 80-character names. */
const inputSchema = z
  .object({
    text: z.string().min(1).max(40_000),
    blocks: z.array(z.record(z.string(), z.unknown())).min(1).max(50).optional(),
    username: z.string().min(1).max(80).optional(),
    icon_emoji: z.string().regex(/^:[^:\s]+:$/, "an emoji name between colons, like :rocket:").optional(),
    channel: z.string().min(1).max(80).optional(),
    unfurl_links: z.boolean().optional(),
    unfurl_media: z.boolean().optional(),
  })
  .strict();

export type SlackSendInput = z.output<typeof inputSchema>;

const RESPONSE_CHARS = 1000;

/**
 * The webhook URL is a credential (whoever has it can post to the channel), so it comes from configuration, never
 * from the input, and only its host is ever reported. For the same reason the skill declares no `targetUrls`: they
 * are computed from the input alone and the URL is not in it; the skill runs the SSRF guard on it (and on every
 * redirect) itself.
 */
export const slackSendSkill: Skill<SlackSendInput> = {
  name: "slack_send",
  version: "1.0.0",
  description:
    "Posts a message to the Slack incoming webhook configured in SLACK_WEBHOOK_URL. username, icon_emoji and " +
    "channel are honoured only by legacy webhooks; app webhooks post as the app to their own channel.",
  input: inputSchema,
  output: {
    status_code: "Slack's HTTP status (2xx)",
    delivered: "always true: any other answer is an error outcome",
    webhook_host: "the host of the configured webhook URL (the URL itself is a secret and is never reported)",
    response_body: `Slack's answer, "ok" on success, cut at ${RESPONSE_CHARS} characters`,
  },
  determinism: "non_deterministic",
  sideEffects: "external_write",
  estimateLatencyMs: () => 300,
  estimateCostCents: () => 0,
  limits: {
    text_chars: 40_000,
    blocks: 50,
    default_timeout_ms: settingWithDefault("HTTP_DEFAULT_TIMEOUT_MS"),
    max_redirects: settingWithDefault("HTTP_MAX_REDIRECTS"),
  },
  configuredTargets: (_input, settings) => (settings.slackWebhookUrl === undefined ? [] : [settings.slackWebhookUrl]),
  missingSettings: (settings) => (settings.slackWebhookUrl ? [] : ["SLACK_WEBHOOK_URL"]),
  failureCodes: [
    "CREDENTIALS_MISSING", "HTTP_4XX", "HTTP_5XX", "TIMEOUT", "NETWORK_ERROR", "DNS_ERROR", "HOST_NOT_FOUND", "FORBIDDEN_TARGET",
    "TOO_MANY_REDIRECTS", "CANCELLED",
  ],
  execute: executeSlackSend,
};

function executeSlackSend(input: SlackSendInput, ctx: SkillContext): Promise<SkillOutcome> {
  const url = webhookUrl(ctx.settings.slackWebhookUrl);
  if (typeof url === "string") return Promise.resolve(failure("CREDENTIALS_MISSING", url, { retryable: false }));
  const headers = { "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": ctx.idempotencyKey };
  const first = { url, method: "POST", headers, body: Buffer.from(JSON.stringify(input), "utf8") };
  const timeoutMs = ctx.limits.httpDefaultTimeoutMs;
  const request = { skill: "slack_send", first, followRedirects: true, timeoutMs, truncateBody: true };
  return exchange(request, ctx, (response) => outcomeOf(response, url.host));
}

/** The configured URL, or why it cannot be used; the message never repeats the value. */
function webhookUrl(configured: string | undefined): URL | string {
  if (configured === undefined || configured === "") {
    return "slack_send needs SLACK_WEBHOOK_URL (the incoming webhook's URL), which is not set; nothing was sent";
  }
  const url = URL.canParse(configured) ? new URL(configured) : undefined;
  if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")) {
    return "SLACK_WEBHOOK_URL is set but is not an absolute http(s) URL; nothing was sent";
  }
  return url;
}

/** Messages name the host only: the path of a Slack webhook URL is its secret. */
function outcomeOf(response: FinalResponse, webhookHost: string): SkillOutcome {
  const { statusCode } = response;
  if (statusCode < 200 || statusCode >= 300) return statusFailure(`slack_send to ${response.url.host}`, response);
  return ok({
    status_code: statusCode,
    delivered: true,
    webhook_host: webhookHost,
    response_body: response.body.toString("utf8").slice(0, RESPONSE_CHARS),
  });
}
