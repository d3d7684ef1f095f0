import type { Database } from "../db/database.js";
import { utcDay } from "../db/queries/budgets.js";
import { insertStepAndAdvanceRun } from "../db/queries/trace-steps.js";
import { AppError } from "../errors.js";
import { type PlanStep, type Run, type StepError, type TraceStep, traceIdFor } from "../glossary.js";
import type { Skill } from "../skills/contract.js";
import { failure } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import { redactSecrets } from "../trace/redact.js";
import { contentOf, type UnhashedTraceStep } from "../trace/step-content.js";
import { chainNext, leafHash } from "../trace/step-hash.js";
import { toStorableJson } from "../trace/storable-json.js";
import type { Attempt } from "./step-execution.js";

/** The cursor of a run read from the database: its fencing epoch, next leaf position, chain head and leaves. */
export function cursorFor(run: Run, rows: readonly TraceStep[]): TraceCursor {
  if (run.chainHead === null) throw new AppError("INTERNAL", `run ${run.id} has no trace genesis`);
  return {
    runId: run.id,
    tenantId: run.tenantId,
    traceId: traceIdFor(run.id),
    epoch: run.epoch,
    seq: run.nextSeq,
    chainHead: run.chainHead,
    leafHashes: rows.map((row) => row.leafHash),
  };
}

/** The highest attempt recorded for a step, 0 when it has none: a resumed or re-decided step continues from it. */
export function lastAttempt(rows: readonly TraceStep[], stepIndex: number): number {
  return rows.reduce((max, row) => (row.stepIndex === stepIndex ? Math.max(max, row.attempt) : max), 0);
}

/** Where the run's trace stands: the next leaf position and the chain head so far. */
export interface TraceCursor {
  runId: string;
  tenantId: string;
  traceId: string;
  epoch: number;
  seq: number;
  chainHead: string;
  leafHashes: string[];
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

/** Builds the trace step row: its content is made storable and redacted first, so the hash covers what is stored. */
export function buildTraceStep(cursor: TraceCursor, input: AttemptToRecord): TraceStep {
  const { outcome, startedAt, completedAt, durationMs } = input.result;
  const unhashed: UnhashedTraceStep = {
    traceId: cursor.traceId,
    seq: cursor.seq,
    stepIndex: input.stepIndex,
    stepId: input.step.step_id,
    attempt: input.attempt,
    skillName: input.skill.name,
    skillVersion: input.skill.version,
    params: toStorableJson(redactSecrets(input.params ?? {})) as Record<string, unknown>,
    status: input.marker ?? (input.blocked ? "blocked" : outcome.status === "ok" ? "succeeded" : "failed"),
    outcomeCode: input.marker === "started" ? "started" : outcome.status === "ok" ? "ok" : outcome.error.code,
    outcomeData: toStorableJson(outcome.result ?? null),
    error: outcome.status === "ok" ? null : (toStorableJson(outcome.error) as StepError),
    costCents: outcome.sideEffects.costCents,
    tokens: outcome.sideEffects.tokens,
    durationMs,
    startedAt,
    completedAt,
    decision: input.result.decision,
  };
  const leaf = leafHash(contentOf(unhashed));
  return { ...unhashed, leafHash: leaf, chainHash: chainNext(cursor.chainHead, leaf) };
}

/**
 * Writes the attempt's row and advances the run's cursor in one statement, then moves the in-memory cursor.
 * Throws LEASE_LOST when the run's epoch moved on: this worker no longer owns the run and must record nothing more.
 */
export async function recordAttempt(
  db: Database,
  cursor: TraceCursor,
  input: AttemptToRecord,
): Promise<{ step: TraceStep; cancelRequested: boolean }> {
  const step = buildTraceStep(cursor, input);
  const { written, cancelRequested } = await insertStepAndAdvanceRun(db.pool, {
    runId: cursor.runId,
    epoch: cursor.epoch,
    nextStepIndex: input.nextStepIndex,
    agentId: input.agentId,
    reservedCents: input.reservedCents,
    spendDay: input.spendDay ?? utcDay(input.result.startedAt),
    step,
  });
  if (!written) {
    throw new AppError("LEASE_LOST", `run ${cursor.runId} is no longer held at epoch ${cursor.epoch}; its step was not recorded`);
  }
  cursor.seq += 1;
  cursor.chainHead = step.chainHash;
  cursor.leafHashes.push(step.leafHash);
  return { step, cancelRequested };
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
    `outcome was recorded; the step is retried with the same idempotency key`;
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
