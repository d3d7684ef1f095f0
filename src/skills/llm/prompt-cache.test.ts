import { describe, expect, it } from "vitest";
import { PromptCache } from "./prompt-cache.js";
import type { LlmResponse } from "./provider.js";

const answer = (text: string): LlmResponse => ({ text, model: "m", inputTokens: 10, outputTokens: 2, finishReason: "end_turn" });

describe("the prompt cache", () => {
  it("forgets an answer once its time to live has passed", () => {
    let now = 0;
    const cache = new PromptCache({ ttlMs: 3_600_000, now: () => now });
    cache.set("k", answer("a"));
    now = 3_599_999;
    expect(cache.get("k")?.text).toBe("a");
    now = 3_600_000;
    expect(cache.get("k")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("evicts the least recently used answer when full, counting a hit as a use", () => {
    const cache = new PromptCache({ maxEntries: 2 });
    cache.set("a", answer("a"));
    cache.set("b", answer("b"));
    cache.get("a");
    cache.set("c", answer("c"));
    expect([cache.get("a")?.text, cache.get("b")?.text, cache.get("c")?.text]).toEqual(["a", undefined, "c"]);
    expect(cache.size).toBe(2);
  });

  it("keeps its own copy, so a caller changing a response changes nothing cached", () => {
    const cache = new PromptCache();
    const response = answer("a");
    cache.set("k", response);
    response.text = "changed";
    expect(cache.get("k")?.text).toBe("a");
  });

  it("defaults to upstream's 1000 answers", () => {
    const cache = new PromptCache();
    for (let i = 0; i < 1001; i += 1) cache.set(String(i), answer(String(i)));
    expect(cache.size).toBe(1000);
    expect(cache.get("0")).toBeUndefined();
    expect(cache.get("1000")?.text).toBe("1000");
  });
});
