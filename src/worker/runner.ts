import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { findAgent } from "../db/queries/agents.js";
import { listTraceSteps } from "../db/queries/trace-steps.js";
import { AppError } from "../errors.js";
import { type Agent, type PlanStep, type Run, type StepError, type TraceStep, traceIdFor } from "../glossary.js";
import type { Logger } from "../logger.js";
import type { Skill } from "../skills/contract.js";
import type { NoteSigner } from "../trace/signed-note.js";
import { failure } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import { abortableDelay, backoffMs } from "./backoff.js";
import { finalizeRun, type RunEnding } from "./finalize.js";
import { interpolate, UnresolvedReference } from "./interpolate.js";
import { recordAttempt, type TraceCursor } from "./record-step.js";
import { type Attempt, executeAttempt } from "./step-execution.js";

export interface RunnerDeps {
  db: Database;
  config: Config;
  log: Logger;
  /** Signs each finished run's checkpoint; the private key never leaves this process. */
  signer: NoteSigner;
  /** Called after each trace step is recorded: live progress for the CLI (and later, events). */
  onStep?: (step: TraceStep) => void;
}

/** What the runner keeps while a run executes: the claimed run, its agent, the trace cursor, the results so far. */
interface RunState {
  run: Run;
  steps: PlanStep[];
  agent: Agent;
  cursor: TraceCursor;
  /** Results of settled steps by output_key (or step_id), for `{{…}}` references. */
  results: Map<string, unknown>;
  /** Attempts already recorded per step index, so a resumed step continues its attempt count. */
  attemptsByStep: Map<number, number>;
}

/**
 * Executes a run its caller has claimed (status running, epoch set), from its cursor to a terminal status.
 * Each attempt is recorded in its own transaction; the end is recorded with the trace's completion. A reclaimed
 * run resumes after its last recorded step and reuses recorded results instead of executing steps again.
 */
export async function executeClaimedRun(deps: RunnerDeps, run: Run): Promise<RunEnding> {
  const state = await loadState(deps, run);
  const ending = await runSteps(deps, state);
  await finalizeRun(deps.db, deps.signer, state.cursor, ending);
  deps.log.info("run finished", { run_id: run.id, status: ending.status });
  return ending;
}

async function loadState(deps: RunnerDeps, run: Run): Promise<RunState> {
  if (run.plan === null || run.chainHead === null) {
    throw new AppError("INTERNAL", `run ${run.id} was claimed without a plan or trace genesis`);
  }
  const agent = await findAgent(deps.db.pool, run.tenantId, run.agentId);
  if (agent === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${run.agentId}`);
  const traceId = traceIdFor(run.id);
  const recorded = run.nextSeq > 0 ? await listTraceSteps(deps.db.pool, traceId) : [];
  const results = new Map<string, unknown>();
  const attemptsByStep = new Map<number, number>();
  for (const step of recorded) {
    attemptsByStep.set(step.stepIndex, Math.max(attemptsByStep.get(step.stepIndex) ?? 0, step.attempt));
    const planned = run.plan.steps[step.stepIndex];
    if (planned !== undefined && step.stepIndex < run.nextStepIndex) {
      results.set(resultKey(planned), step.status === "succeeded" ? step.outcomeData : failedResult(step.error));
    }
  }
  return {
    run,
    steps: run.plan.steps,
    agent,
    cursor: {
      runId: run.id,
      tenantId: run.tenantId,
      traceId,
      epoch: run.epoch,
      seq: run.nextSeq,
      chainHead: run.chainHead,
      leafHashes: recorded.map((step) => step.leafHash),
    },
    results,
    attemptsByStep,
  };
}

function resultKey(step: PlanStep): string {
  return step.output_key ?? step.step_id;
}

/** What a later step sees of a step that failed with on_error "continue". */
function failedResult(error: StepError | null): unknown {
  return { status: "failed", error: error === null ? null : { code: error.code, message: error.message } };
}

async function runSteps(deps: RunnerDeps, state: RunState): Promise<RunEnding> {
  for (let index = state.run.nextStepIndex; index < state.steps.length; index++) {
    const step = state.steps[index] as PlanStep;
    const last = await runStep(deps, state, step, index);
    if (last.status === "ok") {
      state.results.set(resultKey(step), last.result);
      continue;
    }
    if (step.on_error === "continue") {
      state.results.set(resultKey(step), failedResult(last.error));
      continue;
    }
    return {
      status: "failed",
      errorMessage: `step_failed:${step.step_id}:${last.error.message}`,
      terminationReason: "step_failed",
    };
  }
  return { status: "succeeded", errorMessage: null, terminationReason: "completed" };
}

/** Runs a step's attempts, recording each; retries only retryable errors, with backoff between attempts. */
async function runStep(deps: RunnerDeps, state: RunState, step: PlanStep, index: number) {
  const skill = findSkill(step.skill);
  if (skill === undefined) throw new AppError("SKILL_NOT_FOUND", `Skill not found: ${step.skill}`);
  const maxAttempts = step.retry_count + 1;
  let attempt = state.attemptsByStep.get(index) ?? 0;
  for (;;) {
    attempt += 1;
    const result = await attemptStep(deps, state, skill, step, index, attempt);
    const { outcome } = result.attempt;
    const settles = outcome.status === "ok" || !outcome.error.retryable || attempt >= maxAttempts;
    const recorded = await recordAttempt(deps.db, state.cursor, {
      step,
      stepIndex: index,
      attempt,
      skill,
      params: result.params,
      decision: null,
      result: result.attempt,
      nextStepIndex: settles ? index + 1 : index,
    });
    deps.onStep?.(recorded);
    if (settles) return outcome;
    await abortableDelay(backoffMs(attempt, deps.config.stepRetryBaseMs, deps.config.stepRetryMaxMs));
  }
}

async function attemptStep(
  deps: RunnerDeps,
  state: RunState,
  skill: Skill<unknown>,
  step: PlanStep,
  index: number,
  attempt: number,
): Promise<{ params: unknown; attempt: Attempt }> {
  let params: unknown;
  try {
    params = interpolate(step.params, state.results);
  } catch (error) {
    if (!(error instanceof UnresolvedReference)) throw error;
    const now = new Date();
    const outcome = failure("VALIDATION_ERROR", error.message, { retryable: false });
    return { params: step.params, attempt: { outcome, startedAt: now, completedAt: now, durationMs: 0 } };
  }
  const controller = new AbortController();
  const attemptResult = await executeAttempt(skill, params, {
    signal: controller.signal,
    tenantId: state.run.tenantId,
    agentId: state.run.agentId,
    runId: state.run.id,
    stepIndex: index,
    attempt,
    idempotencyKey: `${state.run.id}:${index}`,
    log: deps.log.child({ run_id: state.run.id, step_index: index, attempt }),
    allowedHosts: state.agent.allowedHosts,
    limits: deps.config,
  });
  return { params, attempt: attemptResult };
}
