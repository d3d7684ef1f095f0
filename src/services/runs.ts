import { createHash, randomUUID } from "node:crypto";
import type { Config } from "../config.js";
import { type Database, type Queryable, withTransaction } from "../db/database.js";
import { notifyRunQueued } from "../db/queries/run-queue.js";
import { findAgent } from "../db/queries/agents.js";
import { findEvidence, findLlmRecord, insertRunRecords, listIncidents } from "../db/queries/run-records.js";
import { ensureTenant } from "../db/queries/tenants.js";
import { chargePlanning, utcDay } from "../db/queries/budgets.js";
import { claimRunRequest, findRunRequest, RUN_REQUEST_TTL_HOURS, type RunRequest } from "../db/queries/run-requests.js";
import { findRun, insertRun, listRuns, type NewRun } from "../db/queries/runs.js";
import { insertTrace } from "../db/queries/traces.js";
import { AppError } from "../errors.js";
import { checkLength, MAX_GOAL_CHARS } from "../input-text.js";
import { proveStoredTrace } from "../proof/prove-stored.js";
import { loadTraceOf } from "../proof/stored-trace.js";
import {
  type ActorType,
  type Plan,
  type PlannerUsage,
  RUN_STATUSES,
  type Run,
  type RunStatus,
  traceIdFor,
} from "../glossary.js";
import { planWithModel } from "../planner/model-planning.js";
import { formatIssues, type InputIssue } from "../input-issues.js";
import { parsePlanShape } from "../planner/plan-shape.js";
import { stubPlan } from "../planner/stub-planner.js";
import { validatePlan } from "../planner/validate-plan.js";
import type { LlmCallError } from "../skills/llm/provider.js";
import { buildRunRecords } from "../records/run-records.js";
import { attest } from "../trace/attestation.js";
import { canonicalJson } from "../trace/canonical-json.js";
import { genesisHash } from "../trace/chain.js";
import type { KeyRing } from "../trace/key-store.js";
import { encodeRecord, planBytes, TRACE_FORMAT, type TraceHeader } from "../trace/trace-header.js";
import type { RunDetail } from "../views/run.js";
import { requireAgentByRef, requireTenant, resolveAgent } from "./agents.js";
import { proofKeys } from "./proof-keys.js";

export interface CreateRunInput {
  tenantId: string;
  agentId?: string | undefined;
  goal: string;
  originSystemId?: string | undefined;
  actorType?: ActorType | undefined;
  actorId?: string | undefined;
  /** An explicit plan (parsed JSON of a plan file); without one, the planner plans the goal. */
  plan?: unknown;
  /** The API's Idempotency-Key: the same key within 24 hours returns the run it created (docs/tenancy.md). */
  idempotencyKey?: string | undefined;
  /** SHA-256 hex of the canonical request, to refuse the key for a different request; defaults to a hash of this input. */
  requestHash?: string | undefined;
}

export const DEFAULT_ORIGIN_SYSTEM_ID = "cus-cli";

/** What creating a run needs: the database, configuration, and the keys its trace header is attested with. */
export interface RunServiceDeps {
  db: Database;
  config: Config;
  keys: KeyRing;
}

/** A plan, or why there is none; planning with a model also says what its calls cost. */
type Planned =
  | { ok: true; plan: Plan }
  | { ok: false; issues: InputIssue[]; usage?: PlannerUsage | undefined; callError?: LlmCallError | undefined };

/**
 * Creates a run: validates tenant and agent, plans, validates the plan, and inserts the run (queued) with its
 * plan and trace header in ONE transaction, so no run is ever claimable without a plan. The header and plan are
 * stored as the canonical bytes the trace starts from, attested with this process's key (docs/proofs.md), so a
 * worker executes only what an AOS process created: a goal or plan changed in the database is refused. An explicit plan
 * that fails validation is refused (PLAN_INVALID) before anything is written; a planner's plan that fails validation
 * is recorded as a failed run with `plan_generation_failed: …`, then reported as PLAN_INVALID with its run_id; a
 * planner's model call that fails is recorded the same way and reported with the provider's failure code. What a
 * model's planning cost is charged in the same transaction (docs/planner.md). With an Idempotency-Key, a key that
 * already holds a run returns that run instead (checked before planning, and again where the key is taken).
 */
