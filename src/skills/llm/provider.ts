import type { FailureCode } from "../../failure-catalog.js";
import type { SkillContext } from "../contract.js";

export interface LlmMessage {
  role: "user" | "assistant";
  content: string;
}

export interface LlmRequest {
  model: string;
  system?: string | undefined;
  messages: readonly LlmMessage[];
  maxTokens: number;
  /** Absent where the provider takes no sampling temperature (Anthropic's API version 2026-10-21). */
  temperature?: number | undefined;
  stopSequences?: readonly string[] | undefined;
}

/**
 * What a provider needs besides the request: the run's signal (timeouts and cancellation), its key and endpoint
 * from configuration, and a logger for what the SDK has to say. A skill passes its own context.
 */
export type LlmCallContext = Pick<SkillContext, "signal" | "settings" | "log">;

export interface LlmResponse {
  text: string;
  /** The model that answered, as the provider names it. */
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Why generation stopped. */
  finishReason: FinishReason;
}

export type FinishReason = "end_turn" | "max_tokens" | "stop_sequence";

/** A model provider behind llm_invoke. It reports failure by throwing LlmCallError with a catalog code. */
export interface LlmProvider {
  complete(request: LlmRequest, call: LlmCallContext): Promise<LlmResponse>;
}

export class LlmCallError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly retryable?: boolean,
  ) {
    super(message);
    this.name = "LlmCallError";
  }
}

/** Tokens of text when no tokenizer is at hand: about four characters per token, never zero for non-empty text. */
export function approximateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
