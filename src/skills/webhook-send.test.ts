import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLoopbackServer, type LoopbackServer } from "../../test/support/http-server.js";
import { egress, LOOPBACK_OPEN, skillContext } from "../../test/support/skill-context.js";
import type { Logger } from "../logger.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import { webhookSendSkill } from "./webhook-send.js";

const SECRET = "whsec-test-5f3a9c";

/** What a receiver does: recompute the HMAC from the raw body and the timestamp header, compare in constant time. */
function verify(secret: string, headers: IncomingMessage["headers"], rawBody: string): boolean {
  const timestamp = headers["x-signature-timestamp"];
  const signature = headers["x-signature-256"];
  if (typeof timestamp !== "string" || typeof signature !== "string") return false;
  const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${rawBody}`, "utf8").digest("hex")}`;
  return expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}

function route(request: IncomingMessage, response: ServerResponse, body: string): void {
  const url = new URL(request.url ?? "/", "http://test");
  const [, first, second] = url.pathname.split("/");
  if (first === "verify") {
    const valid = verify(SECRET, request.headers, body);
    return void response.writeHead(valid ? 200 : 401, { "content-type": "text/plain" }).end(valid ? "thanks" : "bad signature");
  }
  if (first === "status") return void response.writeHead(Number(second), { "content-type": "text/plain" }).end(`status ${second} body`);
  if (first === "to") return void response.writeHead(Number(second), { location: url.searchParams.get("location") ?? "/" }).end();
  if (first === "big") return void response.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(5000));
  if (first === "slow") return void setTimeout(() => response.writeHead(200).end("late"), 2_000).unref();
  response.writeHead(404).end();
}

let server: LoopbackServer;
const logLines: string[] = [];

beforeAll(async () => {
  server = await startLoopbackServer(route);
});

afterAll(() => server.close());

beforeEach(() => {
  server.requests.length = 0;
  logLines.length = 0;
});

function capturingLogger(bound: Record<string, unknown> = {}): Logger {
  const write = (message: string, fields?: Record<string, unknown>) => void logLines.push(JSON.stringify({ message, ...bound, ...fields }));
  return { debug: write, info: write, warn: write, child: (fields) => capturingLogger({ ...bound, ...fields }) };
}

function context(overrides: Partial<SkillContext> = {}, { secret }: { secret: string | undefined } = { secret: SECRET }): SkillContext {
  const base = skillContext();
  return skillContext({
    stepIndex: 2,
    idempotencyKey: "run-1:2",
    egress: LOOPBACK_OPEN,
    log: capturingLogger(),
    limits: { httpMaxResponseBytes: 1024, httpDefaultTimeoutMs: 5_000, httpMaxRedirects: 2 },
    settings: { ...base.settings, webhookSecret: secret },
    ...overrides,
  });
}

const PAYLOAD = { b: { d: [1, 2], c: "café ✓" }, a: 1 };

function send(raw: Record<string, unknown>, overrides: Partial<SkillContext> = {}, secret = SECRET): Promise<SkillOutcome> {
  return webhookSendSkill.execute(webhookSendSkill.input.parse(raw), context(overrides, { secret }));
}

describe("webhook_send delivery", () => {
  it("POSTs the payload as canonical JSON with a signature the receiver can verify from the raw body", async () => {
    const before = Math.floor(Date.now() / 1000);
    const outcome = await send({ url: `${server.url}/verify`, payload: PAYLOAD });
    expect(outcome).toMatchObject({ status: "ok", result: { status_code: 200, delivered: true, response_body: "thanks" } });
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.body).toBe('{"a":1,"b":{"c":"café ✓","d":[1,2]}}');
    expect(request?.headers).toMatchObject({ "content-type": "application/json", "idempotency-key": "run-1:2" });
    const timestamp = Number(request?.headers["x-signature-timestamp"]);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect((outcome.result as { signature_timestamp: number }).signature_timestamp).toBe(timestamp);
    const recomputed = createHmac("sha256", SECRET).update(`${timestamp}.${request?.body ?? ""}`).digest("hex");
    expect(request?.headers["x-signature-256"]).toBe(`sha256=${recomputed}`);
  });

  it("is refused by a receiver holding a different secret: HTTP_4XX, not retryable", async () => {
    const outcome = await send({ url: `${server.url}/verify`, payload: PAYLOAD }, {}, "not-the-receivers-secret");
    expect(outcome).toMatchObject({ status: "error", error: { code: "HTTP_4XX", retryable: false, details: { status_code: 401, body: "bad signature" } } });
    const [request] = server.requests;
    expect(verify("not-the-receivers-secret", request?.headers ?? {}, request?.body ?? "")).toBe(true);
  });

  it("keeps body and signature across a 307 redirect", async () => {
    const outcome = await send({ url: `${server.url}/to/307?location=/verify`, payload: PAYLOAD });
    expect(outcome).toMatchObject({ status: "ok", result: { delivered: true } });
    expect(server.requests.map((r) => [r.method, r.path])).toEqual([["POST", "/to/307?location=/verify"], ["POST", "/verify"]]);
  });

  it("cuts a long response at the cap instead of failing a delivery that happened", async () => {
    const outcome = await send({ url: `${server.url}/big`, payload: PAYLOAD });
    expect(outcome).toMatchObject({ status: "ok", result: { delivered: true, response_body: "x".repeat(1024) } });
  });
});