export async function createRun(deps: RunServiceDeps, input: CreateRunInput): Promise<Run> {
  const { db, config } = deps;
  const tenantId = requireTenant(input.tenantId);
  const goal = input.goal.trim();
  if (goal === "") throw new AppError("VALIDATION_ERROR", "a run needs a non-empty goal", { details: { field: "goal" } });
  checkLength(goal, MAX_GOAL_CHARS, "goal");
  const originSystemId = (input.originSystemId ?? DEFAULT_ORIGIN_SYSTEM_ID).trim();
  // Counted in code points, as the API's spec and the varchar(100) column count it.
  if (originSystemId === "" || [...originSystemId].length > 100) {
    throw new AppError("VALIDATION_ERROR", "origin_system_id must be 1 to 100 characters", { details: { field: "origin_system_id" } });
  }
  const actorType = input.actorType ?? "SYSTEM";
  if (actorType === "HUMAN" && !input.actorId) throw new AppError("VALIDATION_ERROR", "a HUMAN actor needs an actor_id", { details: { field: "actor_id" } });
  const request = idempotentRequest(input, { tenantId, goal, originSystemId, actorType });
  const earlier = request && (await findRunRequest(db.pool, tenantId, request.idempotencyKey));
  if (request !== undefined && earlier !== undefined) return replayRun(db.pool, tenantId, request, earlier);
  // A name is resolved to the agent's id once, here: planning and the transaction below then name the same agent.
  const agentId = input.agentId === undefined ? undefined : (await requireAgentByRef(db.pool, tenantId, input.agentId)).id;
  const runId = randomUUID();
  const planned = await planFor(db, config, { ...input, agentId, tenantId, goal }, runId);
  if (!planned.ok && input.plan !== undefined) throw explicitPlanError(planned.issues);
  const createdAt = new Date();

  const run = await withTransaction(db, async (client) => {
    await ensureTenant(client, tenantId);
    const replayed = request && (await takeKeyOrReplay(client, tenantId, request, runId, planned.ok));
    if (replayed !== undefined) return replayed;
    const agent = await resolveAgent(client, tenantId, agentId);
    const base = {
      id: runId,
      tenantId,
      agentId: agent.id,
      goal,
      originSystemId,
      actorType,
      actorId: actorType === "HUMAN" ? (input.actorId ?? null) : null,
      createdAt,
    };
    if (!planned.ok) return insertFailedRun(client, base, planned);
    const trace = traceStart(deps.keys, { ...base, agentId: agent.id }, planned.plan);
    const inserted = await insertRun(client, {
      ...base,
      status: "queued",
      errorMessage: null,
      terminationReason: null,
      plan: trace.plan,
      chainHead: trace.genesis,
    });
    const charged = await chargePlanner(client, inserted, planned.plan.planner_usage);
    await insertTrace(client, {
      traceId: trace.header.trace_id,
      runId,
      tenantId,
      agentId: agent.id,
      planHash: trace.header.plan_sha256,
      createdAt,
      header: trace.headerBytes,
      plan: trace.plan,
      attestation: trace.attestation,
    });
    await notifyRunQueued(client, runId);
    return charged;
  });

  // A run with another id is the one an earlier request with the same key created: its outcome, not our planning's.
  if (!planned.ok && run.id === runId) throw planningError(planned, run);
  return run;
}

/**
 * The start of a run's trace (docs/proofs.md, "Trace header"): the header's and the plan's canonical bytes, the
 * genesis hash h₀ the chain starts from, and the header's attestation.
 */
function traceStart(
  keys: KeyRing,
  run: Pick<NewRun, "id" | "tenantId" | "agentId" | "originSystemId" | "actorType" | "actorId" | "goal" | "createdAt">,
  plan: Plan,
): { header: TraceHeader; headerBytes: Buffer; plan: Buffer; genesis: string; attestation: string } {
  const planned = planBytes(plan);
  const header: TraceHeader = {
    format: TRACE_FORMAT,
    trace_id: traceIdFor(run.id),
    run_id: run.id,
    tenant_id: run.tenantId,
    agent_id: run.agentId,
    origin_system_id: run.originSystemId,
    actor_type: run.actorType,
    actor_id: run.actorId,
    parent_run_id: null,
    goal: run.goal,
    plan_sha256: planned.sha256,
    created_at: run.createdAt.toISOString(),
  };
  const headerBytes = encodeRecord(header);
  const genesis = genesisHash(headerBytes);
  return { header, headerBytes, plan: planned.bytes, genesis, attestation: attest(keys.attestation.current, run.id, "genesis", genesis) };
}

