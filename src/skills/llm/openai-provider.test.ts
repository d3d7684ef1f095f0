import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sendJson, startLoopbackServer, type LoopbackServer } from "../../../test/support/http-server.js";
import { skillContext } from "../../../test/support/skill-context.js";
import type { SkillContext, SkillSettings } from "../contract.js";
import { createLlmInvokeSkill } from "../llm-invoke.js";
import { PromptCache } from "./prompt-cache.js";

const KEY = "sk-proj-test-4d2b8e6a0c";

/** A fake OpenAI Chat Completions API: each test says how it answers; every request is recorded by the server. */
let openai: LoopbackServer;
let answer: (body: Record<string, unknown>, response: ServerResponse) => void;

function completion(overrides: { finish_reason?: string; usage?: unknown; model?: string; content?: string | null } = {}) {
  return {
    id: "chatcmpl-01",
    object: "chat.completion",
    created: 1_790_000_000,
    model: overrides.model ?? "gpt-4o-2024-08-06",
    choices: [
      { index: 0, message: { role: "assistant", content: overrides.content ?? "Monday.", refusal: null }, finish_reason: overrides.finish_reason ?? "stop" },
    ],
    usage: overrides.usage ?? { prompt_tokens: 10_000, completion_tokens: 1_000, total_tokens: 11_000 },
  };
}

/** OpenAI's error body; this one quotes the key back. */
function openaiError(response: ServerResponse, status: number, type: string): void {
  sendJson(response, status, { error: { message: `${type}: key ${KEY}`, type, param: null, code: type } });
}

function context(settings: Partial<SkillSettings> = {}, overrides: Partial<SkillContext> = {}): SkillContext {
  const base = skillContext();
  return { ...base, ...overrides, settings: { ...base.settings, openaiApiKey: KEY, openaiBaseUrl: `${openai.url}/v1`, ...settings } };
}

const skill = createLlmInvokeSkill(new PromptCache());
const ask = (extra: Record<string, unknown> = {}) =>
  skill.input.parse({
    provider: "openai",
    system_prompt: "Be brief.",
    messages: [
      { role: "user", content: "When does order 42 ship?" },
      { role: "assistant", content: "Which warehouse?" },
      { role: "user", content: "Leeds." },
    ],
    max_tokens: 200,
    ...extra,
  });

beforeAll(async () => {
  openai = await startLoopbackServer((_request, response, body) => answer(JSON.parse(body) as Record<string, unknown>, response));
});

afterAll(() => openai.close());

beforeEach(() => {
  openai.requests.length = 0;
  answer = (_body, response) => sendJson(response, 200, completion());
});

