import type { Queryable } from "../db/database.js";
import { utcDay } from "../db/queries/budgets.js";
import { insertStepAndAdvanceRun, type StoredStepBytes } from "../db/queries/trace-steps.js";
import { AppError } from "../errors.js";
import { type PlanStep, type Run, type StepError, type TraceStep, traceIdFor } from "../glossary.js";
import type { Skill } from "../skills/contract.js";
import { failure } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import { type AttestationKeys, attest } from "../trace/attestation.js";
import { canonicalJson } from "../trace/canonical-json.js";
import { chainNext, leafHashOf } from "../trace/chain.js";
import { bytesOf, sha256Hex } from "../trace/digest.js";
import { redactSecrets } from "../trace/redact.js";
import { type StepHeader, traceStepOf } from "../trace/step-header.js";
import { encodeRecord, type TraceHeader } from "../trace/trace-header.js";
import { toStorableJson } from "../trace/storable-json.js";
import { honouredCancel } from "./cancel-request.js";
import type { Attempt } from "./step-execution.js";

/**
 * Where a run's trace stands, as this worker verified or wrote it: the header it extends, the next leaf position,
 * the chain head and the leaves so far, and the key it attests its rows with. Never read back from the run row.
 */
export interface TraceCursor {
  runId: string;
  tenantId: string;
  traceId: string;
  epoch: number;
  header: TraceHeader;
  seq: number;
  chainHead: string;
  leafHashes: string[];
  /** Attests this worker's rows (the current key) and checks what others wrote (every key held). */
  keys: AttestationKeys;
}

export function cursorFor(
  run: Run,
  prefix: { header: TraceHeader; chainHead: string; leafHashes: string[] },
  keys: AttestationKeys,
): TraceCursor {
  return {
    runId: run.id,
    tenantId: run.tenantId,
    traceId: traceIdFor(run.id),
    epoch: run.epoch,
    header: prefix.header,
    seq: prefix.leafHashes.length,
    chainHead: prefix.chainHead,
    leafHashes: [...prefix.leafHashes],
    keys,
  };
}

/** The highest attempt recorded for a step, 0 when it has none: a resumed or re-decided step continues from it. */
export function lastAttempt(rows: readonly TraceStep[], stepIndex: number): number {
  return rows.reduce((max, row) => (row.stepIndex === stepIndex ? Math.max(max, row.attempt) : max), 0);
}

export interface AttemptToRecord {
  step: PlanStep;
  stepIndex: number;
  attempt: number;
  skill: Skill<unknown>;
  params: unknown;
  result: Attempt;
  /** A step the policy engine denied: recorded, never executed. */
  blocked?: boolean;
  /**
   * `started`: the intent row of a skill with external side effects, written before it calls out.
   * `interrupted`: such an attempt whose worker died before its outcome was recorded.
   */
  marker?: "started" | "interrupted";
  /** The step index the run resumes at once this row is written. */
  nextStepIndex: number;
  /** The agent whose budget settles this step's cost, and the estimate reserved from it (0 when none was). */
  agentId: string;
  reservedCents: number;
  /** The UTC day the reservation was made on; when nothing was reserved, the cost counts on the attempt's day. */
  spendDay?: string;
}

/** A step row ready to write: the trace step, the bytes that were hashed, and its attestation. */
export interface BuiltStep {
  step: TraceStep;
  bytes: StoredStepBytes;
  attestation: string;
}

/** A payload's canonical text and hash, or nulls when there is none. */
function payload(value: unknown): { text: string | null; sha256: string | null } {
  if (value === null) return { text: null, sha256: null };
  const text = canonicalJson(value);
  return { text, sha256: sha256Hex(text) };
}

/**
 * Builds the trace step row in format v2 (docs/proofs.md, "Step leaves"): the payloads made storable (and params
 * redacted) first, then their canonical bytes and hashes, the step header naming them, its leaf, the chain, and the
 * row's attestation. What is hashed is exactly what is stored.
 */
