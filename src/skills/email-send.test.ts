import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { sendJson, startLoopbackServer, type LoopbackServer } from "../../test/support/http-server.js";
import { LOOPBACK_OPEN, skillContext } from "../../test/support/skill-context.js";
import type { SkillContext, SkillSettings } from "./contract.js";
import { emailMessageId, emailSendSkill, type EmailSendInput } from "./email-send.js";

interface Received {
  from: string;
  to: string[];
  raw: string;
}

interface SmtpSink {
  port: number;
  received: Received[];
  close(): Promise<void>;
}

/** A real SMTP server on loopback that keeps what it is sent; STARTTLS is off so the test needs no certificate. */
async function startSmtpSink(options: Partial<SMTPServerOptions> = {}): Promise<SmtpSink> {
  const received: Received[] = [];
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const from = session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address;
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address);
        received.push({ from, to, raw: Buffer.concat(chunks).toString("utf8") });
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = (server as unknown as { server: Server }).server.address() as AddressInfo;
  return { port, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function rejection(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function sink(options: Partial<SMTPServerOptions> = {}): Promise<SmtpSink> {
  const started = await startSmtpSink(options);
  cleanups.push(() => started.close());
  return started;
}

async function fakeResend(status: number, answer: unknown): Promise<LoopbackServer> {
  const server = await startLoopbackServer((_req, res) => sendJson(res, status, answer));
  cleanups.push(() => server.close());
  return server;
}

function context(settings: Partial<SkillSettings>, overrides: Partial<SkillContext> = {}): SkillContext {
  const base = skillContext();
  return skillContext({ ...overrides, settings: { ...base.settings, ...settings } });
}

function parse(input: unknown): EmailSendInput {
  return emailSendSkill.input.parse(input);
}

const MESSAGE = parse({
  to: ["ada@example.com", "bob@example.com"],
  bcc: "hidden@example.com",
  subject: "Quarterly report",
  text: "The numbers are in.",
});

describe("email_send over SMTP", () => {
  it("delivers the message to the relay with the sender, recipients, subject, body and Message-ID", async () => {
    const relay = await sink();
    const ctx = context({ smtpUrl: `smtp://127.0.0.1:${relay.port}`, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    const messageId = emailMessageId(ctx.idempotencyKey);
    expect(outcome).toMatchObject({
      status: "ok",
      result: {
        transport: "smtp",
        message_id: messageId,
        provider_id: null,
        accepted: ["ada@example.com", "bob@example.com", "hidden@example.com"],
        rejected: [],
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    expect(relay.received).toHaveLength(1);
    const [message] = relay.received;
    expect(message?.from).toBe("aos@example.org");
    expect(message?.to).toEqual(["ada@example.com", "bob@example.com", "hidden@example.com"]);
    expect(message?.raw).toMatch(/^From: aos@example\.org\r$/m);
    expect(message?.raw).toMatch(/^To: ada@example\.com, bob@example\.com\r$/m);
    expect(message?.raw).toMatch(/^Subject: Quarterly report\r$/m);
    expect(message?.raw).toContain(`Message-ID: ${messageId}`);
    expect(message?.raw).toContain("The numbers are in.");
    // Bcc recipients get the message but never see each other.
    expect(message?.raw).not.toContain("hidden@example.com");
  });

  it("gives every attempt of a step the same Message-ID, and another step a different one", async () => {
    const relay = await sink();
    const settings = { smtpUrl: `smtp://127.0.0.1:${relay.port}`, emailFrom: "aos@example.org" };

    await emailSendSkill.execute(MESSAGE, context(settings, { attempt: 1 }));
    await emailSendSkill.execute(MESSAGE, context(settings, { attempt: 2 }));
    await emailSendSkill.execute(MESSAGE, context(settings, { stepIndex: 1, idempotencyKey: "run-1:1" }));

    const ids = relay.received.map((message) => /^Message-ID: (<[^>]+>)\r$/m.exec(message.raw)?.[1]);
    expect(ids[0]).toMatch(/^<[0-9a-f]{40}@aos>$/);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it("sends html alongside text, and reply_to as Reply-To", async () => {
    const relay = await sink();
    const ctx = context({ smtpUrl: `smtp://127.0.0.1:${relay.port}`, emailFrom: "aos@example.org" });
    const input = parse({ to: "ada@example.com", subject: "Hi", text: "plain", html: "<p>rich</p>", reply_to: "ops@example.org" });

    expect((await emailSendSkill.execute(input, ctx)).status).toBe("ok");

    const raw = relay.received[0]?.raw ?? "";
    expect(raw).toMatch(/^Reply-To: ops@example\.org\r$/m);
    expect(raw).toContain("Content-Type: multipart/alternative");
    expect(raw).toContain("<p>rich</p>");
  });

  it("fails non-retryably when the relay refuses the credentials, never repeating the password", async () => {
    const relay = await sink({
      authOptional: false,
      onAuth: (_auth, _session, callback) => callback(new Error("Invalid username or password")),
    });
    const ctx = context({ smtpUrl: `smtp://mailer:s3cret-pw@127.0.0.1:${relay.port}`, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_REJECTED", retryable: false } });
    expect(JSON.stringify(outcome)).not.toContain("s3cret-pw");
    expect(relay.received).toHaveLength(0);
  });

  it("fails non-retryably when the relay rejects the recipients for good (5xx)", async () => {
    const relay = await sink({ onRcptTo: (_address, _session, callback) => callback(rejection("No such user", 550)) });
    const ctx = context({ smtpUrl: `smtp://127.0.0.1:${relay.port}`, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({
      status: "error",
      error: { code: "EMAIL_REJECTED", category: "PERMANENT", retryable: false, details: { response_code: 550 } },
    });
    expect(relay.received).toHaveLength(0);
  });

  it("fails retryably when the relay defers the message (4xx)", async () => {
    const relay = await sink({ onRcptTo: (_address, _session, callback) => callback(rejection("Mailbox busy", 450)) });
    const ctx = context({ smtpUrl: `smtp://127.0.0.1:${relay.port}`, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "EMAIL_DEFERRED", retryable: true } });
  });

  it("fails retryably when nothing listens at the relay's address", async () => {
    const port = await closedPort();
    const ctx = context({ smtpUrl: `smtp://127.0.0.1:${port}`, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "NETWORK_ERROR", retryable: true } });
  });

  it("times out retryably when the relay never greets", async () => {
    const port = await silentServer();
    const ctx = context({ smtpUrl: `smtp://127.0.0.1:${port}`, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "TIMEOUT", retryable: true } });
  });

  it("returns CANCELLED as soon as the step is aborted", async () => {
    const port = await silentServer();
    const controller = new AbortController();
    const ctx = context(
      { smtpUrl: `smtp://127.0.0.1:${port}`, emailFrom: "aos@example.org" },
      { signal: controller.signal, limits: { httpMaxResponseBytes: 1024, httpDefaultTimeoutMs: 30_000, httpMaxRedirects: 1 } },
    );
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "CANCELLED" } });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("email_send through Resend", () => {
  it("POSTs the message as JSON with the key as a bearer token and the step's Idempotency-Key", async () => {
    const resend = await fakeResend(200, { id: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794" });
    const ctx = context(
      { resendApiKey: "re_test_key", resendBaseUrl: resend.url, emailFrom: "aos@example.org" },
      { egress: LOOPBACK_OPEN },
    );
    const input = parse({ to: "ada@example.com", cc: ["cat@example.com"], subject: "Hi", html: "<p>hi</p>", reply_to: "ops@example.org" });

    const outcome = await emailSendSkill.execute(input, ctx);

    expect(outcome).toEqual({
      status: "ok",
      result: {
        transport: "resend",
        message_id: null,
        provider_id: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794",
        accepted: ["ada@example.com", "cat@example.com"],
        rejected: [],
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    expect(resend.requests).toHaveLength(1);
    const [request] = resend.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/emails");
    expect(request?.headers.authorization).toBe("Bearer re_test_key");
    expect(request?.headers["idempotency-key"]).toBe(ctx.idempotencyKey);
    expect(JSON.parse(request?.body ?? "")).toEqual({
      from: "aos@example.org",
      to: ["ada@example.com"],
      cc: ["cat@example.com"],
      reply_to: ["ops@example.org"],
      subject: "Hi",
      html: "<p>hi</p>",
    });
    expect(JSON.stringify(outcome)).not.toContain("re_test_key");
  });

  it("prefers Resend when both RESEND_API_KEY and SMTP_URL are set", async () => {
    const resend = await fakeResend(200, { id: "id-1" });
    const relay = await sink();
    const ctx = context(
      { resendApiKey: "re_test_key", resendBaseUrl: resend.url, smtpUrl: `smtp://127.0.0.1:${relay.port}`, emailFrom: "a@example.org" },
      { egress: LOOPBACK_OPEN },
    );

    expect(await emailSendSkill.execute(MESSAGE, ctx)).toMatchObject({ status: "ok", result: { transport: "resend" } });
    expect(relay.received).toHaveLength(0);
  });

  it("reports a refused key as a permanent HTTP_4XX without repeating it", async () => {
    const resend = await fakeResend(401, { name: "validation_error", message: "API key is invalid" });
    const ctx = context(
      { resendApiKey: "re_wrong_key", resendBaseUrl: resend.url, emailFrom: "aos@example.org" },
      { egress: LOOPBACK_OPEN },
    );

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "HTTP_4XX", retryable: false, details: { status_code: 401 } } });
    expect(JSON.stringify(outcome)).not.toContain("re_wrong_key");
  });

  it("treats Resend's rate limit (429) as retryable and its 5xx as retryable", async () => {
    const limited = await fakeResend(429, { message: "Too many requests" });
    const broken = await fakeResend(503, { message: "unavailable" });
    const settings = { resendApiKey: "re_test_key", emailFrom: "aos@example.org" };
    const allow = { egress: LOOPBACK_OPEN };

    const first = await emailSendSkill.execute(MESSAGE, context({ ...settings, resendBaseUrl: limited.url }, allow));
    const second = await emailSendSkill.execute(MESSAGE, context({ ...settings, resendBaseUrl: broken.url }, allow));

    expect(first).toMatchObject({ status: "error", error: { code: "HTTP_4XX", retryable: true } });
    expect(second).toMatchObject({ status: "error", error: { code: "HTTP_5XX", retryable: true } });
  });

  it("runs the SSRF guard on the Resend endpoint: a loopback one not on the allow-list gets nothing", async () => {
    const resend = await fakeResend(200, { id: "id-1" });
    const ctx = context({ resendApiKey: "re_test_key", resendBaseUrl: resend.url, emailFrom: "aos@example.org" });

    const outcome = await emailSendSkill.execute(MESSAGE, ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "FORBIDDEN_TARGET", retryable: false } });
    expect(resend.requests).toHaveLength(0);
  });
});

describe("email_send without its settings", () => {
  it("names EMAIL_FROM when the sender is not configured, and sends nothing", async () => {
    const relay = await sink();
    const outcome = await emailSendSkill.execute(MESSAGE, context({ smtpUrl: `smtp://127.0.0.1:${relay.port}` }));

    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", category: "PERMISSION", retryable: false } });
    expect(outcome.status === "error" && outcome.error.message).toContain("EMAIL_FROM");
    expect(relay.received).toHaveLength(0);
  });

  it("names SMTP_URL and RESEND_API_KEY when no transport is configured", async () => {
    const outcome = await emailSendSkill.execute(MESSAGE, context({ emailFrom: "aos@example.org" }));

    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    const message = outcome.status === "error" ? outcome.error.message : "";
    expect(message).toContain("SMTP_URL");
    expect(message).toContain("RESEND_API_KEY");
    expect(message).not.toContain("EMAIL_FROM");
  });

  it("names every missing variable at once", async () => {
    const outcome = await emailSendSkill.execute(MESSAGE, context({}));

    expect(outcome.status === "error" && outcome.error.message).toBe(
      "email_send needs EMAIL_FROM and SMTP_URL or RESEND_API_KEY, which are not set; nothing was sent",
    );
  });

  it("refuses an SMTP_URL that is not an smtp URL without repeating it", async () => {
    const outcome = await emailSendSkill.execute(MESSAGE, context({ smtpUrl: "http://user:pw-123@mail.example", emailFrom: "a@example.org" }));

    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    expect(JSON.stringify(outcome)).not.toContain("pw-123");
  });
});

describe("email_send input", () => {
  it("rejects unknown keys, a missing body, a multi-line subject and bad addresses", () => {
    const base = { to: "ada@example.com", subject: "Hi", text: "body" };
    expect(emailSendSkill.input.safeParse({ ...base, from: "x@example.com" }).success).toBe(false);
    expect(emailSendSkill.input.safeParse({ to: "ada@example.com", subject: "Hi" }).success).toBe(false);
    expect(emailSendSkill.input.safeParse({ ...base, subject: "Hi\r\nBcc: victim@example.com" }).success).toBe(false);
    expect(emailSendSkill.input.safeParse({ ...base, to: "not an address" }).success).toBe(false);
    expect(emailSendSkill.input.safeParse({ ...base, to: [] }).success).toBe(false);
    expect(emailSendSkill.input.safeParse(base).success).toBe(true);
  });

  it("caps recipients at 50 across to, cc and bcc", () => {
    const many = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}@example.com`);
    const base = { subject: "Hi", text: "body" };
    expect(emailSendSkill.input.safeParse({ ...base, to: many("a", 50) }).success).toBe(true);
    expect(emailSendSkill.input.safeParse({ ...base, to: many("a", 51) }).success).toBe(false);
    expect(emailSendSkill.input.safeParse({ ...base, to: many("a", 30), bcc: many("b", 21) }).success).toBe(false);
  });
});

/** A port that was just free: a connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Accepts connections and never says a word, like a relay that hangs before its greeting. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}
