import type { Database } from "../db/database.js";
import { findAgent } from "../db/queries/agents.js";
import { AppError } from "../errors.js";
import type { Run, RunEnding, StepDecision } from "../glossary.js";
import { type VerifiedPrefix, verifiedPrefix } from "../proof/verified-prefix.js";
import { loadEffectivePolicy } from "../services/policies.js";
import { failure } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import type { KeyRing } from "../trace/key-store.js";
import { endTamperedRun, finalizeRun } from "./finalize.js";
import { loadPolicy } from "./govern-step.js";
import { cursorFor, interruptedAttempt, lastAttempt, recordAttempt } from "./record-step.js";
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
 * process took it under a new epoch: verifies its stored prefix first (a prefix that fails ends the run `tampered`,
 * unsigned), records an interrupted attempt when its trace ends in an intent, optionally one blocked row for the
 * step it was waiting at (a rejection, with who and when), then finalizes it like any other run: terminal status,
 * run-end, trace completion, signed checkpoint, records.
 */
export async function endWaitingRun(
  deps: { db: Database; keys: KeyRing },
  taken: Run,
  ending: RunEnding,
  blocked?: { decision: Omit<StepDecision, "policy_hash">; message: string },
): Promise<void> {
  let prefix: VerifiedPrefix;
  try {
    prefix = await verifiedPrefix(deps.db.pool, taken, deps.keys.attestation);
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "TRACE_TAMPERED") throw error;
    return endTamperedRun(deps.db, taken, error.message);
  }
  const run: Run = { ...taken, plan: prefix.plan, nextStepIndex: prefix.nextStepIndex };
  const cursor = cursorFor(run, prefix, deps.keys.attestation);
  const rows = [...prefix.steps];
  if (rows.at(-1)?.status === "started") {
    const interrupted = interruptedAttempt(run, rows, await reservesSpend(deps.db, run));
    if (interrupted !== undefined) rows.push((await recordAttempt(deps.db, cursor, interrupted)).step);
  }
  const step = prefix.plan.steps[run.nextStepIndex];
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
  await finalizeRun(deps.db, deps.keys.signer, cursor, ending, { run, steps: rows });
}
