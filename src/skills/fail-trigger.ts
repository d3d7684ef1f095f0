import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { isFailureCode } from "../failure-catalog.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { abortedOutcome, failure, ok } from "./outcome.js";

const inputSchema = z
  .object({
    error_code: z.string().min(1).default("INJECTED_FAILURE"),
    message: z.string().optional(),
    retryable: z.boolean().optional(),
    delay_ms: z.int().min(0).max(60_000).default(0),
    fail_times: z.int().min(0).optional(),
    // What each attempt costs, so budgets and caps can be exercised without a paid model.
    cost_cents: z.int().min(0).max(1_000_000).default(0),
    tokens: z.int().min(0).max(10_000_000).default(0),
  })
  .strict();

export type FailTriggerInput = z.output<typeof inputSchema>;

async function trigger(input: FailTriggerInput, ctx: SkillContext): Promise<SkillOutcome> {
  if (input.delay_ms > 0) {
    try {
      await sleep(input.delay_ms, undefined, { signal: ctx.signal });
    } catch {
      return abortedOutcome("fail_trigger", ctx.signal);
    }
  }
  const sideEffects = { costCents: input.cost_cents, tokens: input.tokens };
  if (input.fail_times !== undefined && ctx.attempt > input.fail_times) {
    return ok({ succeeded_on_attempt: ctx.attempt }, sideEffects);
  }
  const requested = input.error_code;
  const code = isFailureCode(requested) ? requested : "INJECTED_FAILURE";
  const known = code === requested;
  const message = input.message ?? `fail_trigger injected ${requested} on attempt ${ctx.attempt}`;
  const details = { attempt: ctx.attempt, ...(known ? {} : { requested_code: requested }) };
  // Left unset, retryability is the catalog's for that code, so an injected HTTP_4XX behaves like a real one.
  return failure(code, message, { retryable: input.retryable, details, sideEffects });
}

export const failTriggerSkill: Skill<FailTriggerInput> = {
  name: "fail_trigger",
  version: "1.0.0",
  description:
    "Test skill (upstream's __sdsr_fail_trigger__): fails with the error_code asked for, optionally after a delay, " +
    "or only on the first fail_times attempts so that retries can be exercised; each attempt costs cost_cents and " +
    "tokens, so budgets and caps can be exercised too. " +
    "Any failure catalog code can be injected.",
  input: inputSchema,
  output: { succeeded_on_attempt: "with fail_times: the attempt that succeeded" },
  determinism: "deterministic",
  sideEffects: "none",
  estimateLatencyMs: (input) => input.delay_ms,
  estimateCostCents: (input) => input.cost_cents,
  estimateTokens: (input) => input.tokens,
  limits: { delay_ms: 60_000 },
  // Any catalog code can be injected; these are the ones it reports on its own.
  failureCodes: ["INJECTED_FAILURE", "CANCELLED", "TIMEOUT"],
  execute: trigger,
};
