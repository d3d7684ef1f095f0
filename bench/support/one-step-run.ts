import { performance } from "node:perf_hooks";
import { claimRunById } from "../../src/db/queries/run-status.js";
import { insertStepAndAdvanceRun } from "../../src/db/queries/trace-steps.js";
import { type Run, type StepDecision, type TraceStep } from "../../src/glossary.js";
import { verifiedPrefix } from "../../src/proof/verified-prefix.js";
import { createRun } from "../../src/services/runs.js";
import { ok } from "../../src/skills/outcome.js";
import { findSkill } from "../../src/skills/registry.js";
import { attest } from "../../src/trace/attestation.js";
import { type AttemptToRecord, buildTraceStep, cursorFor, type TraceCursor } from "../../src/worker/record-step.js";
import type { RunnerDeps } from "../../src/worker/runner.js";
import { ONE_STEP_PLAN } from "./one-step-plan.js";

export const WORKER_ID = "bench";
export const RUN_INPUT = { tenantId: "bench", goal: "bench", plan: ONE_STEP_PLAN };
/** The policy engine's answer the runner records with each step it lets run. */
const ALLOW: StepDecision = { action: "allow", reason: "allowed", policy_id: "default", policy_hash: "9f2c".repeat(16) };

/** A claimed run whose one step is recorded; its cursor is where finalizeRun takes over. */
export interface OneStepRun {
  cursor: TraceCursor;
  /** The claimed run and its recorded row, which finalizeRun turns into the run's records. */
  recorded: { run: Run; steps: TraceStep[] };
  /** buildTraceStep: redaction, storable JSON, canonical payload bytes and hashes, step header, leaf, chain, attestation. */
  buildMs: number;
  /** attest alone: the row's HMAC-SHA256 attestation, made again on the same cursor after the build. */
  attestMs: number;
  /** insertStepAndAdvanceRun: the one statement (one commit) that records the step. */
  writeMs: number;
}

/**
 * Creates and claims a run, checks its stored prefix and takes its cursor as the runner does (verifiedPrefix, then
 * cursorFor), then records its step exactly as recordAttempt does, with the row's build and its write timed apart.
 * The run is left running and unfinalized, at the point where the runner would finalize it.
 */
export async function recordOneStep(deps: RunnerDeps): Promise<OneStepRun> {
  const created = await createRun(deps, RUN_INPUT);
  const run = await claimRunById(deps.db.pool, created.id, WORKER_ID, deps.config.leaseMs);
  if (run === undefined) throw new Error(`bench run ${created.id} could not be claimed`);
  // As the runner does: the plan it executes comes from the checked bytes, not from the jsonb copy.
  const prefix = await verifiedPrefix(deps.db.pool, run, deps.keys.attestation);
  const cursor = cursorFor(run, prefix, deps.keys.attestation);
  const planStep = prefix.plan.steps[0];
  const skill = findSkill("json_transform");
  if (planStep === undefined || skill === undefined) throw new Error(`bench run ${created.id} has no json_transform step in its plan`);

  const now = new Date();
  const attempt: AttemptToRecord = {
    step: planStep,
    stepIndex: 0,
    attempt: 1,
    skill,
    params: planStep.params,
    result: { outcome: ok({ a: 1 }), startedAt: now, completedAt: now, durationMs: 0, decision: ALLOW },
    nextStepIndex: 1,
    agentId: run.agentId,
    reservedCents: 0,
  };

  const t0 = performance.now();
  const { step, bytes, attestation } = buildTraceStep(cursor, attempt);
  const t1 = performance.now();
  const { written } = await insertStepAndAdvanceRun(deps.db.pool, {
    runId: run.id,
    epoch: run.epoch,
    nextStepIndex: 1,
    agentId: run.agentId,
    reservedCents: 0,
    spendDay: now.toISOString().slice(0, 10),
    step,
    bytes,
    attestation,
  });
  const t2 = performance.now();
  if (!written) throw new Error(`bench run ${run.id}: the step write was fenced off`);
  const t3 = performance.now();
  const again = attest(cursor.keys.current, cursor.runId, step.seq, step.chainHash);
  const t4 = performance.now();
  if (again !== attestation) throw new Error(`bench run ${run.id}: the attestation is not the one buildTraceStep made`);

  cursor.seq += 1;
  cursor.chainHead = step.chainHash;
  cursor.leafHashes.push(step.leafHash);
  const recorded = { run: { ...run, plan: prefix.plan, nextStepIndex: prefix.nextStepIndex }, steps: [step] };
  return { cursor, recorded, buildMs: t1 - t0, attestMs: t4 - t3, writeMs: t2 - t1 };
}
