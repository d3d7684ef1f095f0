import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sendJson, startLoopbackServer, type LoopbackServer } from "../../../test/support/http-server.js";
import { skillContext } from "../../../test/support/skill-context.js";
import type { Logger } from "../../logger.js";
import type { SkillContext, SkillSettings } from "../contract.js";
import { createLlmInvokeSkill } from "../llm-invoke.js";
import { PromptCache } from "./prompt-cache.js";

const KEY = "sk-ant-test-7f3a9c1e5b";

/** A fake Anthropic Messages API: each test says how it answers; every request is recorded by the server. */
let anthropic: LoopbackServer;
let answer: (body: Record<string, unknown>, response: ServerResponse) => void;

function message(overrides: Record<string, unknown> = {}) {
  return {
    id: "msg_01",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-20250514",
    content: [{ type: "text", text: "It ships on Monday." }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 12_000, output_tokens: 2_000 },
    ...overrides,
  };
}

/** Anthropic's error body; this one quotes the key back, as a careless proxy might. */
function anthropicError(response: ServerResponse, status: number, type: string): void {
  sendJson(response, status, { type: "error", error: { type, message: `${type} for key ${KEY}` } });
}

const logLines: string[] = [];
const log: Logger = {
  debug: (line, fields) => void logLines.push(line + JSON.stringify(fields ?? {})),
  info: (line, fields) => void logLines.push(line + JSON.stringify(fields ?? {})),
  warn: (line, fields) => void logLines.push(line + JSON.stringify(fields ?? {})),
  child: () => log,
};

function context(settings: Partial<SkillSettings> = {}, overrides: Partial<SkillContext> = {}): SkillContext {
  const base = skillContext();
  return { ...base, log, ...overrides, settings: { ...base.settings, anthropicApiKey: KEY, anthropicBaseUrl: anthropic.url, ...settings } };
}

const skill = createLlmInvokeSkill(new PromptCache());
const ask = (extra: Record<string, unknown> = {}) =>
  skill.input.parse({
    provider: "anthropic",
    system_prompt: "Be brief.",
    messages: [{ role: "user", content: "When does order 42 ship?" }],
    max_tokens: 300,
    stop_sequences: ["END"],
    ...extra,
  });

beforeAll(async () => {
  anthropic = await startLoopbackServer((_request, response, body) => answer(JSON.parse(body) as Record<string, unknown>, response));
});

afterAll(() => anthropic.close());

beforeEach(() => {
  anthropic.requests.length = 0;
  logLines.length = 0;
  answer = (_body, response) => sendJson(response, 200, message());
});

