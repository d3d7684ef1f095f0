import { abortableDelay } from "../abortable.js";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { findAgent } from "../db/queries/agents.js";
import { markAttemptStarted } from "../db/queries/runs.js";
import { releaseRun } from "../db/queries/run-status.js";
import { parkRun } from "../db/queries/run-status.js";
import { AppError, toAppError } from "../errors.js";
import type { Agent, AttemptStarted, PlanStep, Run, RunEnding, StepDecision, StepError, TraceStep } from "../glossary.js";
import type { Logger } from "../logger.js";
import type { Egress } from "../egress.js";
import { verifiedPrefix } from "../proof/verified-prefix.js";
import { loadEffectivePolicy } from "../policy/effective-policy.js";
import type { Skill, SkillOutcome } from "../skills/contract.js";
import { failure, ok } from "../skills/outcome.js";
import { findSkill } from "../skills/registry.js";
import { runContexts, type SharedContext } from "../skills/run-context.js";
import type { KeyRing } from "../trace/key-store.js";
import { backoffMs } from "./backoff.js";
import { honouredCancel } from "./cancel-request.js";
import { endTamperedRun, finalizeRun } from "./finalize.js";
import { endingRecordedIn } from "./recorded-ending.js";
import { governStep, type LoadedPolicy, loadPolicy } from "./govern-step.js";
import { interpolate, UnresolvedReference } from "./interpolate.js";
import { cursorFor, interruptedAttempt, lastAttempt, recordAttempt, type TraceCursor } from "./record-step.js";
import { notAllowed, type Reserved, reserve, reservesEstimates, withApproval } from "./step-admission.js";
import { type Attempt, attemptNotRun, executeAttempt } from "./step-execution.js";

export interface RunnerDeps {
  db: Database;
  config: Config;
  log: Logger;
  /** Signs each finished run's checkpoint and attests each row; the private key never leaves this process. */
  keys: KeyRing;
  /** Called after each trace step is recorded: live progress for the CLI (the API's events read stored steps). */
  onStep?: (step: TraceStep) => void;
  /** Called after a run's signed ending commits, with its tenant: the tenant-log sequencer integrates its entry. */
  onRunEnded?: (tenantId: string) => void;
  /**
   * Aborted when the worker (or the command executing the run) is stopping: the run is handed back between steps,
   * and a step-retry backoff in progress is cut short to do so.
   */
  stop?: AbortSignal;
}

/** How a worker holds one run: aborted when the lease is lost, which stops the running skill at once. */
export interface RunHold {
  signal?: AbortSignal;
}

/** What the runner keeps while a run executes: the claimed run, its agent, the trace cursor, the results so far. */
interface RunState {
  run: Run;
  steps: PlanStep[];
  agent: Agent;
  cursor: TraceCursor;
  /** Results of settled steps by output_key (or step_id), for `{{…}}` references. */
  results: Map<string, unknown>;
  /** The policy this run is governed by, loaded when it is claimed; its hash goes into every decision. */
  policy: LoadedPolicy;
  runCostCents: number;
  runTokens: number;
  /** Every row of the trace so far, recorded earlier (on resume) or by this worker. */
  rows: TraceStep[];
  /** Aborted when this worker loses the run's lease. */
  signal: AbortSignal | undefined;
  /** What each skill's calls share in this run: configuration and the resources the skill declared. */
  shared: (skill: Skill<unknown>) => SharedContext;
}

/**
 * Executes a run its caller has claimed (status running, epoch set), from its cursor to a terminal status.
 * Each attempt is recorded in its own transaction; the end is recorded with the trace's completion. A reclaimed
 * run resumes after its last recorded step and reuses recorded results instead of executing steps again. A run
 * whose stored trace fails its integrity check is ended `tampered`, unsigned (docs/proofs.md).
 */
export async function executeClaimedRun(deps: RunnerDeps, run: Run, hold: RunHold = {}): Promise<RunEnding | Parked | Released> {
  try {
    return await executeVerifiedRun(deps, run, hold);
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "TRACE_TAMPERED") throw error;
    const ending = await endTamperedRun(deps.db.pool, run, error.message);
    deps.log.warn("run ended: its trace failed its integrity check", { run_id: run.id, reason: error.message });
    return ending;
  }
}

