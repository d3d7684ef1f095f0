import type { Queryable } from "../db/database.js";
import { AppError } from "../errors.js";
import type { Plan, Run, TraceStep } from "../glossary.js";
import type { AttestationKeys } from "../trace/attestation.js";
import { textOf } from "../trace/digest.js";
import { runCostCents } from "../trace/run-end.js";
import type { TraceHeader } from "../trace/trace-header.js";
import { verifyTraceRecord } from "../trace/verify-trace.js";
import { loadTraceOf, storedAttestations, traceRecordOf, traceStepsOf } from "./stored-trace.js";

/**
 * What a worker may build on: a run's stored trace after every byte, hash and attestation in it checked, with the
 * plan and results read from those checked bytes (never from the jsonb copies).
 */
export interface VerifiedPrefix {
  header: TraceHeader;
  plan: Plan;
  steps: TraceStep[];
  chainHead: string;
  leafHashes: string[];
  /** The plan position the run resumes at: the last attested row's next_step_index, 0 with none. */
  nextStepIndex: number;
  /** What the run has cost so far (its planner's and its steps'), and its steps' tokens. */
  costCents: number;
  tokens: number;
}

/**
 * How far apart two AOS processes' clocks may be: a run's started_at (its first claimer's clock) is held between its
 * creation (its creator's) and its first recorded step, give or take this.
 */
const CLOCK_SKEW_MS = 60_000;

export function traceTampered(reason: string, seq: number | null = null): AppError {
  return new AppError("TRACE_TAMPERED", reason, { details: { seq } });
}

/**
 * Verifies the stored prefix of a run this process has just taken (a claim, or a take to end it), before executing,
 * resuming or ending it (docs/proofs.md, "Write-time attestations"): the header, the plan, every step's bytes,
 * leaf, chain and attestation, and that the run row's cursor and cost are where the trace says. Nothing it did not
 * write itself and cannot check is ever extended or signed. Throws TRACE_TAMPERED naming what failed.
 */
export async function verifiedPrefix(db: Queryable, run: Run, keys: AttestationKeys): Promise<VerifiedPrefix> {
  const stored = await loadTraceOf(db, run);
  if (stored === undefined) throw traceTampered(`run ${run.id} has no trace`);
  const record = traceRecordOf(stored);
  if (record === undefined) {
    throw traceTampered(`run ${run.id} has a format v1 trace (created before format v2), whose rows carry no attestations to check`);
  }
  if (record.runEnd !== null || record.checkpoint !== null) throw traceTampered("the trace already records the run's end: an ended run is never resumed");
  const checked = verifyTraceRecord(record, [], storedAttestations(stored, keys));
  const { verdict } = checked;
  if (verdict.status !== "INCOMPLETE") throw traceTampered(verdict.failureReason ?? verdict.status, verdict.firstBadSeq);
  const pruned = verdict.prunedSeqs[0];
  if (pruned !== undefined) throw traceTampered(`seq ${pruned}: a payload is missing from a run that has not ended`, pruned);
  const header = checked.header as TraceHeader;
  if (run.id !== header.run_id || run.tenantId !== header.tenant_id || run.agentId !== header.agent_id) {
    throw traceTampered("the run row's id, tenant or agent is not the one its trace header records");
  }
  if (run.createdAt.getTime() !== Date.parse(header.created_at)) throw traceTampered("the run row's created_at is not the time its trace header records");
  const chainHead = checked.chain.at(-1) ?? (checked.genesis as string);
  if (run.nextSeq !== stored.rows.length || run.chainHead !== chainHead) {
    throw traceTampered("the run row's cursor (next_seq, chain_head) is not where its trace ends");
  }
  const plan = JSON.parse(textOf(record.plan) as string) as Plan;
  const steps = traceStepsOf(stored, checked.steps);
  const nextStepIndex = checked.steps.at(-1)?.next_step_index ?? 0;
  if (run.nextStepIndex !== nextStepIndex) throw traceTampered("the run row's next_step_index is not the one its last attested row records");
  const started = run.startedAt?.getTime();
  const earliest = Date.parse(header.created_at) - CLOCK_SKEW_MS;
  const latest = (steps[0]?.startedAt.getTime() ?? Date.now()) + CLOCK_SKEW_MS;
  if (started === undefined || !Number.isFinite(started) || started < earliest || started > latest) {
    throw traceTampered("the run row's started_at is not between its creation and its first recorded step");
  }
  const costCents = runCostCents(plan, steps);
  if (run.costCents !== costCents) throw traceTampered(`the run row's cost_cents (${run.costCents}) is not what its trace records (${costCents})`);
  return {
    header,
    plan,
    steps,
    chainHead,
    leafHashes: checked.leaves,
    nextStepIndex,
    costCents,
    tokens: steps.reduce((sum, step) => sum + step.tokens, 0),
  };
}
