import type { Plan, TraceStep } from "../glossary.js";
import type { Bytes } from "./digest.js";
import { type Check, isCount, isHex64, isString, isTimestamp, literal, nullable, oneOf } from "./record-shape.js";
import { HEADER_MEMBERS, type Parsed, parseRecord, type TraceHeader } from "./trace-header.js";

/** The members a run-end repeats from the trace header: a run-end that disagrees with its header is tampered. */
const SHARED_WITH_HEADER = [
  "run_id",
  "tenant_id",
  "agent_id",
  "origin_system_id",
  "actor_type",
  "actor_id",
  "parent_run_id",
  "plan_sha256",
  "created_at",
] as const;

/**
 * The run-end leaf of format v2 (docs/proofs.md, "Run-end leaf"): what the run row says when the run finishes,
 * as the last leaf of its trace (seq = step_count), so the signed checkpoint covers the run's own facts.
 */
export type RunEnd = Pick<TraceHeader, (typeof SHARED_WITH_HEADER)[number]> & {
  kind: "run_end";
  seq: number;
  step_count: number;
  goal_sha256: string;
  status: "succeeded" | "failed" | "halted" | "cancelled";
  termination_reason: string;
  error_message: string | null;
  cost_cents: number;
  tokens: number;
  attempts: number;
  started_at: string | null;
  completed_at: string;
  duration_ms: number | null;
};

const isInteger: Check = (value) => (Number.isSafeInteger(value) ? undefined : "not a whole number");

const RUN_END_MEMBERS = {
  kind: literal("run_end"),
  seq: isCount,
  step_count: isCount,
  // The members shared with the header are checked as the header's are.
  ...Object.fromEntries(SHARED_WITH_HEADER.map((member) => [member, HEADER_MEMBERS[member]])),
  goal_sha256: isHex64,
  status: oneOf(["succeeded", "failed", "halted", "cancelled"]),
  termination_reason: isString,
  error_message: nullable(isString),
  cost_cents: isCount,
  tokens: isCount,
  attempts: isCount,
  started_at: nullable(isTimestamp),
  completed_at: isTimestamp,
  duration_ms: nullable(isInteger),
};

export function parseRunEnd(bytes: Bytes): Parsed<RunEnd> {
  return parseRecord<RunEnd>(bytes, RUN_END_MEMBERS);
}

/** What a run has cost: its planner's (charged when it was created) and its recorded steps'. The run-end's cost_cents. */
export function runCostCents(plan: Plan | null, steps: readonly Pick<TraceStep, "costCents">[]): number {
  return (plan?.planner_usage?.cost_cents ?? 0) + steps.reduce((sum, step) => sum + step.costCents, 0);
}

/** The members a run-end repeats from its trace header, as the header states them. */
export function sharedWithHeader(header: TraceHeader): Pick<TraceHeader, (typeof SHARED_WITH_HEADER)[number]> {
  return Object.fromEntries(SHARED_WITH_HEADER.map((member) => [member, header[member]])) as Pick<TraceHeader, (typeof SHARED_WITH_HEADER)[number]>;
}

/** The first member a run-end states differently from its header, or undefined. */
export function disagreementWithHeader(runEnd: RunEnd, header: TraceHeader, goalSha256: string): string | undefined {
  for (const member of SHARED_WITH_HEADER) if (runEnd[member] !== header[member]) return member;
  return runEnd.goal_sha256 === goalSha256 ? undefined : "goal_sha256";
}