async function executeVerifiedRun(deps: RunnerDeps, run: Run, hold: RunHold): Promise<RunEnding | Parked | Released> {
  const state = await loadState(deps, run, hold);
  await recordInterrupted(deps, state);
  const ending = await runSteps(deps, state);
  if (ending.status === "released") {
    if (!(await releaseRun(deps.db.pool, run.id, state.cursor.epoch))) {
      throw new AppError("LEASE_LOST", `run ${run.id} is no longer held at epoch ${state.cursor.epoch}; it was not released`);
    }
    deps.log.info("run handed back to the queue", { run_id: run.id });
    return ending;
  }
  if (ending.status === "pending_approval") {
    if (!(await parkRun(deps.db.pool, run.id, state.cursor.epoch))) {
      throw new AppError("LEASE_LOST", `run ${run.id} is no longer held at epoch ${state.cursor.epoch}; it was not parked`);
    }
    deps.log.info("run parked for approval", { run_id: run.id });
    return ending;
  }
  await finalizeRun(deps.db.pool, deps.keys, state.cursor, ending, { run: state.run, steps: state.rows });
  deps.onRunEnded?.(run.tenantId);
  deps.log.info("run finished", { run_id: run.id, status: ending.status });
  return ending;
}

/** A run waiting for a person: no worker holds it until `aos approve` re-queues it. */
export interface Parked {
  status: "pending_approval";
}

/** A run a stopping worker handed back between steps, its attempt not counted: the next claim resumes it. */
export interface Released {
  status: "released";
}

/** A resumed run whose trace ends in an intent records that attempt as interrupted before going on. */
async function recordInterrupted(deps: RunnerDeps, state: RunState): Promise<void> {
  const interrupted = interruptedAttempt(state.run, state.rows, reservesEstimates(state.agent, state.policy));
  if (interrupted === undefined) return;
  const { step } = await recordAttempt(deps.db.pool, state.cursor, interrupted);
  state.rows.push(step);
  state.runCostCents += step.costCents;
  deps.onStep?.(step);
}

