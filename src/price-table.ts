/**
 * What model calls cost, in integer micro-cents (a millionth of a cent) per token: the same number as cents per
 * million tokens, so the table reads like providers' price pages and no float ever enters a cost. The version is
 * stored with every call's result and in the run's LLM record, so a cost can always be traced to the prices used.
 */
export const PRICE_TABLE_VERSION = "2026-11-24";

export interface ModelPrice {
  /** Micro-cents per input token (= cents per million input tokens). */
  readonly input: number;
  /** Micro-cents per output token. */
  readonly output: number;
}

export type LlmProviderName = "anthropic" | "openai" | "local";

const OPUS_4: ModelPrice = { input: 1500, output: 7500 };
const SONNET_4: ModelPrice = { input: 300, output: 1500 };
const HAIKU_3_5: ModelPrice = { input: 80, output: 400 };
const GPT_4O: ModelPrice = { input: 250, output: 1000 };
const GPT_4O_MINI: ModelPrice = { input: 15, output: 60 };

/**
 * Upstream's prices (reference §4.2), each under the dated model id and the alias that points at it. A model not
 * listed here is refused when a step's input is validated, so no call is ever made at an unknown price.
 */
const PRICES: Readonly<Record<LlmProviderName, Readonly<Record<string, ModelPrice>>>> = {
  anthropic: {
    "claude-opus-4-20250514": OPUS_4,
    "claude-opus-4-0": OPUS_4,
    "claude-sonnet-4-20250514": SONNET_4,
    "claude-sonnet-4-0": SONNET_4,
    "claude-3-5-haiku-20241022": HAIKU_3_5,
    "claude-3-5-haiku-latest": HAIKU_3_5,
  },
  openai: {
    "gpt-4o": GPT_4O,
    "gpt-4o-2024-08-06": GPT_4O,
    "gpt-4o-mini": GPT_4O_MINI,
    "gpt-4o-mini-2024-07-18": GPT_4O_MINI,
  },
  // The offline provider costs nothing: it runs no model.
  local: { "local-echo": { input: 0, output: 0 } },
};

export function priceOf(provider: LlmProviderName, model: string): ModelPrice | undefined {
  return Object.hasOwn(PRICES[provider], model) ? PRICES[provider][model] : undefined;
}

export function pricedModels(provider: LlmProviderName): string[] {
  return Object.keys(PRICES[provider]);
}

const MICROCENTS_PER_CENT = 1_000_000;

/** The exact cost of a call in micro-cents. */
export function costMicrocents(price: ModelPrice, inputTokens: number, outputTokens: number): number {
  return inputTokens * price.input + outputTokens * price.output;
}

/**
 * Budgets are kept in whole cents, so a call is charged its cost rounded up to the next cent: a budget is never
 * under-charged, and the exact micro-cents stay in the step's result and the run's LLM record.
 */
export function chargedCents(microcents: number): number {
  return Math.ceil(microcents / MICROCENTS_PER_CENT);
}
