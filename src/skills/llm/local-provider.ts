import { approximateTokens, type FinishReason, type LlmProvider, type LlmRequest, type LlmResponse } from "./provider.js";

/**
 * The offline provider: model `local-echo` answers with the last user message, cut at the first stop sequence and
 * at max_tokens. Deterministic, free and network-free, so runs, budgets, caps and LLM records can be exercised
 * anywhere; tokens are counted as about four characters each. It needs no key, so it ignores the call context.
 */
export const localProvider: LlmProvider = {
  complete(request: LlmRequest): Promise<LlmResponse> {
    const prompt = [...(request.system === undefined ? [] : [request.system]), ...request.messages.map((message) => message.content)].join("\n");
    const lastUser = request.messages.findLast((message) => message.role === "user")?.content ?? "";
    let text = lastUser;
    let finishReason: FinishReason = "end_turn";
    for (const stop of request.stopSequences ?? []) {
      const at = text.indexOf(stop);
      if (stop !== "" && at >= 0) {
        text = text.slice(0, at);
        finishReason = "stop_sequence";
      }
    }
    const maxChars = request.maxTokens * 4;
    if (text.length > maxChars) {
      text = text.slice(0, maxChars);
      finishReason = "max_tokens";
    }
    return Promise.resolve({
      text,
      model: request.model,
      inputTokens: approximateTokens(prompt),
      outputTokens: approximateTokens(text),
      finishReason,
    });
  },
};
