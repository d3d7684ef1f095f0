import { z } from "zod";
import { canonicalBytes } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/digest.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { ANTHROPIC_DEFAULT_BASE_URL, anthropicProvider } from "./llm/anthropic-provider.js";
import { localProvider } from "./llm/local-provider.js";
import { OPENAI_DEFAULT_BASE_URL, openaiProvider } from "./llm/openai-provider.js";
import {
  chargedCents,
  costMicrocents,
  type LlmProviderName,
  type ModelPrice,
  PRICE_TABLE_VERSION,
  priceOf,
  pricedModels,
} from "../price-table.js";
import { PromptCache } from "./llm/prompt-cache.js";
import { approximateTokens, LlmCallError, type LlmProvider, type LlmRequest, type LlmResponse } from "./llm/provider.js";
import { SDK_TIMEOUT_MS } from "./llm/sdk-calls.js";
import { abortedOutcome, failure, ok } from "./outcome.js";

const PROVIDERS: Readonly<Record<LlmProviderName, { provider: LlmProvider; defaultModel: string }>> = {
  anthropic: { provider: anthropicProvider, defaultModel: "claude-sonnet-4-20250514" },
  openai: { provider: openaiProvider, defaultModel: "gpt-4o" },
  local: { provider: localProvider, defaultModel: "local-echo" },
};

const MAX_OUTPUT_TOKENS = 8192;
const DEFAULT_TEMPERATURE = 0.7;
const OPENAI_MAX_STOP_SEQUENCES = 4;

const inputSchema = z
  .object({
    provider: z.enum(["anthropic", "openai", "local"], { error: 'expected a provider: "anthropic", "openai" or "local"' }),
    model: z.string().min(1).optional(),
    messages: z
      .array(z.strictObject({ role: z.enum(["user", "assistant"]), content: z.string().min(1).max(200_000) }))
      .min(1, { error: "at least one message is needed" })
      .max(200),
    system_prompt: z.string().max(200_000).optional(),
    max_tokens: z.int().min(1).max(MAX_OUTPUT_TOKENS).default(1024),
    // Optional rather than defaulted, so a temperature given to a provider that takes none can be refused.
    temperature: z.number().min(0).max(2).optional(),
    stop_sequences: z.array(z.string().min(1)).max(8).optional(),
    enable_cache: z.boolean().default(false),
  })
  .strict()
  .superRefine((input, ctx) => {
    const model = input.model ?? PROVIDERS[input.provider].defaultModel;
    if (priceOf(input.provider, model) === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["model"],
        message: `model "${model}" has no price for provider ${input.provider} (price table ${PRICE_TABLE_VERSION}); priced models: ${pricedModels(input.provider).join(", ")}`,
      });
    }
    if (input.provider === "anthropic" && input.temperature !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["temperature"],
        message: "the Anthropic API (version 2026-10-21) takes no temperature; leave it out",
      });
    }
    if (input.provider === "openai" && (input.stop_sequences?.length ?? 0) > OPENAI_MAX_STOP_SEQUENCES) {
      ctx.addIssue({ code: "custom", path: ["stop_sequences"], message: `OpenAI takes at most ${OPENAI_MAX_STOP_SEQUENCES} stop sequences` });
    }
  });

export type LlmInvokeInput = z.output<typeof inputSchema>;

function modelOf(input: LlmInvokeInput): string {
  return input.model ?? PROVIDERS[input.provider].defaultModel;
}

/** The temperature sent: none to Anthropic, which takes none; otherwise the one asked for, or 0.7. */
function temperatureOf(input: LlmInvokeInput): number | undefined {
  return input.provider === "anthropic" ? undefined : (input.temperature ?? DEFAULT_TEMPERATURE);
}

function estimatedInputTokens(input: LlmInvokeInput): number {
  const parts = [...(input.system_prompt === undefined ? [] : [input.system_prompt]), ...input.messages.map((message) => message.content)];
  return approximateTokens(parts.join("\n"));
}

/**
 * What identifies a request: hashed into the step's result and the run's LLM record, never the prompt itself, and
 * the prompt cache's key. Unlike upstream's cache key it covers max_tokens and stop sequences too, so an answer cut
 * short for one request is never served to a request that allows a longer one.
 */
function promptHash(input: LlmInvokeInput): string {
  return sha256Hex(
    canonicalBytes({
      provider: input.provider,
      model: modelOf(input),
      system: input.system_prompt ?? null,
      messages: input.messages,
      max_tokens: input.max_tokens,
      temperature: temperatureOf(input) ?? null,
      stop_sequences: input.stop_sequences ?? [],
    }),
  );
}

function requestOf(input: LlmInvokeInput, model: string): LlmRequest {
  return {
    model,
    system: input.system_prompt,
    messages: input.messages,
    maxTokens: input.max_tokens,
    temperature: temperatureOf(input),
    stopSequences: input.stop_sequences,
  };
}

interface CallIdentity {
  provider: LlmProviderName;
  model: string;
  prompt_hash: string;
  price_table_version: string;
}

async function invoke(input: LlmInvokeInput, ctx: SkillContext, cache: PromptCache): Promise<SkillOutcome> {
  const model = modelOf(input);
  const price = priceOf(input.provider, model);
  const identity: CallIdentity = { provider: input.provider, model, prompt_hash: promptHash(input), price_table_version: PRICE_TABLE_VERSION };
  if (price === undefined) {
    return failure("VALIDATION_ERROR", `llm_invoke: model "${model}" has no price for provider ${input.provider}`, { result: identity });
  }
  // Scoped by tenant: no tenant is served an answer that another tenant's call paid for.
  const cacheKey = `${ctx.tenantId}:${identity.prompt_hash}`;
  const cached = input.enable_cache ? cache.get(cacheKey) : undefined;
  if (cached !== undefined) return answered(identity, cached, price, true);
  let response: LlmResponse;
  try {
    response = await PROVIDERS[input.provider].provider.complete(requestOf(input, model), ctx);
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome("llm_invoke", ctx.signal);
    if (error instanceof LlmCallError) {
      return failure(error.code, `llm_invoke: ${error.message}`, { retryable: error.retryable, result: identity });
    }
    return failure("SKILL_ERROR", `llm_invoke: the ${input.provider} provider failed: ${(error as Error).message}`, { result: identity });
  }
  if (input.enable_cache) cache.set(cacheKey, response);
  return answered(identity, response, price, false);
}

