import type Anthropic from "@anthropic-ai/sdk";
import type { FinishReason, LlmCallContext, LlmProvider, LlmRequest, LlmResponse } from "./provider.js";
import { requireKey, SDK_MAX_RETRIES, SDK_TIMEOUT_MS, sdkFailure, sdkLogger } from "./sdk-calls.js";

const ANTHROPIC = { label: "Anthropic", keyVariable: "ANTHROPIC_API_KEY" } as const;
/** Loaded on the first call: the SDK is large, and most processes (every CLI verb) never call a model. */
const loadSdk = () => import("@anthropic-ai/sdk");
export const ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com";

/**
 * Claude through the Messages API. SDK 1.x sends API version 2026-10-21, which refuses sampling parameters, so no
 * temperature is sent (llm_invoke's input refuses one for this provider rather than drop it unseen).
 */
export const anthropicProvider: LlmProvider = {
  async complete(request: LlmRequest, call: LlmCallContext): Promise<LlmResponse> {
    const key = requireKey(call.settings.anthropicApiKey, ANTHROPIC);
    const sdk = await loadSdk();
    try {
      // Every option is given, so the SDK reads nothing from the environment or a profile on disk:
      // configuration is read once, by AOS.
      const client = new sdk.default({
        apiKey: key,
        baseURL: call.settings.anthropicBaseUrl ?? ANTHROPIC_DEFAULT_BASE_URL,
        webhookKey: null,
        maxRetries: SDK_MAX_RETRIES,
        timeout: SDK_TIMEOUT_MS,
        logLevel: "warn",
        logger: sdkLogger(call.log, key),
      });
      const message = await client.messages.create(
        {
          model: request.model,
          max_tokens: request.maxTokens,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          ...(request.system === undefined ? {} : { system: request.system }),
          ...(request.stopSequences === undefined ? {} : { stop_sequences: [...request.stopSequences] }),
        },
        { signal: call.signal },
      );
      return {
        text: textOf(message),
        model: message.model,
        inputTokens: message.usage.input_tokens,
        outputTokens: message.usage.output_tokens,
        finishReason: finishReasonOf(message.stop_reason),
      };
    } catch (error) {
      throw sdkFailure(error, sdk, ANTHROPIC, key);
    }
  },
};

function textOf(message: Anthropic.Message): string {
  return message.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("");
}

/** A refusal, a tool call or a paused turn is the model ending its turn; a full context window is running out of room. */
function finishReasonOf(reason: Anthropic.Message["stop_reason"]): FinishReason {
  if (reason === "max_tokens" || reason === "model_context_window_exceeded") return "max_tokens";
  if (reason === "stop_sequence") return "stop_sequence";
  return "end_turn";
}
