import type { FailureCode } from "../../failure-catalog.js";

export interface LlmMessage {
  role: "user" | "assistant";
  content: string;
}

export interface LlmRequest {
  model: string;
  system?: string | undefined;
  messages: readonly LlmMessage[];
  maxTokens: number;
  temperature: number;
  stopSequences?: readonly string[] | undefined;
  signal: AbortSignal;
}

export interface LlmResponse {
  text: string;
  /** The model that answered, as the provider names it. */
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Why generation stopped: end_turn, max_tokens, stop_sequence. */
  finishReason: string;
}

/** A model provider behind llm_invoke. It reports failure by throwing LlmCallError with a catalog code. */
export interface LlmProvider {
  complete(request: LlmRequest): Promise<LlmResponse>;
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
