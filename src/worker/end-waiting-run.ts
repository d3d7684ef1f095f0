import type { Queryable } from "../db/database.js";
import { findAgent } from "../db/queries/agents.js";
import { insertApproval } from "../db/queries/approvals.js";
import { AppError } from "../errors.js";
import type { Plan, PlanStep, Run, RunEnding, TraceStep } from "../glossary.js";
import { traceTampered, type VerifiedPrefix, verifiedPrefix } from "../proof/verified-prefix.js";
import { loadEffectivePolicy } from "../policy/effective-policy.js";
import { failure } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import type { KeyRing } from "../trace/key-store.js";
import { endTamperedRun, finalizeRun } from "./finalize.js";
import { loadPolicy } from "./govern-step.js";
import { cursorFor, interruptedAttempt, lastAttempt, recordAttempt, type TraceCursor } from "./record-step.js";
import { attestApproval, parkedRow, reservesEstimates } from "./step-admission.js";
import { attemptNotRun } from "./step-execution.js";

/** Whether the run's steps reserve their estimates, read as the runner reads it. */
async function reservesSpend(db: Queryable, run: Run): Promise<boolean> {
  const agent = await findAgent(db, run.tenantId, run.agentId);
  const policy = await loadPolicy(() => loadEffectivePolicy(db, run.tenantId, run.agentId));
  return agent !== undefined && reservesEstimates(agent, policy);
}

/** A person's rejection of the step a parked run waits at. */
export interface Rejection {
  decidedBy: string;
  decidedAt: Date;
}

/**
 * Ends a run no worker is executing (queued, retry, parked for approval, or abandoned by its workers) after this
 * process took it under a new epoch: verifies its stored prefix first (a prefix that fails ends the run `tampered`,
 * unsigned), records an interrupted attempt when its trace ends in an intent, and for a rejection one blocked row
 * for the step the verified trace says the run is parked at (who and when), then finalizes it like any other run:
 * terminal status, run-end, trace completion, signed checkpoint, records. Returns how the run ended: `ending`, or
 * failed `tampered`. Every read and write goes through `db`: the caller's transaction makes the whole of it one.
 */
export async function endWaitingRun(db: Queryable, keys: KeyRing, taken: Run, ending: RunEnding, rejection?: Rejection): Promise<RunEnding> {
  let prefix: VerifiedPrefix;
  try {
    prefix = await verifiedPrefix(db, taken, keys.attestation);
    if (rejection !== undefined) parkedAtEnd(prefix, taken.id);
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "TRACE_TAMPERED") throw error;
    return endTamperedRun(db, taken, error.message);
  }
  const run: Run = { ...taken, plan: prefix.plan, nextStepIndex: prefix.nextStepIndex };
  const cursor = cursorFor(run, prefix, keys.attestation);
  const rows = [...prefix.steps];
  if (rows.at(-1)?.status === "started") {
    const interrupted = interruptedAttempt(run, rows, await reservesSpend(db, run));
    if (interrupted !== undefined) rows.push((await recordAttempt(db, cursor, interrupted)).step);
  }
  if (rejection !== undefined) rows.push(await recordRejection(db, keys, run, cursor, rows, rejection));
  await finalizeRun(db, keys, cursor, ending, { run, steps: rows });
  return ending;
}

/** The row a parked run's verified trace ends with: it waits for approval there. Anything else is tampering. */
export function parkedAtEnd(prefix: VerifiedPrefix, runId: string): TraceStep {
  const parked = parkedRow(prefix.steps, prefix.nextStepIndex);
  if (parked === undefined || prefix.steps.at(-1) !== parked) {
    throw traceTampered(`run ${runId} is pending_approval, but its trace does not end waiting for approval`);
  }
  return parked;
}

/**
 * Records a rejection: the decision row (attested for the row the run parked at, so the step is not decided twice)
 * and the blocked trace row naming who rejected it and when, under the policy version the run was parked by.
 */
async function recordRejection(db: Queryable, keys: KeyRing, run: Run, cursor: TraceCursor, rows: TraceStep[], rejection: Rejection): Promise<TraceStep> {
  const parked = rows.at(-1) as TraceStep;
  const decision = { stepIndex: parked.stepIndex, decision: "rejected" as const, ...rejection };
  const attestation = attestApproval(keys.attestation.current, run.id, decision, parked.chainHash);
  await insertApproval(db, { ...decision, runId: run.id, tenantId: run.tenantId, attestation });
  const step = (run.plan as Plan).steps[parked.stepIndex] as PlanStep;
  const skill = findSkill(step.skill);
  if (skill === undefined) throw new AppError("SKILL_NOT_FOUND", `Skill not found: ${step.skill}`);
  const reason = `rejected by ${rejection.decidedBy} at ${rejection.decidedAt.toISOString()}`;
  const { step: row } = await recordAttempt(db, cursor, {
    step,
    stepIndex: parked.stepIndex,
    attempt: lastAttempt(rows, parked.stepIndex) + 1,
    skill,
    params: step.params,
    result: attemptNotRun(failure("POLICY_VIOLATION", rejectionMessage(reason)), {
      action: "deny",
      reason,
      policy_id: "require_approval",
      policy_hash: parked.decision?.policy_hash ?? "unavailable",
    }),
    blocked: true,
    nextStepIndex: parked.stepIndex,
    agentId: run.agentId,
    reservedCents: 0,
  });
  return row;
}

/** What a rejected run's blocked row and error say. */
export function rejectionMessage(reason: string): string {
  return `Policy violation: require_approval: ${reason}`;
}
