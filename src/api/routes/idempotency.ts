import type { FastifyRequest } from "fastify";
import type { FailureCode } from "../../failure-catalog.js";
import { validationError } from "../envelope.js";
import { idempotencyKeyHeader } from "../schemas.js";

/**
 * The Idempotency-Key header of a run-creating request, checked against the spec's schema, for createRun, which
 * compares the request it was first used with (the same key within 24 hours returns the same run; with a different
 * request it is refused).
 */
export function idempotencyOf(request: FastifyRequest): { idempotencyKey?: string } {
  const header = request.headers["idempotency-key"];
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined) return {};
  const parsed = idempotencyKeyHeader.safeParse(key);
  if (!parsed.success) throw validationError("header", parsed.error.issues.map((issue) => ({ ...issue, path: ["Idempotency-Key", ...issue.path] })));
  return { idempotencyKey: parsed.data };
}

/**
 * What creating a run can raise past its request's shape: the agent, the plan, the key, and the planner's model
 * call when one plans the goal (its policy, budget, credentials and provider).
 */
export const RUN_CREATION_ERRORS: readonly FailureCode[] = [
  "AGENT_NOT_FOUND",
  "PLAN_INVALID",
  "IDEMPOTENCY_KEY_MISMATCH",
  "POLICY_VIOLATION",
  "BUDGET_EXCEEDED",
  "CREDENTIALS_MISSING",
  "CREDENTIALS_REJECTED",
  "LLM_RATE_LIMITED",
  "LLM_REQUEST_REJECTED",
  "LLM_PROVIDER_ERROR",
  "NETWORK_ERROR",
  "TIMEOUT",
  "USAGE",
];
