import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLoopbackServer, type LoopbackServer } from "../../test/support/http-server.js";
import { egress, LOOPBACK_OPEN, skillContext } from "../../test/support/skill-context.js";
import type { Logger } from "../logger.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import { slackSendSkill } from "./slack-send.js";

/** The secret part of a webhook URL, as Slack issues them: /services/<team>/<bot>/<token>. */
const TOKEN = "xoxTOKENx9f8e7d6c5b4a";
const HOOK = `/services/T0001/B0001/${TOKEN}`;

/** A fake Slack: answers "ok" to a well-formed message on the hook path, and Slack's own errors otherwise. */
function fakeSlack(request: IncomingMessage, response: ServerResponse, body: string): void {
  const text = (status: number, answer: string) => void response.writeHead(status, { "content-type": "text/plain" }).end(answer);
  const [, first, second] = (request.url ?? "/").split("/");
  if (first === "status") return text(Number(second), second === "404" ? "no_service" : "server_error");
  if (request.url !== HOOK) return text(404, "no_service");
  if (request.method !== "POST" || !String(request.headers["content-type"]).startsWith("application/json")) return text(400, "invalid_payload");
  try {
    const message = JSON.parse(body) as { text?: unknown };
    return typeof message.text === "string" && message.text !== "" ? text(200, "ok") : text(400, "no_text");
  } catch {
    return text(400, "invalid_payload");
  }
}

let slack: LoopbackServer;
const logLines: string[] = [];

beforeAll(async () => {
  slack = await startLoopbackServer(fakeSlack);
});

afterAll(() => slack.close());

beforeEach(() => {
  slack.requests.length = 0;
  logLines.length = 0;
});

function capturingLogger(bound: Record<string, unknown> = {}): Logger {
  const write = (message: string, fields?: Record<string, unknown>) => void logLines.push(JSON.stringify({ message, ...bound, ...fields }));
  return { debug: write, info: write, warn: write, child: (fields) => capturingLogger({ ...bound, ...fields }) };
}

function context(webhookUrl: string | undefined, overrides: Partial<SkillContext> = {}): SkillContext {
  const base = skillContext();
  return skillContext({
    stepIndex: 3,
    idempotencyKey: "run-1:3",
    egress: LOOPBACK_OPEN,
    log: capturingLogger(),
    limits: { httpMaxResponseBytes: 1024, httpDefaultTimeoutMs: 5_000, httpMaxRedirects: 2 },
    settings: { ...base.settings, slackWebhookUrl: webhookUrl },
    ...overrides,
  });
}

const hookUrl = () => `${slack.url}${HOOK}`;

function post(raw: Record<string, unknown>, webhookUrl: string | undefined, overrides: Partial<SkillContext> = {}): Promise<SkillOutcome> {
  return slackSendSkill.execute(slackSendSkill.input.parse(raw), context(webhookUrl, overrides));
}

describe("slack_send delivery", () => {
  it("posts the message as JSON and reports only the webhook's host", async () => {
    const message = {
      text: "Deploy finished :tada:",
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "*Deploy* finished" } }],
      username: "aos",
      icon_emoji: ":rocket:",
      channel: "#ops",
    };
    const outcome = await post(message, hookUrl());
    expect(outcome).toEqual({
      status: "ok",
      result: { status_code: 200, delivered: true, webhook_host: new URL(slack.url).host, response_body: "ok" },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    expect(slack.requests).toHaveLength(1);
    expect(JSON.parse(slack.requests[0]?.body ?? "")).toEqual(message);
    expect(slack.requests[0]?.headers["idempotency-key"]).toBe("run-1:3");
  });
});

describe("slack_send failures", () => {
  it.each([undefined, ""])("fails CREDENTIALS_MISSING naming SLACK_WEBHOOK_URL when it is %j, sending nothing", async (url) => {
    const outcome = await post({ text: "hi" }, url);
    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    expect((outcome as { error: { message: string } }).error.message).toContain("SLACK_WEBHOOK_URL");
    expect(slack.requests).toHaveLength(0);
  });

  it("fails CREDENTIALS_MISSING on a URL it cannot use, without repeating it", async () => {
    const outcome = await post({ text: "hi" }, `hooks.slack.com${HOOK}`);
    expect(outcome).toMatchObject({ error: { code: "CREDENTIALS_MISSING", message: expect.stringContaining("SLACK_WEBHOOK_URL") } });
    expect(JSON.stringify(outcome)).not.toContain(TOKEN);
  });

  it("reports 404 as HTTP_4XX, not retryable, with Slack's answer", async () => {
    const outcome = await post({ text: "hi" }, `${slack.url}/status/404/${TOKEN}`);
    expect(outcome).toMatchObject({ error: { code: "HTTP_4XX", retryable: false, details: { status_code: 404, body: "no_service" } } });
  });

  it("reports 500 as HTTP_5XX, retryable", async () => {
    const outcome = await post({ text: "hi" }, `${slack.url}/status/500/${TOKEN}`);
    expect(outcome).toMatchObject({ error: { code: "HTTP_5XX", retryable: true, details: { status_code: 500 } } });
  });

  it("runs the SSRF guard on the configured URL: loopback is refused unless allowed, before connecting", async () => {
    const outcome = await post({ text: "hi" }, hookUrl(), { egress: egress() });
    expect(outcome).toMatchObject({ error: { code: "FORBIDDEN_TARGET", retryable: false } });
    expect(slack.requests).toHaveLength(0);
  });

  it("never puts the webhook URL in an outcome, message or log line", async () => {
    const closed = await startLoopbackServer(() => undefined);
    await closed.close();
    const outcomes = [
      await post({ text: "hi" }, hookUrl()),
      await post({ text: "hi" }, `${slack.url}/status/404/${TOKEN}`),
      await post({ text: "hi" }, `${slack.url}/status/500/${TOKEN}`),
      await post({ text: "hi" }, hookUrl(), { egress: egress() }),
      await post({ text: "hi" }, `${closed.url}${HOOK}`),
    ];
    expect(outcomes.map((outcome) => (outcome.status === "ok" ? "ok" : outcome.error.code))).toEqual([
      "ok", "HTTP_4XX", "HTTP_5XX", "FORBIDDEN_TARGET", "NETWORK_ERROR",
    ]);
    expect(logLines.length).toBeGreaterThan(0);
    for (const text of [...outcomes.map((outcome) => JSON.stringify(outcome)), ...logLines]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain("/services/");
    }
  });
});

describe("slack_send contract", () => {
  it("is an external write that hands governance no URL: the configured one is a secret", () => {
    expect(slackSendSkill.sideEffects).toBe("external_write");
    expect(slackSendSkill.targetUrls).toBeUndefined();
  });

  it("accepts text up to Slack's 40,000 characters", () => {
    expect(slackSendSkill.input.safeParse({ text: "x".repeat(40_000) }).success).toBe(true);
  });

  it.each([
    ["empty text", { text: "" }],
    ["text past 40,000 characters", { text: "x".repeat(40_001) }],
    ["a webhook_url in the input", { text: "hi", webhook_url: "https://evil.example.com/" }],
    ["blocks that are not objects", { text: "hi", blocks: ["section"] }],
    ["an icon_emoji without colons", { text: "hi", icon_emoji: "rocket" }],
    ["an unknown key", { text: "hi", thread: "1" }],
  ])("rejects %s", (_, raw) => {
    expect(slackSendSkill.input.safeParse(raw).success).toBe(false);
  });
});
