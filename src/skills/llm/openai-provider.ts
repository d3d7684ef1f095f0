import type OpenAI from "openai";
import { approximateTokens, type FinishReason, type LlmCallContext, LlmCallError, type LlmProvider, type LlmRequest, type LlmResponse } from "./provider.js";
import { requireKey, SDK_MAX_RETRIES, SDK_TIMEOUT_MS, sdkFailure, sdkLogger } from "./sdk-calls.js";

const OPENAI = { label: "OpenAI", keyVariable: "OPENAI_API_KEY" } as const;
/** Loaded on the first call: the SDK is large, and most processes (every CLI verb) never call a model. */
const loadSdk = () => import("openai");
/** The SDK's default; OPENAI_BASE_URL replaces all of it, so it names the version path too (`http://host/v1`). */
export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";

/** GPT models through the Chat Completions API: the system prompt goes first as a system message. */
export const openaiProvider: LlmProvider = {
  async complete(request: LlmRequest, call: LlmCallContext): Promise<LlmResponse> {
    const key = requireKey(call.settings.openaiApiKey, OPENAI);
    const sdk = await loadSdk();
    let completion: OpenAI.ChatCompletion;
    try {
      // Every option is given, so the SDK reads nothing from the environment: configuration is read once, by AOS.
      const client = new sdk.default({
        apiKey: key,
        baseURL: call.settings.openaiBaseUrl ?? OPENAI_DEFAULT_BASE_URL,
        adminAPIKey: null,
        organization: null,
        project: null,
        webhookSecret: null,
        maxRetries: SDK_MAX_RETRIES,
        timeout: SDK_TIMEOUT_MS,
        logLevel: "warn",
        logger: sdkLogger(call.log, key),
      });
      completion = await client.chat.completions.create(
        {
          model: request.model,
          messages: [
            ...(request.system === undefined ? [] : [{ role: "system" as const, content: request.system }]),
            ...request.messages.map((m) => ({ role: m.role, content: m.content })),
          ],
          max_completion_tokens: request.maxTokens,
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          ...(request.stopSequences === undefined ? {} : { stop: [...request.stopSequences] }),
        },
        { signal: call.signal },
      );
    } catch (error) {
      throw sdkFailure(error, sdk, OPENAI, key);
    }
    return responseOf(completion, request);
  },
};

function responseOf(completion: OpenAI.ChatCompletion, request: LlmRequest): LlmResponse {
  const choice = completion.choices[0];
  if (choice === undefined) throw new LlmCallError("LLM_PROVIDER_ERROR", "OpenAI answered with no choice", false);
  const text = choice.message.content ?? choice.message.refusal ?? "";
  // Without usage the call is still priced, from estimates, so it is never recorded as free.
  const prompt = [request.system ?? "", ...request.messages.map((m) => m.content)].join("\n");
  return {
    text,
    model: completion.model,
    inputTokens: completion.usage?.prompt_tokens ?? approximateTokens(prompt),
    outputTokens: completion.usage?.completion_tokens ?? approximateTokens(text),
    finishReason: finishReasonOf(choice.finish_reason),
  };
}

/** OpenAI says "stop" both for a natural end and for a stop sequence, so both read end_turn. */
function finishReasonOf(reason: OpenAI.ChatCompletion.Choice["finish_reason"]): FinishReason {
  return reason === "length" ? "max_tokens" : "end_turn";
}