describe("llm_invoke with the Anthropic provider, against a fake Messages API", () => {
  it("sends the request through the SDK with the key, and prices the answer's usage from the table", async () => {
    const outcome = await skill.execute(ask(), context());
    expect(anthropic.requests).toHaveLength(1);
    const [sent] = anthropic.requests;
    expect(sent).toMatchObject({ method: "POST", path: "/v1/messages" });
    expect(sent?.headers.authorization).toBe(`Bearer ${KEY}`);
    const body = JSON.parse(sent?.body ?? "{}") as Record<string, unknown>;
    expect(body).toEqual({
      model: "claude-sonnet-4-20250514",
      max_tokens: 300,
      system: "Be brief.",
      messages: [{ role: "user", content: "When does order 42 ship?" }],
      stop_sequences: ["END"],
    });
    // Sonnet 4: 12,000 × 300 + 2,000 × 1,500 micro-cents = 6.6 cents, charged as 7.
    expect(outcome).toMatchObject({
      status: "ok",
      result: {
        provider: "anthropic",
        model: "claude-sonnet-4-20250514",
        response_text: "It ships on Monday.",
        response_model: "claude-sonnet-4-20250514",
        input_tokens: 12_000,
        output_tokens: 2_000,
        finish_reason: "end_turn",
        cost_microcents: 6_600_000,
        cache_hit: false,
        price_table_version: "2026-11-24",
      },
      sideEffects: { costCents: 7, tokens: 14_000 },
    });
  });

  it.each([
    ["claude-opus-4-20250514", 1000 * 1500 + 100 * 7500],
    ["claude-3-5-haiku-20241022", 1000 * 80 + 100 * 400],
  ])("prices %s from its own row of the table", async (model, microcents) => {
    answer = (_body, response) => sendJson(response, 200, message({ model, usage: { input_tokens: 1000, output_tokens: 100 } }));
    const outcome = await skill.execute(ask({ model }), context());
    expect(outcome).toMatchObject({ result: { cost_microcents: microcents }, sideEffects: { costCents: Math.ceil(microcents / 1_000_000) } });
  });

  it.each([
    ["end_turn", "end_turn"],
    ["max_tokens", "max_tokens"],
    ["stop_sequence", "stop_sequence"],
    ["model_context_window_exceeded", "max_tokens"],
    ["refusal", "end_turn"],
    ["tool_use", "end_turn"],
  ])("reports Anthropic's stop reason %s as %s", async (stopReason, finishReason) => {
    answer = (_body, response) => sendJson(response, 200, message({ stop_reason: stopReason }));
    expect(await skill.execute(ask(), context())).toMatchObject({ result: { finish_reason: finishReason } });
  });

  it.each([
    [429, "rate_limit_error", "LLM_RATE_LIMITED", "RESOURCE", true],
    [500, "api_error", "LLM_PROVIDER_ERROR", "TRANSIENT", true],
    [529, "overloaded_error", "LLM_PROVIDER_ERROR", "TRANSIENT", true],
    [401, "authentication_error", "CREDENTIALS_REJECTED", "PERMISSION", false],
    [403, "permission_error", "CREDENTIALS_REJECTED", "PERMISSION", false],
    [400, "invalid_request_error", "LLM_REQUEST_REJECTED", "VALIDATION", false],
    [404, "not_found_error", "LLM_REQUEST_REJECTED", "VALIDATION", false],
  ])("maps HTTP %i (%s) to %s, asks once (the runner retries, not the SDK), and never repeats the key", async (status, type, code, category, retryable) => {
    answer = (_body, response) => anthropicError(response, status, type);
    const outcome = await skill.execute(ask(), context());
    expect(outcome).toMatchObject({ status: "error", error: { code, category, retryable }, result: { provider: "anthropic" } });
    expect(anthropic.requests).toHaveLength(1);
    expect(JSON.stringify(outcome)).toContain(type);
    expect(JSON.stringify(outcome)).not.toContain(KEY);
    expect(logLines.join("\n")).not.toContain(KEY);
  });

  it("names ANTHROPIC_API_KEY in the refusal of a rejected key", async () => {
    answer = (_body, response) => anthropicError(response, 401, "authentication_error");
    const outcome = await skill.execute(ask(), context());
    expect(outcome).toMatchObject({ error: { message: expect.stringContaining("ANTHROPIC_API_KEY") as string } });
  });

  it.each([undefined, ""])("fails CREDENTIALS_MISSING naming ANTHROPIC_API_KEY when it is %j, making no request", async (key) => {
    const outcome = await skill.execute(ask(), context({ anthropicApiKey: key }));
    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", category: "PERMISSION", retryable: false } });
    expect(outcome).toMatchObject({ error: { message: expect.stringContaining("ANTHROPIC_API_KEY") as string } });
    expect(anthropic.requests).toHaveLength(0);
  });

  it("fails NETWORK_ERROR, retryable, when nothing listens at the base URL", async () => {
    const gone = await startLoopbackServer(() => undefined);
    await gone.close();
    const outcome = await skill.execute(ask(), context({ anthropicBaseUrl: gone.url }));
    expect(outcome).toMatchObject({ status: "error", error: { code: "NETWORK_ERROR", retryable: true } });
    expect(JSON.stringify(outcome)).not.toContain(KEY);
  });

  it("stops waiting when the run's signal is aborted: cancelled, or timed out when the step timeout fired", async () => {
    const held: ServerResponse[] = [];
    for (const [reason, code] of [[undefined, "CANCELLED"], [new DOMException("step timeout", "TimeoutError"), "TIMEOUT"]] as const) {
      const controller = new AbortController();
      answer = (_body, response) => {
        held.push(response);
        controller.abort(reason);
      };
      const outcome = await skill.execute(ask(), context({}, { signal: controller.signal }));
      expect(outcome).toMatchObject({ status: "error", error: { code } });
    }
    for (const response of held) response.destroy();
  });

  it("refuses a temperature (API version 2026-10-21 takes none) and an unpriced model before anything runs", () => {
    const problems = (params: unknown) => skill.input.safeParse(params).error?.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    const messages = [{ role: "user", content: "hi" }];
    expect(problems({ provider: "anthropic", messages, temperature: 0.2 })).toEqual([
      "temperature: the Anthropic API (version 2026-10-21) takes no temperature; leave it out",
    ]);
    expect(problems({ provider: "anthropic", model: "claude-sonnet-4-5", messages })?.[0]).toMatch(
      /^model: model "claude-sonnet-4-5" has no price for provider anthropic \(price table 2026-11-24\); priced models: claude-opus-4-20250514, /,
    );
    expect(problems({ messages })).toEqual(['provider: expected a provider: "anthropic", "openai" or "local"']);
  });
});

describe("the prompt cache, with the Anthropic provider", () => {
  it("answers a repeated request from the cache at no cost, reporting the original tokens, within one tenant only", async () => {
    const cached = createLlmInvokeSkill(new PromptCache());
    const first = await cached.execute(ask({ enable_cache: true }), context());
    const again = await cached.execute(ask({ enable_cache: true }), context());
    expect(first).toMatchObject({ result: { cache_hit: false, cost_microcents: 6_600_000 }, sideEffects: { costCents: 7 } });
    expect(again).toMatchObject({
      status: "ok",
      result: {
        response_text: "It ships on Monday.",
        cache_hit: true,
        input_tokens: 12_000,
        output_tokens: 2_000,
        cost_microcents: 0,
        saved_microcents: 6_600_000,
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    expect(anthropic.requests).toHaveLength(1);
    const otherTenant = await cached.execute(ask({ enable_cache: true }), context({}, { tenantId: "tenant-2" }));
    expect(otherTenant).toMatchObject({ result: { cache_hit: false } });
    expect(anthropic.requests).toHaveLength(2);
  });

  it("is skipped unless asked for, and misses when any part of the request differs", async () => {
    const cached = createLlmInvokeSkill(new PromptCache());
    await cached.execute(ask(), context());
    await cached.execute(ask(), context());
    expect(anthropic.requests).toHaveLength(2);
    await cached.execute(ask({ enable_cache: true }), context());
    const longer = await cached.execute(ask({ enable_cache: true, max_tokens: 301 }), context());
    expect(longer).toMatchObject({ result: { cache_hit: false } });
    expect(anthropic.requests).toHaveLength(4);
  });

  it("keeps no failure: a refused call is asked again", async () => {
    const cached = createLlmInvokeSkill(new PromptCache());
    answer = (_body, response) => anthropicError(response, 500, "api_error");
    await cached.execute(ask({ enable_cache: true }), context());
    answer = (_body, response) => sendJson(response, 200, message());
    expect(await cached.execute(ask({ enable_cache: true }), context())).toMatchObject({ status: "ok", result: { cache_hit: false } });
  });
});
