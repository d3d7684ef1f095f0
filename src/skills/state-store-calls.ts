import { SQLSTATE, sqlstateOf } from "../db/sqlstate.js";
import { AppError } from "../errors.js";
import type { SkillOutcome } from "./contract.js";
import { failure } from "./outcome.js";

// How a skill that keeps state in a store (kv_store, calendar_write) reports its failures.

/** The store's own failures carry catalog codes; a lost database connection is retryable; anything else is a bug. */
export function storeFailure(skill: string, error: unknown): SkillOutcome {
  if (error instanceof AppError) {
    return failure(error.code, error.message, { retryable: error.retryable, ...(error.details ? { details: error.details } : {}) });
  }
  const code = (error as { code?: unknown } | null)?.code;
  const state = sqlstateOf(error);
  const lost =
    (typeof code === "string" && /^E[A-Z]+$/.test(code)) ||
    state?.startsWith("08") === true ||
    state === SQLSTATE.ADMIN_SHUTDOWN ||
    state === SQLSTATE.CANNOT_CONNECT_NOW;
  if (!lost) throw error;
  return failure("DATABASE_UNAVAILABLE", `${skill} lost AOS's database: ${(error as Error).message}`, { retryable: true });
}