describe("llm_invoke with the OpenAI provider, against a fake Chat Completions API", () => {
  it("sends the system prompt first, the key as a bearer token, and prices the usage of gpt-4o from the table", async () => {
    const outcome = await skill.execute(ask({ stop_sequences: ["END"] }), context());
    expect(openai.requests).toHaveLength(1);
    const [sent] = openai.requests;
    expect(sent).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
    expect(sent?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({
      model: "gpt-4o",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "When does order 42 ship?" },
        { role: "assistant", content: "Which warehouse?" },
        { role: "user", content: "Leeds." },
      ],
      max_completion_tokens: 200,
      temperature: 0.7,
      stop: ["END"],
    });
    // gpt-4o: 10,000 × 250 + 1,000 × 1,000 micro-cents = 3.5 cents, charged as 4.
    expect(outcome).toMatchObject({
      status: "ok",
      result: {
        provider: "openai",
        model: "gpt-4o",
        response_model: "gpt-4o-2024-08-06",
        response_text: "Monday.",
        input_tokens: 10_000,
        output_tokens: 1_000,
        finish_reason: "end_turn",
        cost_microcents: 3_500_000,
        cache_hit: false,
      },
      sideEffects: { costCents: 4, tokens: 11_000 },
    });
  });

  it("prices gpt-4o-mini from its own row, and sends the temperature asked for", async () => {
    answer = (_body, response) => sendJson(response, 200, completion({ model: "gpt-4o-mini", usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } }));
    const outcome = await skill.execute(ask({ model: "gpt-4o-mini", temperature: 0 }), context());
    expect(outcome).toMatchObject({ result: { cost_microcents: 1000 * 15 + 500 * 60 }, sideEffects: { costCents: 1 } });
    expect(JSON.parse(openai.requests[0]?.body ?? "{}")).toMatchObject({ model: "gpt-4o-mini", temperature: 0 });
  });

  it.each([
    ["stop", "end_turn"],
    ["length", "max_tokens"],
    ["content_filter", "end_turn"],
  ])("reports OpenAI's finish reason %s as %s", async (finishReason, expected) => {
    answer = (_body, response) => sendJson(response, 200, completion({ finish_reason: finishReason }));
    expect(await skill.execute(ask(), context())).toMatchObject({ result: { finish_reason: expected } });
  });

  it("prices an answer without usage from estimates rather than as free", async () => {
    answer = (_body, response) => sendJson(response, 200, { ...completion(), usage: undefined });
    const outcome = await skill.execute(ask(), context());
    expect(outcome).toMatchObject({ status: "ok", result: { output_tokens: 2 } });
    expect((outcome as { result: { cost_microcents: number } }).result.cost_microcents).toBeGreaterThan(0);
  });

  it.each([
    [429, "rate_limit_exceeded", "LLM_RATE_LIMITED", true],
    [500, "server_error", "LLM_PROVIDER_ERROR", true],
    [503, "server_error", "LLM_PROVIDER_ERROR", true],
    [401, "invalid_api_key", "CREDENTIALS_REJECTED", false],
    [400, "invalid_request_error", "LLM_REQUEST_REJECTED", false],
    [422, "invalid_request_error", "LLM_REQUEST_REJECTED", false],
  ])("maps HTTP %i (%s) to %s, asking once and never repeating the key", async (status, type, code, retryable) => {
    answer = (_body, response) => openaiError(response, status, type);
    const outcome = await skill.execute(ask(), context());
    expect(outcome).toMatchObject({ status: "error", error: { code, retryable }, result: { provider: "openai", model: "gpt-4o" } });
    expect(openai.requests).toHaveLength(1);
    expect(JSON.stringify(outcome)).not.toContain(KEY);
  });

  it.each([undefined, ""])("fails CREDENTIALS_MISSING naming OPENAI_API_KEY when it is %j, making no request", async (key) => {
    const outcome = await skill.execute(ask(), context({ openaiApiKey: key }));
    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    expect(outcome).toMatchObject({ error: { message: expect.stringContaining("OPENAI_API_KEY") as string } });
    expect(openai.requests).toHaveLength(0);
  });

  it("is cancelled when the run's signal is aborted mid-call", async () => {
    const controller = new AbortController();
    const held: ServerResponse[] = [];
    answer = (_body, response) => {
      held.push(response);
      controller.abort();
    };
    const outcome = await skill.execute(ask(), context({}, { signal: controller.signal }));
    expect(outcome).toMatchObject({ status: "error", error: { code: "CANCELLED" } });
    for (const response of held) response.destroy();
  });

  it("serves a repeated request from the prompt cache at no cost", async () => {
    const cached = createLlmInvokeSkill(new PromptCache());
    await cached.execute(ask({ enable_cache: true }), context());
    const again = await cached.execute(ask({ enable_cache: true }), context());
    expect(again).toMatchObject({ result: { cache_hit: true, cost_microcents: 0, saved_microcents: 3_500_000 }, sideEffects: { costCents: 0 } });
    expect(openai.requests).toHaveLength(1);
  });

  it("refuses more than four stop sequences, which OpenAI does not take, before anything runs", () => {
    const result = skill.input.safeParse({ provider: "openai", messages: [{ role: "user", content: "hi" }], stop_sequences: ["a", "b", "c", "d", "e"] });
    expect(result.error?.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`)).toEqual(["stop_sequences: OpenAI takes at most 4 stop sequences"]);
  });
});