/** An Idempotency-Key with the hash of the request it names. */
interface IdempotentRequest {
  idempotencyKey: string;
  requestHash: string;
}

function idempotentRequest(
  input: CreateRunInput,
  normalized: { tenantId: string; goal: string; originSystemId: string; actorType: ActorType },
): IdempotentRequest | undefined {
  const key = input.idempotencyKey;
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > 255) throw new AppError("VALIDATION_ERROR", "an Idempotency-Key must be 1 to 255 characters");
  if (input.requestHash !== undefined && !/^[0-9a-f]{64}$/.test(input.requestHash)) {
    throw new AppError("VALIDATION_ERROR", "a request hash must be a SHA-256 digest in lower-case hex");
  }
  const asked = {
    tenant_id: normalized.tenantId,
    agent_id: input.agentId ?? null,
    goal: normalized.goal,
    origin_system_id: normalized.originSystemId,
    actor_type: normalized.actorType,
    actor_id: input.actorId ?? null,
    plan: input.plan ?? null,
  };
  return { idempotencyKey: key, requestHash: input.requestHash ?? createHash("sha256").update(canonicalJson(asked)).digest("hex") };
}

/**
 * Inside the creating transaction: the run an earlier request with this key created, if the key is held; else
 * undefined, and a planned run now holds the key. A run whose planning failed does not take it, so that retrying
 * the request (after a rate-limited model, say) plans again rather than replaying the failure; such a run never
 * executes, so nothing is done twice.
 */
async function takeKeyOrReplay(client: Queryable, tenantId: string, request: IdempotentRequest, runId: string, planned: boolean): Promise<Run | undefined> {
  const earlier = planned
    ? await claimRunRequest(client, { tenantId, idempotencyKey: request.idempotencyKey, runId, requestHash: request.requestHash })
    : await findRunRequest(client, tenantId, request.idempotencyKey);
  return earlier && replayRun(client, tenantId, request, earlier);
}

/** The run a key already holds, for a repeat of the request that created it; a different request is refused. */
async function replayRun(db: Queryable, tenantId: string, request: IdempotentRequest, earlier: RunRequest): Promise<Run> {
  if (earlier.requestHash !== request.requestHash) {
    throw new AppError(
      "IDEMPOTENCY_KEY_MISMATCH",
      `the Idempotency-Key "${request.idempotencyKey}" was used at ${earlier.createdAt.toISOString()} for a different request (run ${earlier.runId}); a key names one request for ${RUN_REQUEST_TTL_HOURS} hours`,
      { details: { idempotency_key: request.idempotencyKey, run_id: earlier.runId } },
    );
  }
  const run = await findRun(db, tenantId, earlier.runId);
  if (run === undefined) throw new AppError("INTERNAL", `run ${earlier.runId}, held by Idempotency-Key "${request.idempotencyKey}", is missing`);
  return run;
}

/**
 * An explicit plan that does not validate is the caller's typo, not a run: refused before anything is written (no run,
 * incident or evidence), with every issue, and no run_id in its details, which is how callers tell it from a planner's
 * plan that failed (recorded, with a run_id).
 */
function explicitPlanError(issues: InputIssue[]): AppError {
  const count = `${issues.length} issue${issues.length === 1 ? "" : "s"}`;
  return new AppError("PLAN_INVALID", `the plan does not validate (${count}; nothing was created): ${formatIssues(issues)}`, { details: { issues } });
}

/** What creating a run whose planning failed reports: PLAN_INVALID, or the failed model call's own code. */
function planningError(planned: Extract<Planned, { ok: false }>, run: Run): AppError {
  const message = run.errorMessage ?? "plan_generation_failed";
  const details = { run_id: run.id, issues: planned.issues };
  if (planned.callError === undefined) return new AppError("PLAN_INVALID", message, { details });
  return new AppError(planned.callError.code, message, { retryable: planned.callError.retryable, details });
}