describe("webhook_send failures", () => {
  it.each([undefined, ""])("fails CREDENTIALS_MISSING naming WEBHOOK_SECRET when it is %j, sending nothing", async (secret) => {
    const outcome = await webhookSendSkill.execute(webhookSendSkill.input.parse({ url: `${server.url}/verify`, payload: PAYLOAD }), context({}, { secret }));
    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    expect((outcome as { error: { message: string } }).error.message).toContain("WEBHOOK_SECRET");
    expect(server.requests).toHaveLength(0);
  });

  it("reports 404 as HTTP_4XX, not retryable, and 503 as HTTP_5XX, retryable", async () => {
    expect(await send({ url: `${server.url}/status/404`, payload: PAYLOAD })).toMatchObject({
      error: { code: "HTTP_4XX", retryable: false, details: { status_code: 404, body: "status 404 body" } },
    });
    expect(await send({ url: `${server.url}/status/503`, payload: PAYLOAD })).toMatchObject({
      error: { code: "HTTP_5XX", retryable: true, details: { status_code: 503 } },
    });
  });

  it("refuses loopback when the agent's allowed_hosts does not name it, before connecting", async () => {
    const outcome = await send({ url: `${server.url}/verify`, payload: PAYLOAD }, { egress: egress() });
    expect(outcome).toMatchObject({ status: "error", error: { code: "FORBIDDEN_TARGET", retryable: false } });
    expect(server.requests).toHaveLength(0);
  });

  it("refuses a redirect to the cloud metadata address without following it", async () => {
    const location = encodeURIComponent("http://169.254.169.254/latest/meta-data/");
    const outcome = await send({ url: `${server.url}/to/307?location=${location}`, payload: PAYLOAD });
    expect(outcome).toMatchObject({ error: { code: "FORBIDDEN_TARGET", message: expect.stringContaining("cloud metadata") } });
  });

  it("gives up after timeout_ms: TIMEOUT, retryable", async () => {
    const outcome = await send({ url: `${server.url}/slow`, payload: PAYLOAD, timeout_ms: 100 });
    expect(outcome).toMatchObject({ error: { code: "TIMEOUT", retryable: true, details: { timeout_ms: 100 } } });
  });

  it("reports a refused connection as NETWORK_ERROR, retryable", async () => {
    const closed = await startLoopbackServer(() => undefined);
    await closed.close();
    const outcome = await send({ url: `${closed.url}/verify`, payload: PAYLOAD });
    expect(outcome).toMatchObject({ error: { code: "NETWORK_ERROR", retryable: true, details: { code: "ECONNREFUSED" } } });
  });

  it("never puts the secret in an outcome, message or log line", async () => {
    const outcomes = [
      await send({ url: `${server.url}/verify`, payload: PAYLOAD }),
      await send({ url: `${server.url}/status/404`, payload: PAYLOAD }),
      await send({ url: `${server.url}/status/503`, payload: PAYLOAD }),
      await send({ url: `${server.url}/verify`, payload: PAYLOAD }, { egress: egress() }),
    ];
    expect(logLines.length).toBeGreaterThan(0);
    for (const text of [...outcomes.map((outcome) => JSON.stringify(outcome)), ...logLines]) expect(text).not.toContain(SECRET);
  });
});

describe("webhook_send contract", () => {
  it("is a governed external write whose target is its URL", () => {
    const input = webhookSendSkill.input.parse({ url: "https://hooks.example.com/in", payload: {} });
    expect(webhookSendSkill.sideEffects).toBe("external_write");
    expect(webhookSendSkill.targetUrls?.(input)).toEqual(["https://hooks.example.com/in"]);
  });

  it.each([
    ["an unknown key", { url: "https://hooks.example.com/", payload: {}, secret: "x" }],
    ["a non-http URL", { url: "ftp://hooks.example.com/", payload: {} }],
    ["a payload that is not an object", { url: "https://hooks.example.com/", payload: [1] }],
    ["a payload JSON cannot carry", { url: "https://hooks.example.com/", payload: { s: "\ud800" } }],
  ])("rejects %s", (_, raw) => {
    expect(webhookSendSkill.input.safeParse(raw).success).toBe(false);
  });
});
