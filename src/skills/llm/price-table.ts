/**
 * What model calls cost, in integer micro-cents (a millionth of a cent) per token: the same number as cents per
 * million tokens, so the table reads like providers' price pages and no float ever enters a cost. The version is
 * stored with every call's result and in the run's LLM record, so a cost can always be traced to the prices used.
 */
export const PRICE_TABLE_VERSION = "2026-11-01";

export interface ModelPrice {
  /** Micro-cents per input token (= cents per million input tokens). */
  readonly input: number;
  /** Micro-cents per output token. */
  readonly output: number;
}

export type LlmProviderName = "local";

const PRICES: Readonly<Record<LlmProviderName, Readonly<Record<string, ModelPrice>>>> = {
  // The offline provider costs nothing: it runs no model.
  local: { "local-echo": { input: 0, output: 0 } },
};

export function priceOf(provider: LlmProviderName, model: string): ModelPrice | undefined {
  return Object.hasOwn(PRICES[provider], model) ? PRICES[provider][model] : undefined;
}

export function pricedModels(provider: LlmProviderName): string[] {
  return Object.keys(PRICES[provider]);
}

export const MICROCENTS_PER_CENT = 1_000_000;

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