/**
 * A cache hit reports the answer's original tokens (what it took to produce, as the LLM record sums them) but
 * costs nothing and uses no tokens against caps: no model ran. What the call would have cost is in
 * saved_microcents.
 */
function answered(identity: CallIdentity, response: LlmResponse, price: ModelPrice, cacheHit: boolean): SkillOutcome {
  const fullCost = costMicrocents(price, response.inputTokens, response.outputTokens);
  const microcents = cacheHit ? 0 : fullCost;
  return ok(
    {
      ...identity,
      response_text: response.text,
      response_model: response.model,
      response_hash: sha256Hex(Buffer.from(response.text, "utf8")),
      input_tokens: response.inputTokens,
      output_tokens: response.outputTokens,
      finish_reason: response.finishReason,
      cost_microcents: microcents,
      cache_hit: cacheHit,
      ...(cacheHit ? { saved_microcents: fullCost } : {}),
    },
    { costCents: chargedCents(microcents), tokens: cacheHit ? 0 : response.inputTokens + response.outputTokens },
  );
}

/**
 * llm_invoke with the prompt cache it uses. The cache is the process's own state by nature; it is passed in so
 * tests get a fresh one (and a clock), while the registered skill holds one for the process.
 */
export function createLlmInvokeSkill(cache: PromptCache): Skill<LlmInvokeInput> {
  return {
    name: "llm_invoke",
    version: "1.0.0",
    description:
      'Calls a language model (provider "anthropic", "openai" or "local") with messages and an optional system ' +
      `prompt. Tokens and cost come from the provider's usage and a versioned price table (${PRICE_TABLE_VERSION}) in ` +
      "integer micro-cents; the step is charged the cost rounded up to a whole cent. Keys come from ANTHROPIC_API_KEY " +
      'and OPENAI_API_KEY; provider "local" (model local-echo) is deterministic, free and offline. With enable_cache, ' +
      "an identical request from the same tenant within an hour is answered from this process's cache at no cost.",
    input: inputSchema,
    output: {
      response_text: "the model's answer",
      provider: "the provider called",
      model: "the model asked for (defaults: anthropic claude-sonnet-4-20250514, openai gpt-4o, local local-echo)",
      response_model: "the model that answered, as the provider names it",
      input_tokens: "tokens of the prompt (on a cache hit, those of the call that produced the answer)",
      output_tokens: "tokens of the answer (on a cache hit, likewise)",
      finish_reason: "end_turn, max_tokens or stop_sequence (OpenAI reports a stop sequence as end_turn)",
      cost_microcents: "the exact cost in micro-cents (a millionth of a cent); 0 on a cache hit",
      cache_hit: "whether the answer came from the prompt cache instead of a model call",
      saved_microcents: "on a cache hit only: what the call would have cost",
      price_table_version: "the price table the cost came from",
      prompt_hash: "sha256 of the canonical request (provider, model, system, messages, settings); the cache key",
      response_hash: "sha256 of response_text",
    },
    determinism: "non_deterministic",
    sideEffects: "external_read",
    estimateLatencyMs: (input) => (input.provider === "local" ? 5 : 2000),
    // The most the call can cost: the prompt as estimated and every output token it may produce.
    estimateCostCents: (input) => {
      const price = priceOf(input.provider, modelOf(input));
      return price === undefined ? 0 : chargedCents(costMicrocents(price, estimatedInputTokens(input), input.max_tokens));
    },
    estimateTokens: (input) => estimatedInputTokens(input) + input.max_tokens,
    limits: { max_tokens: MAX_OUTPUT_TOKENS, messages: 200, provider_timeout_ms: SDK_TIMEOUT_MS, cache_entries: 1000, cache_ttl_seconds: 3600 },
    configuredTargets: (input, settings) => {
      if (input.provider === "anthropic") return [settings.anthropicBaseUrl ?? ANTHROPIC_DEFAULT_BASE_URL];
      if (input.provider === "openai") return [settings.openaiBaseUrl ?? OPENAI_DEFAULT_BASE_URL];
      return [];
    },
    // The local provider needs nothing, so only a call to a hosted provider can be missing its key.
    missingSettings: (settings, input) => {
      if (input?.provider === "anthropic" && !settings.anthropicApiKey) return ["ANTHROPIC_API_KEY"];
      if (input?.provider === "openai" && !settings.openaiApiKey) return ["OPENAI_API_KEY"];
      return [];
    },
    failureCodes: [
      "CREDENTIALS_MISSING", "CREDENTIALS_REJECTED", "LLM_RATE_LIMITED", "LLM_PROVIDER_ERROR", "LLM_REQUEST_REJECTED",
      "NETWORK_ERROR", "SKILL_ERROR", "VALIDATION_ERROR", "CANCELLED", "TIMEOUT",
    ],
    execute: (input, ctx) => invoke(input, ctx, cache),
  };
}

/** The registered skill, with this process's prompt cache (1000 answers, one hour each). */
export const llmInvokeSkill: Skill<LlmInvokeInput> = createLlmInvokeSkill(new PromptCache());
