import { STEP_STATUSES, type StepDecision, type StepError, type StepStatus, type TraceStep } from "../glossary.js";
import type { Bytes } from "./digest.js";
import { type Check, exactObject, isCount, isHex64, isString, isTimestamp, literal, nullable, oneOf } from "./record-shape.js";
import { type Parsed, parseRecord } from "./trace-header.js";

/**
 * A step leaf's header in format v2 (docs/proofs.md, "Step leaves"): every field of one attempt except its
 * payloads, which it names by hash. leaf = SHA-256(0x00 ‖ header bytes).
 */
export interface StepHeader {
  kind: "step";
  seq: number;
  step_index: number;
  step_id: string;
  attempt: number;
  next_step_index: number;
  skill: string;
  skill_version: string;
  status: StepStatus;
  outcome_code: string;
  cost_cents: number;
  tokens: number;
  duration_ms: number;
  started_at: string;
  completed_at: string;
  decision: StepDecision | null;
  params_sha256: string;
  outcome_sha256: string | null;
  error_sha256: string | null;
}

/** The three payloads of a step, by the header member holding each one's hash. */
export const PAYLOADS = ["params", "outcome", "error"] as const;
export type PayloadName = (typeof PAYLOADS)[number];

const isAttempt: Check = (value) => (Number.isSafeInteger(value) && (value as number) >= 1 ? undefined : "not a whole number ≥ 1");

const decision = exactObject({
  action: oneOf(["allow", "deny", "require_approval"]),
  reason: isString,
  policy_id: isString,
  policy_hash: isString,
});

const STEP_MEMBERS = {
  kind: literal("step"),
  seq: isCount,
  step_index: isCount,
  step_id: isString,
  attempt: isAttempt,
  next_step_index: isCount,
  skill: isString,
  skill_version: isString,
  status: oneOf(STEP_STATUSES),
  outcome_code: isString,
  cost_cents: isCount,
  tokens: isCount,
  duration_ms: isCount,
  started_at: isTimestamp,
  completed_at: isTimestamp,
  decision: nullable(decision),
  params_sha256: isHex64,
  outcome_sha256: nullable(isHex64),
  error_sha256: nullable(isHex64),
};

export function parseStepHeader(bytes: Bytes): Parsed<StepHeader> {
  return parseRecord<StepHeader>(bytes, STEP_MEMBERS);
}

export function payloadHash(header: StepHeader, payload: PayloadName): string | null {
  return payload === "params" ? header.params_sha256 : payload === "outcome" ? header.outcome_sha256 : header.error_sha256;
}

/** What a trace step holds besides its header: its payloads' values, its hashes, and whether it was pruned. */
export interface StepBody {
  traceId: string;
  params: Record<string, unknown>;
  outcomeData: unknown;
  error: StepError | null;
  leafHash: string;
  chainHash: string;
  prunedAt?: Date | null;
}

/** A trace step as the rest of AOS uses it, from its header and the rest: one mapping for the writer and readers. */
export function traceStepOf(header: StepHeader, body: StepBody): TraceStep {
  return {
    traceId: body.traceId,
    seq: header.seq,
    stepIndex: header.step_index,
    stepId: header.step_id,
    attempt: header.attempt,
    skillName: header.skill,
    skillVersion: header.skill_version,
    params: body.params,
    status: header.status,
    outcomeCode: header.outcome_code,
    outcomeData: body.outcomeData,
    error: body.error,
    costCents: header.cost_cents,
    tokens: header.tokens,
    durationMs: header.duration_ms,
    startedAt: new Date(header.started_at),
    completedAt: new Date(header.completed_at),
    decision: header.decision,
    leafHash: body.leafHash,
    chainHash: body.chainHash,
    ...(body.prunedAt === undefined ? {} : { prunedAt: body.prunedAt }),
  };
}
