import { describe, expect, it } from "vitest";
import { skillContext } from "../../test/support/skill-context.js";
import { llmInvokeSkill } from "./llm-invoke.js";
import { chargedCents, costMicrocents } from "../price-table.js";

const parse = (params: unknown) => llmInvokeSkill.input.parse(params);

describe("llm_invoke with the local provider", () => {
  it("answers deterministically, with tokens, a zero cost, and hashes of the request and the answer", async () => {
    const input = parse({ provider: "local", system_prompt: "Be brief.", messages: [{ role: "user", content: "Summarise the order." }] });
    const first = await llmInvokeSkill.execute(input, skillContext());
    const second = await llmInvokeSkill.execute(input, skillContext());
    expect(first).toEqual(second);
    expect(first).toMatchObject({
      status: "ok",
      result: {
        provider: "local",
        model: "local-echo",
        response_text: "Summarise the order.",
        finish_reason: "end_turn",
        input_tokens: 8,
        output_tokens: 5,
        cost_microcents: 0,
        price_table_version: "2026-11-24",
        cache_hit: false,
      },
      sideEffects: { costCents: 0, tokens: 13 },
    });
    const result = (first as { result: { prompt_hash: string; response_hash: string } }).result;
    expect(result.prompt_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.response_hash).toMatch(/^[0-9a-f]{64}$/);
    const other = await llmInvokeSkill.execute(parse({ provider: "local", messages: [{ role: "user", content: "Something else." }] }), skillContext());
    expect((other as { result: { prompt_hash: string } }).result.prompt_hash).not.toBe(result.prompt_hash);
  });

  it("stops at a stop sequence and at max_tokens, and says which", async () => {
    const stopped = await llmInvokeSkill.execute(
      parse({ provider: "local", messages: [{ role: "user", content: "one. two. three." }], stop_sequences: [". t"] }),
      skillContext(),
    );
    expect(stopped).toMatchObject({ result: { response_text: "one", finish_reason: "stop_sequence" } });
    const capped = await llmInvokeSkill.execute(parse({ provider: "local", messages: [{ role: "user", content: "x".repeat(100) }], max_tokens: 2 }), skillContext());
    expect(capped).toMatchObject({ result: { response_text: "xxxxxxxx", finish_reason: "max_tokens", output_tokens: 2 } });
  });

  it("rejects an unpriced model, an unknown provider, no messages and unknown fields before anything runs", () => {
    const problems = (params: unknown) => llmInvokeSkill.input.safeParse(params).error?.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    expect(problems({ provider: "local", model: "gpt-9", messages: [{ role: "user", content: "hi" }] })).toEqual([
      'model: model "gpt-9" has no price for provider local (price table 2026-11-24); priced models: local-echo',
    ]);
    expect(problems({ provider: "acme", messages: [{ role: "user", content: "hi" }] })).toEqual([
      'provider: expected a provider: "anthropic", "openai" or "local"',
    ]);
    expect(problems({ provider: "local", messages: [] })).toEqual(["messages: at least one message is needed"]);
    expect(problems({ provider: "local", messages: [{ role: "user", content: "hi" }], temperature_: 1 })?.[0]).toMatch(/temperature_/);
  });

  it("estimates the most a call can cost and use: the prompt and every output token it may produce", () => {
    const input = parse({ provider: "local", messages: [{ role: "user", content: "abcdefgh" }], max_tokens: 100 });
    expect(llmInvokeSkill.estimateTokens?.(input)).toBe(102);
    expect(llmInvokeSkill.estimateCostCents(input)).toBe(0);
  });
});

describe("the price table's arithmetic", () => {
  it("counts micro-cents exactly and charges whole cents rounded up, never down", () => {
    const sonnetLike = { input: 300, output: 1500 };
    expect(costMicrocents(sonnetLike, 1000, 200)).toBe(600_000);
    expect(chargedCents(600_000)).toBe(1);
    expect(chargedCents(1_000_000)).toBe(1);
    expect(chargedCents(1_000_001)).toBe(2);
    expect(chargedCents(0)).toBe(0);
  });
});
