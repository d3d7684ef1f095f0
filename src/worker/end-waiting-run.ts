import type { Database } from "../db/database.js";
import { findAgent } from "../db/queries/agents.js";
import { listTraceSteps } from "../db/queries/trace-steps.js";
import { loadEffectivePolicy } from "../services/policies.js";
import { AppError } from "../errors.js";
import { type Run, type StepDecision, traceIdFor } from "../glossary.js";
import { failure } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import type { NoteSigner } from "../trace/signed-note.js";
import { finalizeRun, type RunEnding } from "./finalize.js";
import { cursorFor, interruptedAttempt, lastAttempt, recordAttempt } from "./record-step.js";
import { loadPolicy } from "./govern-step.js";
import { reservesEstimates } from "./step-admission.js";
import { attemptNotRun } from "./step-execution.js";

/** Whether the run's steps reserve their estimates, read as the runner reads it. */
async function reservesSpend(db: Database, run: Run): Promise<boolean> {
  const agent = await findAgent(db.pool, run.tenantId, run.agentId);
  const policy = await loadPolicy(() => loadEffectivePolicy(db.pool, run.tenantId, run.agentId));
  return agent !== undefined && reservesEstimates(agent, policy);
}

/**
 * Ends a run no worker is executing (queued, retry, parked for approval, or abandoned by its workers) after this
 * process took it under a new epoch: records an interrupted attempt when its trace ends in an intent, optionally
 * one blocked row for the step it was waiting at (a rejection, with who and when),
 * then finalizes it like any other run: terminal status, trace completion, signed checkpoint, records.
 */
export async function endWaitingRun(
  deps: { db: Database; signer: NoteSigner },
  run: Run,
  ending: RunEnding,
  blocked?: { decision: Omit<StepDecision, "policy_hash">; message: string },
): Promise<void> {
  const rows = run.nextSeq > 0 ? await listTraceSteps(deps.db.pool, traceIdFor(run.id)) : [];
  const cursor = cursorFor(run, rows);
  if (rows.at(-1)?.status === "started") {
    const interrupted = interruptedAttempt(run, rows, await reservesSpend(deps.db, run));
    if (interrupted !== undefined) rows.push((await recordAttempt(deps.db, cursor, interrupted)).step);
  }
  const step = run.plan?.steps[run.nextStepIndex];
  if (blocked !== undefined && step !== undefined) {
    const skill = findSkill(step.skill);
    if (skill === undefined) throw new AppError("SKILL_NOT_FOUND", `Skill not found: ${step.skill}`);
    const { step: row } = await recordAttempt(deps.db, cursor, {
      step,
      stepIndex: run.nextStepIndex,
      attempt: lastAttempt(rows, run.nextStepIndex) + 1,
      skill,
      params: step.params,
      // The decision is made under the policy version the run was parked by: its last row's.
      result: attemptNotRun(failure("POLICY_VIOLATION", blocked.message), {
        ...blocked.decision,
        policy_hash: rows.at(-1)?.decision?.policy_hash ?? "unavailable",
      }),
      blocked: true,
      nextStepIndex: run.nextStepIndex,
      agentId: run.agentId,
      reservedCents: 0,
    });
    rows.push(row);
  }
  await finalizeRun(deps.db, deps.signer, cursor, ending, { run, steps: rows });
}