/** A run whose planning failed: recorded failed, with what its planner's calls cost charged and in its LLM record. */
async function insertFailedRun(
  client: Queryable,
  base: Omit<NewRun, "status" | "errorMessage" | "terminationReason" | "plan" | "chainHead">,
  planned: Extract<Planned, { ok: false }>,
): Promise<Run> {
  const errorMessage =
    planned.callError === undefined
      ? `plan_generation_failed: ${formatIssues(planned.issues)}`
      : `plan_generation_failed: the model call failed: ${planned.callError.code}: ${planned.callError.message}`;
  const inserted = await insertRun(client, { ...base, status: "failed", errorMessage, terminationReason: "plan_invalid", plan: null, chainHead: null });
  const failed = await chargePlanner(client, inserted, planned.usage);
  const ending = { status: "failed", errorMessage, terminationReason: "plan_invalid" } as const;
  const notExecutedReason =
    planned.callError === undefined ? "the plan failed validation; the run never executed" : "the planner's model call failed; the run never executed";
  const records = buildRunRecords({ run: failed, ending, steps: [], rootHash: null, notExecutedReason, plannerUsage: planned.usage });
  await insertRunRecords(client, failed.id, { status: "failed", errorMessage, completedAt: base.createdAt }, records);
  return failed;
}

/** Charges the planner's cost to the agent, the tenant's day and the run (nothing to charge for a free plan). */
async function chargePlanner(client: Queryable, run: Run, usage: PlannerUsage | undefined): Promise<Run> {
  if (usage === undefined || usage.cost_cents === 0) return run;
  const costCents = await chargePlanning(client, {
    runId: run.id,
    agentId: run.agentId,
    tenantId: run.tenantId,
    day: utcDay(run.createdAt),
    cents: usage.cost_cents,
  });
  return { ...run, costCents };
}

/**
 * An explicit plan is used as given; without one, the configured planner plans the goal: the stub, or a model
 * (which may refuse before calling it, writing nothing). Whichever made it, a plan is validated the same way.
 */
async function planFor(db: Database, config: Config, input: CreateRunInput & { goal: string }, runId: string): Promise<Planned> {
  const planId = `plan-${runId.replaceAll("-", "").slice(0, 12)}`;
  if (input.plan === undefined && config.plannerBackend !== "stub") {
    return planWithModel(db, config, { tenantId: input.tenantId, agentId: input.agentId, goal: input.goal, planId });
  }
  const shaped = input.plan === undefined ? { ok: true as const, plan: stubPlan(input.goal, planId) } : parsePlanShape(input.plan, planId);
  if (!shaped.ok) return shaped;
  const issues = validatePlan(shaped.plan, { maxPlanSteps: config.maxPlanSteps });
  return issues.length === 0 ? shaped : { ok: false, issues };
}

export async function getRun(db: Database, tenantId: string, runId: string): Promise<Run> {
  const run = await findRun(db.pool, requireTenant(tenantId), runId);
  if (run === undefined) throw new AppError("RUN_NOT_FOUND", `Run not found: ${runId}`, { details: { run_id: runId } });
  return run;
}

/**
 * A run with its trace, its steps and the verdict on them; another tenant's run is "Run not found". Readers show a
 * run's facts and steps from its hashed bytes, beside the verdict (docs/proofs.md, "In the database").
 */
export async function getRunDetail(db: Database, config: Config, tenantId: string, runId: string): Promise<RunDetail> {
  const run = await getRun(db, tenantId, runId);
  const stored = await loadTraceOf(db.pool, run);
  const proof = stored && (await proveStoredTrace(db.pool, stored, proofKeys(config)));
  const agent = await findAgent(db.pool, run.tenantId, run.agentId);
  const [incident] = await listIncidents(db.pool, run.tenantId, 1, run.id);
  const evidence = await findEvidence(db.pool, run.tenantId, run.id);
  const llm = await findLlmRecord(db.pool, run.tenantId, run.id);
  return { run, trace: stored?.trace, steps: proof?.steps ?? [], proof, agent, incident, evidence, llm };
}

function parseRunStatus(status: string | undefined): RunStatus | undefined {
  if (status === undefined) return undefined;
  if (!(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new AppError("VALIDATION_ERROR", `unknown status "${status}"; use one of ${RUN_STATUSES.join(", ")}`);
  }
  return status as RunStatus;
}

export function listTenantRuns(db: Database, tenantId: string, status?: string, limit = 50): Promise<Run[]> {
  return listRuns(db.pool, { tenantId: requireTenant(tenantId), status: parseRunStatus(status), limit });
}
