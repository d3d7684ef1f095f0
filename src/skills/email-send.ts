import { createHash } from "node:crypto";
import { z } from "zod";
import { settingWithDefault } from "../defaults.js";
import type { Skill, SkillContext, SkillOutcome, SkillSettings } from "./contract.js";
import { sendSmtp, smtpRelay, type OutgoingEmail } from "./email-smtp.js";
import { exchange, statusFailure, type FinalResponse } from "./http-exchange.js";
import { failure, ok } from "./outcome.js";

const MAX_RECIPIENTS = 50;
const MAX_BODY_CHARS = 1_000_000;

const address = z.email();
/** One address or a list: planners write both. */
const addresses = z.union([address, z.array(address).min(1).max(MAX_RECIPIENTS)]);

const inputSchema = z
  .object({
    to: addresses,
    cc: addresses.optional(),
    bcc: addresses.optional(),
    reply_to: addresses.optional(),
    // RFC 5322 caps a header line at 998 characters; a line break would start a header of its own.
    subject: z.string().min(1).max(998).regex(/^[^\r\n]*$/, "a subject is one line"),
    text: z.string().min(1).max(MAX_BODY_CHARS).optional(),
    html: z.string().min(1).max(MAX_BODY_CHARS).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.text === undefined && input.html === undefined) {
      ctx.addIssue({ code: "custom", path: ["text"], message: "give text, html or both" });
    }
    const count = [input.to, input.cc, input.bcc].reduce<number>((sum, list) => sum + listOf(list).length, 0);
    if (count > MAX_RECIPIENTS) {
      ctx.addIssue({ code: "custom", path: ["to"], message: `at most ${MAX_RECIPIENTS} recipients in to, cc and bcc together` });
    }
  });

export type EmailSendInput = z.output<typeof inputSchema>;

const RESEND_DEFAULT_BASE_URL = "https://api.resend.com";

export const emailSendSkill: Skill<EmailSendInput> = {
  name: "email_send",
  version: "1.0.0",
  description:
    "Sends an email from EMAIL_FROM: through the Resend API when RESEND_API_KEY is set (with the step's " +
    "Idempotency-Key header, which Resend honours for 24 hours), otherwise through the SMTP relay in SMTP_URL. " +
    "Over SMTP every attempt of a step carries the same Message-ID, <sha256 of the idempotency key>@aos, so a " +
    "receiver can drop a retried duplicate.",
  input: inputSchema,
  output: {
    transport: '"resend" or "smtp"',
    message_id: "the Message-ID header sent, derived from the step's idempotency key (SMTP); null for Resend",
    provider_id: "Resend's id for the email, or null over SMTP",
    accepted: "the recipients the relay accepted (SMTP), or every recipient (Resend)",
    rejected: "the recipients the relay refused while accepting others (SMTP); empty for Resend",
  },
  determinism: "non_deterministic",
  sideEffects: "external_write",
  estimateLatencyMs: () => 500,
  estimateCostCents: () => 0,
  limits: {
    recipients: `${MAX_RECIPIENTS} in to, cc and bcc together`,
    subject_chars: 998,
    body_chars: MAX_BODY_CHARS,
    timeout_ms: `${settingWithDefault("HTTP_DEFAULT_TIMEOUT_MS")}, for the Resend call and for each SMTP wait`,
  },
  // Resend when its key is set, else the SMTP relay: the one the send will reach.
  configuredTargets: (_input, settings) => {
    if (isSet(settings.resendApiKey)) return [settings.resendBaseUrl ?? RESEND_DEFAULT_BASE_URL];
    return isSet(settings.smtpUrl) ? [settings.smtpUrl] : [];
  },
  missingSettings: missingEmailSettings,
  failureCodes: [
    "CREDENTIALS_MISSING", "CREDENTIALS_REJECTED", "EMAIL_REJECTED", "EMAIL_DEFERRED", "HTTP_4XX", "HTTP_5XX",
    "TIMEOUT", "NETWORK_ERROR", "DNS_ERROR", "HOST_NOT_FOUND", "FORBIDDEN_TARGET", "TOO_MANY_REDIRECTS", "CANCELLED", "SKILL_ERROR",
  ],
  execute: executeEmailSend,
};

function listOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === "string" ? [value] : value;
}

