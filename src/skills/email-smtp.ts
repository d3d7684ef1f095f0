import type { NodemailerError } from "nodemailer";
import { untilAborted } from "../abortable.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import { abortedOutcome, failure, ok } from "./outcome.js";

/** One message as email_send hands it to a transport: addresses already resolved, headers already decided. */
export interface OutgoingEmail {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string[];
  subject: string;
  text: string | undefined;
  html: string | undefined;
  /** `<hash@aos>`, derived from the idempotency key: the same on every attempt of the step. */
  messageId: string;
}

/** A configured SMTP relay: the URL as configured (it may carry a password) and the host, safe to report. */
export interface SmtpRelay {
  url: string;
  host: string;
}

/**
 * The relay named by SMTP_URL, or why it cannot be used. The message never repeats the value: an SMTP URL
 * usually carries the relay's password.
 */
export function smtpRelay(configured: string): SmtpRelay | string {
  const url = URL.canParse(configured) ? new URL(configured) : undefined;
  if (url === undefined || (url.protocol !== "smtp:" && url.protocol !== "smtps:") || url.hostname === "") {
    return "SMTP_URL is set but is not an smtp:// or smtps:// URL; nothing was sent";
  }
  return { url: configured, host: url.host };
}

/**
 * Sends through the relay with nodemailer. The relay is operator infrastructure named only in configuration (a
 * plan cannot point it elsewhere, and SMTP has no redirects), and is often a loopback or private-network relay,
 * so the SSRF guard, which protects against targets taken from input, is not applied to it.
 *
 * nodemailer takes no AbortSignal and closing its transport does not stop a send in flight, so on abort the step
 * returns at once and the abandoned connection ends by its own timeouts (each at most HTTP_DEFAULT_TIMEOUT_MS). A
 * message aborted during DATA may still be delivered; its Message-ID lets the receiver drop the retry.
 */
export async function sendSmtp(relay: SmtpRelay, email: OutgoingEmail, ctx: SkillContext): Promise<SkillOutcome> {
  if (ctx.signal.aborted) return abortedOutcome("email_send", ctx.signal);
  const timeoutMs = ctx.limits.httpDefaultTimeoutMs;
  // Loaded on the first e-mail: most processes never send one.
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    url: relay.url,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
  });
  const sending = transport.sendMail({
    from: email.from,
    to: email.to,
    cc: email.cc,
    bcc: email.bcc,
    replyTo: email.replyTo,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: email.messageId,
  });
  try {
    const info = await untilAborted(sending, ctx.signal);
    ctx.log.debug("email_send delivered over SMTP", { host: relay.host, message_id: email.messageId });
    return ok({
      transport: "smtp",
      message_id: email.messageId,
      provider_id: null,
      accepted: info.accepted.map(addressOf),
      rejected: info.rejected.map(addressOf),
    });
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome("email_send", ctx.signal);
    return smtpFailure(error as NodemailerError, relay, timeoutMs);
  } finally {
    transport.close();
  }
}

function addressOf(entry: string | { address: string }): string {
  return typeof entry === "string" ? entry : entry.address;
}

/** Lost or broken connections without a reply from the relay: another attempt may well succeed. */
const CONNECTION_CODES = new Set(["ECONNECTION", "ESOCKET", "ETLS", "EPROTOCOL"]);

/**
 * Maps nodemailer's error codes and the relay's reply class (RFC 5321: 4yz transient, 5yz permanent, as
 * nodemailer's `permanent` flag reads them) to catalog codes. Messages carry the relay's host, the SMTP command
 * and the relay's reply, which never contain the password; the configured URL is never reported.
 */
function smtpFailure(error: NodemailerError, relay: SmtpRelay, timeoutMs: number): SkillOutcome {
  const where = `email_send via the SMTP relay ${relay.host}`;
  const details = {
    smtp_code: error.code ?? null,
    command: error.command ?? null,
    response_code: error.responseCode ?? null,
    ...(error.rejected === undefined ? {} : { rejected: error.rejected }),
  };
  const reply = error.response === undefined ? "" : `: ${error.response}`;
  if (error.code === "EAUTH") {
    return failure("CREDENTIALS_REJECTED", `${where}: the relay refused the credentials in SMTP_URL${reply}`, { details });
  }
  if (error.code === "ETIMEDOUT") {
    return failure("TIMEOUT", `${where} timed out after ${timeoutMs} ms`, { details: { ...details, timeout_ms: timeoutMs } });
  }
  if (error.code === "EDNS") return failure("DNS_ERROR", `${where}: the host name could not be resolved`, { details });
  if (error.responseCode !== undefined) {
    const command = error.command ?? "SMTP";
    return error.permanent === true
      ? failure("EMAIL_REJECTED", `${where}: the relay rejected the message (${command})${reply}`, { details })
      : failure("EMAIL_DEFERRED", `${where}: the relay deferred the message (${command})${reply}`, { details });
  }
  if (CONNECTION_CODES.has(error.code ?? "")) {
    return failure("NETWORK_ERROR", `${where} failed: ${error.message}`, { details });
  }
  if (error.code === "EENVELOPE" || error.code === "EMESSAGE") {
    return failure("EMAIL_REJECTED", `${where}: the message could not be sent: ${error.message}`, { details });
  }
  return failure("SKILL_ERROR", `${where} failed: ${error.message}`, { details });
}