/** The run's state from its verified trace: the plan, results and cursor come from the checked bytes. */
async function loadState(deps: RunnerDeps, run: Run, hold: RunHold): Promise<RunState> {
  const prefix = await verifiedPrefix(deps.db.pool, run, deps.keys.attestation);
  const agent = await findAgent(deps.db.pool, run.tenantId, run.agentId);
  if (agent === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${run.agentId}`);
  const results = new Map<string, unknown>();
  for (const step of prefix.steps) {
    const planned = prefix.plan.steps[step.stepIndex];
    if (planned !== undefined && step.stepIndex < prefix.nextStepIndex) {
      results.set(resultKey(planned), step.status === "succeeded" ? step.outcomeData : failedResult(step.error));
    }
  }
  return {
    run: { ...run, plan: prefix.plan, nextStepIndex: prefix.nextStepIndex },
    steps: prefix.plan.steps,
    agent,
    cursor: cursorFor(run, prefix, deps.keys.attestation),
    results,
    policy: await loadPolicy(() => loadEffectivePolicy(deps.db.pool, run.tenantId, run.agentId)),
    runCostCents: prefix.costCents,
    runTokens: prefix.tokens,
    rows: prefix.steps,
    signal: hold.signal,
    shared: runContexts({ db: deps.db, config: deps.config }),
  };
}

/** What the agent's steps may reach: the operator's openings in the egress floor, narrowed by its allowed_hosts. */
function egressOf(config: Config, agent: Agent): Egress {
  return { openings: config.egressOpenings, narrowTo: agent.allowedHosts };
}

function resultKey(step: PlanStep): string {
  return step.output_key ?? step.step_id;
}

/** What a later step sees of a step that failed with on_error "continue". */
function failedResult(error: StepError | null): unknown {
  return { status: "failed", error: error === null ? null : { code: error.code, message: error.message } };
}

async function runSteps(deps: RunnerDeps, state: RunState): Promise<RunEnding | Parked | Released> {
  const recorded = endingRecordedIn(state.rows, state.steps, state.run.nextStepIndex);
  if (recorded !== undefined) return recorded;
  // Asked to stop while no worker held it, or while its last worker did and then lost it: it ends before any step.
  const { cancelRequest } = state.run;
  if (cancelRequest !== null && honouredCancel(state.cursor.keys, state.run.id, cancelRequest)) return CANCELLED;
  for (let index = state.run.nextStepIndex; index < state.steps.length; index++) {
    if (deps.stop?.aborted === true) return RELEASED;
    const step = state.steps[index] as PlanStep;
    const end = await runStep(deps, state, step, index);
    if (end.kind === "halt") return end.ending;
    if (end.kind === "park") return { status: "pending_approval" };
    if (end.kind === "released") return RELEASED;
    if (end.cancelRequested) return CANCELLED;
    const last = end.outcome;
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

type StepEnd =
  | { kind: "settled"; outcome: SkillOutcome; cancelRequested: boolean }
  | { kind: "halt"; ending: RunEnding }
  | { kind: "park" }
  | { kind: "released" };

const RELEASED: Released = { status: "released" };
const CANCELLED: RunEnding = { status: "cancelled", errorMessage: "Cancelled on request", terminationReason: "user_abort" };

/**
 * Runs a step's attempts, recording each. Every attempt is decided by the policy engine first; a denied one is
 * recorded as `blocked` and halts the run. Only retryable errors are retried, with backoff between attempts.
 */
async function runStep(deps: RunnerDeps, state: RunState, step: PlanStep, index: number): Promise<StepEnd> {
  const skill = findSkill(step.skill);
  if (skill === undefined) throw new AppError("SKILL_NOT_FOUND", `Skill not found: ${step.skill}`);
  const maxAttempts = step.retry_count + 1;
  let attempt = lastAttempt(state.rows, index);
  for (;;) {
    attempt += 1;
    const result = await attemptStep(deps, state, skill, step, index, attempt);
    throwIfLost(state);
    const { outcome } = result.attempt;
    const stops = result.halt !== undefined || result.park === true;
    const settles = stops || outcome.status === "ok" || !outcome.error.retryable || attempt >= maxAttempts;
    const { step: recorded, cancelRequested } = await recordAttempt(deps.db.pool, state.cursor, {
      step,
      stepIndex: index,
      attempt,
      skill,
      params: result.params,
      result: result.attempt,
      blocked: stops,
      nextStepIndex: settles && !stops ? index + 1 : index,
      agentId: state.agent.id,
      reservedCents: result.reserved?.cents ?? 0,
      ...(result.reserved === undefined ? {} : { spendDay: result.reserved.day }),
    });
    state.rows.push(recorded);
    state.runCostCents += recorded.costCents;
    state.runTokens += recorded.tokens;
    deps.onStep?.(recorded);
    if (result.halt !== undefined) return { kind: "halt", ending: result.halt };
    if (result.park === true) return { kind: "park" };
    if (settles || cancelRequested) return { kind: "settled", outcome, cancelRequested };
    if (!(await waitToRetry(deps, state, attempt))) return { kind: "released" };
  }
}

/**
 * The backoff before a step's next attempt. The run's hold cuts it short (a lost lease, a second Ctrl-C): then
 * nothing more is recorded, as when the hold aborts a step. A stop request cuts it short too: the run is handed back
 * now rather than after the backoff (false), and its next holder makes the next attempt when it resumes the run.
 */
async function waitToRetry(deps: RunnerDeps, state: RunState, attempt: number): Promise<boolean> {
  const signals = [state.signal, deps.stop].filter((signal) => signal !== undefined);
  await abortableDelay(backoffMs(attempt, deps.config.stepRetryBaseMs, deps.config.stepRetryMaxMs), AbortSignal.any(signals));
  throwIfLost(state);
  return deps.stop?.aborted !== true;
}

interface AttemptResult {
  params: unknown;
  attempt: Attempt;
  /** Set when the policy engine or the budget did not allow the attempt: how the run ends. */
  halt?: RunEnding;
  /** What was reserved from the agent's budget and the tenant's day for this attempt, when anything was. */
  reserved?: Reserved;
  /** The step needs a person's approval first: record it blocked and park the run. */
  park?: boolean;
}

async function attemptStep(
  deps: RunnerDeps,
  state: RunState,
  skill: Skill<unknown>,
  step: PlanStep,
  index: number,
  attempt: number,
): Promise<AttemptResult> {
  let params: unknown;
  try {
    params = interpolate(step.params, state.results);
  } catch (error) {
    if (!(error instanceof UnresolvedReference)) throw error;
    return { params: step.params, attempt: attemptNotRun(failure("VALIDATION_ERROR", error.message, { retryable: false }), null) };
  }
  const governed = await governStep(
    {
      db: deps.db,
      policy: state.policy,
      agentId: state.agent.id,
      egress: egressOf(deps.config, state.agent),
      settings: deps.config,
      runCostCents: state.runCostCents,
      runTokens: state.runTokens,
    },
    skill,
    params,
  );
  const decided = governed.kind === "require_approval" ? await withApproval(deps.db, deps.keys.attestation, { id: state.run.id, rows: state.rows }, index, governed) : governed;
  if (decided.kind === "require_approval") {
    return { params, park: true, attempt: attemptNotRun(failure("APPROVAL_REQUIRED", decided.decision.reason), decided.decision) };
  }
  if (decided.kind !== "allow") return { params, ...notAllowed(decided) };
  const payer = { agent: state.agent, tenantId: state.run.tenantId, policy: state.policy };
  const reserved = await reserve(deps.db, payer, decided.estimatedCostCents, decided.decision.policy_hash);
  if ("halt" in reserved) return { params, ...reserved };
  throwIfLost(state);
  // Every call that leaves the process, reads included, is preceded by its intent: a call that may have happened is
  // always in the trace, as `interrupted` if its worker died before recording it (at-least-once, docs/workers.md).
  if (decided.sideEffects !== "none") await recordIntent(deps, state, { skill, step, index, attempt, params, decision: decided.decision });
  else await markStarted(deps, state, { stepIndex: index, stepId: step.step_id, skillName: skill.name, attempt, decision: decided.decision, startedAt: new Date() });
  // The step timeout, or the run's hold ending (a lost lease, a stopping worker), whichever comes first.
  const timeout = AbortSignal.timeout(deps.config.stepTimeoutMs);
  const attemptResult = await executeAttempt(
    skill,
    params,
    {
      ...state.shared(skill),
      signal: state.signal === undefined ? timeout : AbortSignal.any([timeout, state.signal]),
      tenantId: state.run.tenantId,
      agentId: state.run.agentId,
      runId: state.run.id,
      stepIndex: index,
      attempt,
      idempotencyKey: `${state.run.id}:${index}`,
      log: deps.log.child({ run_id: state.run.id, step_index: index, attempt }),
      egress: egressOf(deps.config, state.agent),
    },
    decided.decision,
  );
  return { params, attempt: attemptResult, ...(reserved.cents === 0 ? {} : { reserved }) };
}

/**
 * Stops a run whose hold was aborted because its lease is presumed lost (it could not be renewed in time): what the
 * aborted attempt returned is the abort, not the step's outcome, and nobody may have taken the run yet, so the epoch
 * fence would still let a write through. Nothing more is recorded; the next holder resumes at this step.
 */
function throwIfLost(state: RunState): void {
  if (state.signal?.aborted === true) throw toAppError(state.signal.reason);
}

/**
 * Tells live progress that an attempt of a skill that stays in the process (so writes no intent row) is executing:
 * the run's mark, not a trace row, since nothing outside could have happened if its worker dies (docs/api.md, Events).
 */
async function markStarted(deps: RunnerDeps, state: RunState, started: AttemptStarted): Promise<void> {
  if (!(await markAttemptStarted(deps.db.pool, state.run.id, state.cursor.epoch, started))) {
    throw new AppError("LEASE_LOST", `run ${state.run.id} is no longer held at epoch ${state.cursor.epoch}; its step was not started`);
  }
}

/**
 * Records the intent row of a call that leaves the process (a read or a write) before it calls out, so that a worker
 * dying between the call and its record leaves a trace that says so (the resumed run records the attempt interrupted).
 */
async function recordIntent(
  deps: RunnerDeps,
  state: RunState,
  intent: { skill: Skill<unknown>; step: PlanStep; index: number; attempt: number; params: unknown; decision: StepDecision },
): Promise<void> {
  const { step } = await recordAttempt(deps.db.pool, state.cursor, {
    step: intent.step,
    stepIndex: intent.index,
    attempt: intent.attempt,
    skill: intent.skill,
    params: intent.params,
    result: attemptNotRun(ok(null), intent.decision),
    marker: "started",
    nextStepIndex: intent.index,
    agentId: state.agent.id,
    reservedCents: 0,
  });
  state.rows.push(step);
  deps.onStep?.(step);
}
