import { z } from "zod";
import { canonicalBytes } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/step-hash.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { localProvider } from "./llm/local-provider.js";
import {
  chargedCents,
  costMicrocents,
  type LlmProviderName,
  PRICE_TABLE_VERSION,
  priceOf,
  pricedModels,
} from "./llm/price-table.js";
import { approximateTokens, LlmCallError, type LlmProvider } from "./llm/provider.js";
import { abortedOutcome, failure, ok } from "./outcome.js";

const PROVIDERS: Readonly<Record<LlmProviderName, { provider: LlmProvider; defaultModel: string }>> = {
  local: { provider: localProvider, defaultModel: "local-echo" },
};

const MAX_OUTPUT_TOKENS = 8192;

const inputSchema = z
  .object({
    provider: z.enum(["local"], { error: 'expected a provider: "local"' }),
    model: z.string().min(1).optional(),
    messages: z
      .array(z.strictObject({ role: z.enum(["user", "assistant"]), content: z.string().min(1).max(200_000) }))
      .min(1, { error: "at least one message is needed" })
      .max(200),
    system_prompt: z.string().max(200_000).optional(),
    max_tokens: z.int().min(1).max(MAX_OUTPUT_TOKENS).default(1024),
    temperature: z.number().min(0).max(2).default(0.7),
    stop_sequences: z.array(z.string().min(1)).max(8).optional(),
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
  });

export type LlmInvokeInput = z.output<typeof inputSchema>;

function modelOf(input: LlmInvokeInput): string {
  return input.model ?? PROVIDERS[input.provider].defaultModel;
}

function estimatedInputTokens(input: LlmInvokeInput): number {
  const parts = [...(input.system_prompt === undefined ? [] : [input.system_prompt]), ...input.messages.map((message) => message.content)];
  return approximateTokens(parts.join("\n"));
}

/** What identifies a request: hashed into the step's result and the run's LLM record, never the prompt itself. */
function promptHash(input: LlmInvokeInput): string {
  return sha256Hex(
    canonicalBytes({
      provider: input.provider,
      model: modelOf(input),
      system: input.system_prompt ?? null,
      messages: input.messages,
      max_tokens: input.max_tokens,
      temperature: input.temperature,
      stop_sequences: input.stop_sequences ?? [],
    }),
  );
}

async function invoke(input: LlmInvokeInput, ctx: SkillContext): Promise<SkillOutcome> {
  const model = modelOf(input);
  const price = priceOf(input.provider, model);
  const identity = { provider: input.provider, model, prompt_hash: promptHash(input), price_table_version: PRICE_TABLE_VERSION };
  if (price === undefined) {
    return failure("VALIDATION_ERROR", `llm_invoke: model "${model}" has no price for provider ${input.provider}`, { result: identity });
  }
  try {
    const response = await PROVIDERS[input.provider].provider.complete({
      model,
      system: input.system_prompt,
      messages: input.messages,
      maxTokens: input.max_tokens,
      temperature: input.temperature,
      stopSequences: input.stop_sequences,
      signal: ctx.signal,
    });
    const microcents = costMicrocents(price, response.inputTokens, response.outputTokens);
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
      },
      { costCents: chargedCents(microcents), tokens: response.inputTokens + response.outputTokens },
    );
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome("llm_invoke", ctx.signal);
    if (error instanceof LlmCallError) {
      return failure(error.code, `llm_invoke: ${error.message}`, { retryable: error.retryable, result: identity });
    }
    return failure("SKILL_ERROR", `llm_invoke: the ${input.provider} provider failed: ${(error as Error).message}`, { result: identity });
  }
}

export const llmInvokeSkill: Skill<LlmInvokeInput> = {
  name: "llm_invoke",
  version: "1.0.0",
  description:
    "Calls a language model with messages and an optional system prompt. Tokens and cost come from the provider's " +
    `usage and a versioned price table (${PRICE_TABLE_VERSION}) in integer micro-cents; the step is charged the cost ` +
    'rounded up to a whole cent. Provider "local" (model local-echo) is deterministic and offline.',
  input: inputSchema,
  output: {
    response_text: "the model's answer",
    provider: "the provider called",
    model: "the model asked for",
    response_model: "the model that answered, as the provider names it",
    input_tokens: "tokens of the prompt",
    output_tokens: "tokens of the answer",
    finish_reason: "end_turn, max_tokens or stop_sequence",
    cost_microcents: "the exact cost in micro-cents (a millionth of a cent)",
    price_table_version: "the price table the cost came from",
    prompt_hash: "sha256 of the canonical request (provider, model, system, messages, settings)",
    response_hash: "sha256 of response_text",
  },
  determinism: "non_deterministic",
  sideEffects: "external_read",
  // The most the call can cost: the prompt as estimated and every output token it may produce.
  estimateCostCents: (input) => {
    const price = priceOf(input.provider, modelOf(input));
    return price === undefined ? 0 : chargedCents(costMicrocents(price, estimatedInputTokens(input), input.max_tokens));
  },
  estimateTokens: (input) => estimatedInputTokens(input) + input.max_tokens,
  limits: { max_tokens: MAX_OUTPUT_TOKENS, messages: 200 },
  failureCodes: ["SKILL_ERROR", "VALIDATION_ERROR", "CANCELLED", "TIMEOUT"],
  execute: invoke,
};
