import { AppError } from "../errors.js";
import type { Plan, PlannerUsage } from "../glossary.js";
import type { Logger } from "../logger.js";
import { anthropicProvider } from "../skills/llm/anthropic-provider.js";
import { openaiProvider } from "../skills/llm/openai-provider.js";
import { chargedCents, costMicrocents, type ModelPrice, PRICE_TABLE_VERSION, priceOf } from "../price-table.js";
import { type LlmCallContext, LlmCallError, type LlmMessage, type LlmProvider } from "../skills/llm/provider.js";
import { canonicalBytes } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/digest.js";
import type { ManifestEntry } from "./manifest.js";
import type { InputIssue } from "../input-issues.js";
import { readPlanReply } from "./plan-reply.js";
import { goalMessage, plannerSystemPrompt, repairMessage } from "./planner-prompt.js";

export type LlmPlannerBackend = "anthropic" | "openai";

const PROVIDERS: Readonly<Record<LlmPlannerBackend, LlmProvider>> = { anthropic: anthropicProvider, openai: openaiProvider };

export interface LlmPlannerOptions {
  backend: LlmPlannerBackend;
  /** A priced model (configuration refuses any other). */
  model: string;
  maxTokens: number;
  maxPlanSteps: number;
  settings: LlmCallContext["settings"];
  log: Logger;
}

export interface PlanRequest {
  goal: string;
  planId: string;
  manifest: readonly ManifestEntry[];
}

/**
 * How a planning conversation ended. Every outcome carries the usage of the calls made, so what they cost is
 * charged and recorded whether or not a plan came out of them.
 */
export type LlmPlanning =
  | { ok: true; plan: Plan; usage: PlannerUsage }
  | { ok: false; issues: InputIssue[]; usage: PlannerUsage; callError?: LlmCallError };

/** One request as sent: hashed into the usage, never stored. */
interface SentCall {
  promptHash: string;
  responseHash: string | null;
  inputTokens: number;
  outputTokens: number;
}

/**
 * Plans a goal with a model: one request, and when its answer is not a valid plan, ONE repair request that sends
 * the answer back with the exact problems found. There is no third request and no fallback plan: a conversation
 * that yields no valid plan, or a request that fails, ends with no plan, and the run fails visibly. No request is
 * retried: the providers' SDKs are built with retries off (sdk-calls.ts), and a failed request ends the planning.
 */
export async function planWithLlm(request: PlanRequest, options: LlmPlannerOptions): Promise<LlmPlanning> {
  const price = priceOf(options.backend, options.model);
  // Configuration refuses an unpriced PLANNER_MODEL; this guards callers that build options themselves.
  if (price === undefined) throw new AppError("USAGE", `PLANNER_MODEL "${options.model}" has no price for ${options.backend}; no call was made`);
  const sent: SentCall[] = [];
  const usage = () => usageOf(sent, options, price);
  const system = plannerSystemPrompt(request.manifest, options.maxPlanSteps);
  const context = {
    planId: request.planId,
    planner: options.backend,
    maxPlanSteps: options.maxPlanSteps,
    offeredSkills: new Set(request.manifest.map((entry) => entry.name)),
  };
  const messages: LlmMessage[] = [{ role: "user", content: goalMessage(request.goal) }];
  let issues: InputIssue[] = [];
  for (const attempt of [1, 2]) {
    const answer = await ask(system, messages, options, sent);
    if (answer instanceof LlmCallError) return { ok: false, issues, usage: usage(), callError: answer };
    const read = readPlanReply(answer, context);
    if (read.ok) return { ok: true, plan: { ...read.plan, planner_usage: usage() }, usage: usage() };
    issues = read.issues;
    if (attempt === 1) {
      // Anthropic refuses an empty message, and an empty answer is worth sending back as such.
      messages.push({ role: "assistant", content: answer.trim() === "" ? "(empty answer)" : answer }, { role: "user", content: repairMessage(issues) });
    }
  }
  return { ok: false, issues, usage: usage() };
}

/** One request; its failure is returned, not thrown, so the calls made so far are still accounted for. */
async function ask(system: string, messages: readonly LlmMessage[], options: LlmPlannerOptions, sent: SentCall[]): Promise<string | LlmCallError> {
  const request = { model: options.model, system, messages: [...messages], maxTokens: options.maxTokens };
  const promptHash = sha256Hex(canonicalBytes({ provider: options.backend, ...request }));
  // Nothing cancels planning but the SDK's own timeout: run creation has no signal of its own.
  const call: LlmCallContext = { signal: new AbortController().signal, settings: options.settings, log: options.log };
  try {
    const response = await PROVIDERS[options.backend].complete(request, call);
    const responseHash = sha256Hex(Buffer.from(response.text, "utf8"));
    sent.push({ promptHash, responseHash, inputTokens: response.inputTokens, outputTokens: response.outputTokens });
    return response.text;
  } catch (error) {
    sent.push({ promptHash, responseHash: null, inputTokens: 0, outputTokens: 0 });
    if (error instanceof LlmCallError) return error;
    return new LlmCallError("LLM_PROVIDER_ERROR", `the ${options.backend} planner call failed: ${(error as Error).message}`, false);
  }
}

/** One request's hash, or the sha256 of the requests' hashes joined in order: as the run's LLM record combines them. */
function combined(hashes: readonly string[]): string | null {
  if (hashes.length <= 1) return hashes[0] ?? null;
  return sha256Hex(Buffer.from(hashes.join("\n"), "utf8"));
}

function usageOf(sent: readonly SentCall[], options: LlmPlannerOptions, price: ModelPrice): PlannerUsage {
  const inputTokens = sent.reduce((sum, call) => sum + call.inputTokens, 0);
  const outputTokens = sent.reduce((sum, call) => sum + call.outputTokens, 0);
  const microcents = costMicrocents(price, inputTokens, outputTokens);
  return {
    provider: options.backend,
    model: options.model,
    calls: sent.length,
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cost_microcents: microcents,
    cost_cents: chargedCents(microcents),
    price_table_version: PRICE_TABLE_VERSION,
    prompt_hash: combined(sent.map((call) => call.promptHash)) ?? "",
    response_hash: combined(sent.flatMap((call) => (call.responseHash === null ? [] : [call.responseHash]))),
  };
}