/** `<hex@aos>`: hashed so the run id does not show in the recipient's headers and the id has no colon. */
export function emailMessageId(idempotencyKey: string): string {
  return `<${createHash("sha256").update(`aos-email:${idempotencyKey}`).digest("hex").slice(0, 40)}@aos>`;
}

function missingEmailSettings(settings: SkillSettings): string[] {
  return [
    ...(isSet(settings.emailFrom) ? [] : ["EMAIL_FROM"]),
    ...(isSet(settings.resendApiKey) || isSet(settings.smtpUrl) ? [] : ["SMTP_URL or RESEND_API_KEY"]),
  ];
}

function executeEmailSend(input: EmailSendInput, ctx: SkillContext): Promise<SkillOutcome> {
  const { emailFrom, resendApiKey, smtpUrl } = ctx.settings;
  const missing = missingEmailSettings(ctx.settings);
  if (!isSet(emailFrom) || missing.length > 0) {
    const message = `email_send needs ${missing.join(" and ")}, which ${missing.length > 1 ? "are" : "is"} not set; nothing was sent`;
    return Promise.resolve(failure("CREDENTIALS_MISSING", message, { retryable: false }));
  }
  const email: OutgoingEmail = {
    from: emailFrom,
    to: listOf(input.to),
    cc: listOf(input.cc),
    bcc: listOf(input.bcc),
    replyTo: listOf(input.reply_to),
    subject: input.subject,
    text: input.text,
    html: input.html,
    messageId: emailMessageId(ctx.idempotencyKey),
  };
  if (isSet(resendApiKey)) return sendResend(resendApiKey, email, ctx);
  const relay = smtpRelay(smtpUrl ?? "");
  if (typeof relay === "string") return Promise.resolve(failure("CREDENTIALS_MISSING", relay, { retryable: false }));
  return sendSmtp(relay, email, ctx);
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== "";
}

/** Resend's POST /emails; the key goes in the Authorization header only, which no message or log repeats. */
function sendResend(apiKey: string, email: OutgoingEmail, ctx: SkillContext): Promise<SkillOutcome> {
  const endpoint = `${(ctx.settings.resendBaseUrl ?? RESEND_DEFAULT_BASE_URL).replace(/\/+$/, "")}/emails`;
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined;
  if (url === undefined) {
    return Promise.resolve(failure("CREDENTIALS_MISSING", "RESEND_BASE_URL is set but is not an absolute URL; nothing was sent", { retryable: false }));
  }
  const body = {
    from: email.from,
    to: email.to,
    subject: email.subject,
    ...(email.cc.length > 0 ? { cc: email.cc } : {}),
    ...(email.bcc.length > 0 ? { bcc: email.bcc } : {}),
    ...(email.replyTo.length > 0 ? { reply_to: email.replyTo } : {}),
    ...(email.text === undefined ? {} : { text: email.text }),
    ...(email.html === undefined ? {} : { html: email.html }),
  };
  const headers = {
    "Content-Type": "application/json",
    Authorization: `Bearer ${apiKey}`,
    "Idempotency-Key": ctx.idempotencyKey,
  };
  const first = { url, method: "POST", headers, body: Buffer.from(JSON.stringify(body), "utf8") };
  const request = { skill: "email_send", first, followRedirects: false, timeoutMs: ctx.limits.httpDefaultTimeoutMs, truncateBody: true };
  const recipients = [...email.to, ...email.cc, ...email.bcc];
  return exchange(request, ctx, (response) => resendOutcome(response, recipients));
}

const resendAnswer = z.object({ id: z.string().min(1) });

/** 429 is Resend's rate limit: a 4xx that a later attempt, with the same Idempotency-Key, can get past. */
function resendOutcome(response: FinalResponse, recipients: string[]): SkillOutcome {
  const where = `email_send to Resend at ${response.url.host}`;
  if (response.statusCode < 200 || response.statusCode >= 300) {
    const outcome = statusFailure(where, response);
    if (response.statusCode !== 429 || outcome.status !== "error") return outcome;
    return { ...outcome, error: { ...outcome.error, retryable: true } };
  }
  const parsed = resendAnswer.safeParse(parseJson(response.body));
  if (!parsed.success) {
    return failure("SKILL_ERROR", `${where} answered ${response.statusCode} without an email id`, {
      details: { body: response.body.toString("utf8").slice(0, 1000) },
    });
  }
  return ok({ transport: "resend", message_id: null, provider_id: parsed.data.id, accepted: recipients, rejected: [] });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}
