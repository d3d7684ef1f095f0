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