export function buildTraceStep(cursor: TraceCursor, input: AttemptToRecord): BuiltStep {
  const { outcome, startedAt, completedAt, durationMs } = input.result;
  const params = toStorableJson(redactSecrets(input.params ?? {})) as Record<string, unknown>;
  const outcomeData = toStorableJson(outcome.result ?? null);
  const error = outcome.status === "ok" ? null : (toStorableJson(outcome.error) as StepError);
  const [paramsPayload, outcomePayload, errorPayload] = [payload(params), payload(outcomeData), payload(error)];
  const header: StepHeader = {
    kind: "step",
    seq: cursor.seq,
    step_index: input.stepIndex,
    step_id: input.step.step_id,
    attempt: input.attempt,
    next_step_index: input.nextStepIndex,
    skill: input.skill.name,
    skill_version: input.skill.version,
    status: input.marker ?? (input.blocked ? "blocked" : outcome.status === "ok" ? "succeeded" : "failed"),
    outcome_code: input.marker === "started" ? "started" : outcome.status === "ok" ? "ok" : outcome.error.code,
    cost_cents: outcome.sideEffects.costCents,
    tokens: outcome.sideEffects.tokens,
    duration_ms: durationMs,
    started_at: startedAt.toISOString(),
    completed_at: completedAt.toISOString(),
    decision: input.result.decision,
    params_sha256: paramsPayload.sha256 as string,
    outcome_sha256: outcomePayload.sha256,
    error_sha256: errorPayload.sha256,
  };
  const headerBytes = encodeRecord(header);
  const leafHash = leafHashOf(headerBytes);
  const chainHash = chainNext(cursor.chainHead, leafHash);
  const step = traceStepOf(header, { traceId: cursor.traceId, params, outcomeData, error, leafHash, chainHash });
  const bytes = {
    header: headerBytes,
    params: bytesOf(paramsPayload.text as string),
    outcome: outcomePayload.text === null ? null : bytesOf(outcomePayload.text),
    error: errorPayload.text === null ? null : bytesOf(errorPayload.text),
  };
  return { step, bytes, attestation: attest(cursor.keys.current, cursor.runId, header.seq, chainHash) };
}

/**
 * Writes the attempt's row and advances the run's cursor in one statement, then moves the in-memory cursor.
 * Throws LEASE_LOST when the run's epoch moved on: this worker no longer owns the run and must record nothing more.
 */
export async function recordAttempt(
  db: Queryable,
  cursor: TraceCursor,
  input: AttemptToRecord,
): Promise<{ step: TraceStep; cancelRequested: boolean }> {
  const { step, bytes, attestation } = buildTraceStep(cursor, input);
  const { written, cancelRequest } = await insertStepAndAdvanceRun(db, {
    runId: cursor.runId,
    epoch: cursor.epoch,
    nextStepIndex: input.nextStepIndex,
    agentId: input.agentId,
    reservedCents: input.reservedCents,
    spendDay: input.spendDay ?? utcDay(input.result.startedAt),
    step,
    bytes,
    attestation,
  });
  if (!written) {
    throw new AppError("LEASE_LOST", `run ${cursor.runId} is no longer held at epoch ${cursor.epoch}; its step was not recorded`);
  }
  cursor.seq += 1;
  cursor.chainHead = step.chainHash;
  cursor.leafHashes.push(step.leafHash);
  return { step, cancelRequested: cancelRequest !== null && honouredCancel(cursor.keys, cursor.runId, cancelRequest) };
}


/**
 * The row a resumed run records when its trace ends in an intent (`started`) with no outcome after it: the worker
 * died between calling out and recording. The attempt is charged its estimate, since the call may have happened,
 * and the step is then retried with the same idempotency key. Undefined when the trace does not end in an intent.
 */
export function interruptedAttempt(
  run: Run,
  rows: readonly TraceStep[],
  agentBudgeted: boolean,
): AttemptToRecord | undefined {
  const intent = rows.at(-1);
  if (intent?.status !== "started") return undefined;
  const step = run.plan?.steps[intent.stepIndex];
  const skill = step === undefined ? undefined : findSkill(step.skill);
  if (step === undefined || skill === undefined) {
    throw new AppError("INTERNAL", `run ${run.id}: the intent at seq ${intent.seq} names no step of its plan`);
  }
  const parsed = skill.input.safeParse(intent.params);
  const estimate = parsed.success ? skill.estimateCostCents(parsed.data) : 0;
  const message =
    `${skill.name} was interrupted: its worker stopped after the call started (seq ${intent.seq}) and before its ` +
    `outcome was recorded; the call may have happened. If the run goes on, the step is tried again with the same idempotency key`;
  const now = new Date();
  return {
    step,
    stepIndex: intent.stepIndex,
    attempt: intent.attempt,
    skill,
    params: intent.params,
    result: {
      outcome: failure("INTERRUPTED", message, { sideEffects: { costCents: estimate, tokens: 0 } }),
      startedAt: now,
      completedAt: now,
      durationMs: 0,
      decision: intent.decision,
    },
    marker: "interrupted",
    nextStepIndex: intent.stepIndex,
    agentId: run.agentId,
    // What the interrupted attempt reserved, when its agent had something to reserve against.
    reservedCents: agentBudgeted ? estimate : 0,
  };
}
