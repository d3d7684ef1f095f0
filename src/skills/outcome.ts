import { AppError } from "../errors.js";
import { FAILURE_CATALOG, type FailureCode } from "../failure-catalog.js";
import type { StepError } from "../glossary.js";
import { NO_SIDE_EFFECTS, type SideEffects, type SkillOutcome } from "./contract.js";

export function ok(result: unknown, sideEffects: SideEffects = NO_SIDE_EFFECTS): SkillOutcome {
  return { status: "ok", result, sideEffects };
}

export interface FailureOptions {
  retryable?: boolean;
  details?: Record<string, unknown>;
  result?: unknown;
  sideEffects?: SideEffects;
}

/** A skill's error outcome, its category and default retryability taken from the failure catalog. */
export function failure(code: FailureCode, message: string, options: FailureOptions = {}): SkillOutcome {
  const entry = FAILURE_CATALOG[code];
  const error: StepError = {
    code,
    message,
    category: entry.category,
    retryable: options.retryable ?? entry.retryable,
    ...(options.details === undefined ? {} : { details: options.details }),
  };
  return {
    status: "error",
    ...(options.result === undefined ? {} : { result: options.result }),
    error,
    sideEffects: options.sideEffects ?? NO_SIDE_EFFECTS,
  };
}

/**
 * The outcome of a skill whose signal was aborted: the executor may abort with an AppError saying why;
 * otherwise the reason is a timeout or a plain cancellation.
 */
export function abortedOutcome(skillName: string, signal: AbortSignal): SkillOutcome {
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) {
    return failure(reason.code, reason.message, { retryable: reason.retryable, details: reason.details });
  }
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return failure("TIMEOUT", `${skillName} was stopped by the step timeout`);
  }
  return failure("CANCELLED", `${skillName} was cancelled before it finished`);
}
