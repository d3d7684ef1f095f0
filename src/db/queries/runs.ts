import type { ActorType, AttemptStarted, Plan, Run, RunStatus, StepDecision, TerminationReason } from "../../glossary.js";
import type { Queryable } from "../database.js";

export interface RunRow {
  id: string;
  tenant_id: string;
  agent_id: string;
  goal: string;
  status: RunStatus;
  attempts: number;
  error_message: string | null;
  termination_reason: TerminationReason | null;
  plan_json: Plan | null;
  origin_system_id: string;
  actor_type: ActorType;
  actor_id: string | null;
  cost_cents: string;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  duration_ms: number | null;
  epoch: number;
  next_seq: number;
  next_step_index: number;
  chain_head: string | null;
  cancel_requested_at: Date | null;
  cancel_attestation: string | null;
}

export const RUN_COLUMNS = `id, tenant_id, agent_id, goal, status, attempts, error_message, termination_reason, plan_json, origin_system_id,
  actor_type, actor_id, cost_cents, created_at, started_at, completed_at, duration_ms, epoch, next_seq,
  next_step_index, chain_head, cancel_requested_at, cancel_attestation`;

export function toRun(row: RunRow): Run {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    goal: row.goal,
    status: row.status,
    attempts: row.attempts,
    errorMessage: row.error_message,
    terminationReason: row.termination_reason,
    plan: row.plan_json,
    originSystemId: row.origin_system_id,
    actorType: row.actor_type,
    actorId: row.actor_id,
    costCents: Number(row.cost_cents),
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    durationMs: row.duration_ms,
    epoch: row.epoch,
    nextSeq: row.next_seq,
    nextStepIndex: row.next_step_index,
    chainHead: row.chain_head,
    cancelRequest: row.cancel_requested_at === null ? null : { requestedAt: row.cancel_requested_at, attestation: row.cancel_attestation },
  };
}

export interface NewRun {
  id: string;
  tenantId: string;
  agentId: string;
  goal: string;
  status: "queued" | "failed";
  errorMessage: string | null;
  terminationReason: "plan_invalid" | null;
  /** The plan's canonical bytes (the trace's plan); plan_json, its jsonb copy, is made from them. */
  plan: Buffer | null;
  originSystemId: string;
  actorType: ActorType;
  actorId: string | null;
  /** The trace's genesis hash h₀, the chain's starting point. */
  chainHead: string | null;
  createdAt: Date;
}

export async function insertRun(db: Queryable, run: NewRun): Promise<Run> {
  const { rows } = await db.query<RunRow>(
    `insert into runs (id, tenant_id, agent_id, goal, status, error_message, termination_reason, plan_json,
  origin_system_id, actor_type, actor_id, chain_head, created_at, completed_at)
values ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, convert_from($8::bytea, 'UTF8')::jsonb,
  $9::text, $10::text, $11::text, $12::text, $13::timestamptz,
  case when $5::text = 'failed' then $13::timestamptz end)
returning ${RUN_COLUMNS}`,
    [
      run.id,
      run.tenantId,
      run.agentId,
      run.goal,
      run.status,
      run.errorMessage,
      run.terminationReason,
      run.plan,
      run.originSystemId,
      run.actorType,
      run.actorId,
      run.chainHead,
      run.createdAt,
    ],
  );
  return toRun(rows[0] as RunRow);
}

/** Tenant-scoped: another tenant's run reads exactly like a run that does not exist. */
export async function findRun(db: Queryable, tenantId: string, runId: string): Promise<Run | undefined> {
  const { rows } = await db.query<RunRow>(
    `select ${RUN_COLUMNS}
from runs
where tenant_id = $1::text and id = $2::text`,
    [tenantId, runId],
  );
  return rows[0] && toRun(rows[0]);
}

/**
 * Marks the attempt the run's holder executes in process now (a skill that writes no intent row), for live progress;
 * a later attempt overwrites it. Fenced by the holder's epoch like every write it makes: false when it no longer
 * holds the run.
 */
export async function markAttemptStarted(db: Queryable, runId: string, epoch: number, started: AttemptStarted): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runs
set attempt_started = jsonb_build_object('step_index', $3::int, 'step_id', $4::text, 'skill', $5::text, 'attempt', $6::int,
  'decision', $7::jsonb, 'started_at', $8::text)
where id = $1::text and epoch = $2::int and status = 'running'`,
    [runId, epoch, started.stepIndex, started.stepId, started.skillName, started.attempt, JSON.stringify(started.decision), started.startedAt.toISOString()],
  );
  return rowCount === 1;
}

/** A run as live progress reads it: its row, and the attempt its holder marked as executing in process, if any. */
export interface RunProgress {
  run: Run;
  attemptStarted: AttemptStarted | undefined;
}

/** Tenant-scoped, as findRun. */
export async function findRunProgress(db: Queryable, tenantId: string, runId: string): Promise<RunProgress | undefined> {
  const { rows } = await db.query<RunRow & { attempt_started: unknown }>(
    `select ${RUN_COLUMNS}, attempt_started
from runs
where tenant_id = $1::text and id = $2::text`,
    [tenantId, runId],
  );
  const row = rows[0];
  return row && { run: toRun(row), attemptStarted: attemptStartedOf(row.attempt_started) };
}

/** The mark as written by markAttemptStarted; anything else (null, or a value someone else wrote) is no mark. */
function attemptStartedOf(value: unknown): AttemptStarted | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const mark = value as Record<string, unknown>;
  const { step_index: stepIndex, step_id: stepId, skill, attempt, decision, started_at: startedAt } = mark;
  if (!Number.isSafeInteger(stepIndex) || !Number.isSafeInteger(attempt) || typeof stepId !== "string" || typeof skill !== "string") return undefined;
  if (typeof startedAt !== "string" || Number.isNaN(Date.parse(startedAt))) return undefined;
  return {
    stepIndex: stepIndex as number,
    stepId,
    skillName: skill,
    attempt: attempt as number,
    decision: typeof decision === "object" && decision !== null ? (decision as StepDecision) : null,
    startedAt: new Date(startedAt),
  };
}

export interface RunFilter {
  tenantId: string;
  status: RunStatus | undefined;
  limit: number;
}

export async function listRuns(db: Queryable, filter: RunFilter): Promise<Run[]> {
  const { rows } = await db.query<RunRow>(
    `select ${RUN_COLUMNS}
from runs
where tenant_id = $1::text and ($2::text is null or status = $2::text)
order by created_at desc, id
limit $3::int`,
    [filter.tenantId, filter.status ?? null, filter.limit],
  );
  return rows.map(toRun);
}

/**
 * Records a request to cancel a run that has not ended: the worker executing it reads the request back with the next
 * step it records, and a worker that claims it later finds it on the claimed row; either honours it only if its
 * attestation holds. A second request keeps the first one's time and attestation. False when the run has ended.
 */
export async function requestCancel(db: Queryable, request: { tenantId: string; runId: string; requestedAt: Date; attestation: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runs
set cancel_requested_at = coalesce(cancel_requested_at, $3::timestamptz),
  cancel_attestation = case when cancel_requested_at is null then $4::text else cancel_attestation end
where tenant_id = $1::text and id = $2::text and status not in ('succeeded', 'failed', 'halted', 'cancelled')`,
    [request.tenantId, request.runId, request.requestedAt, request.attestation],
  );
  return rowCount === 1;
}

/** The state of a run's agent that decides whether a claim may take the run: active, and a free slot. */
export async function findRunAgentSlots(db: Queryable, runId: string): Promise<{ agentId: string; status: string; running: number; limit: number } | undefined> {
  const { rows } = await db.query<{ agent_id: string; status: string; running_runs: number; concurrent_runs_limit: number }>(
    `select g.id as agent_id, g.status, g.running_runs, g.concurrent_runs_limit
from runs r
join agents g on g.id = r.agent_id
where r.id = $1::text`,
    [runId],
  );
  const row = rows[0];
  return row && { agentId: row.agent_id, status: row.status, running: row.running_runs, limit: row.concurrent_runs_limit };
}

/** How many runs each status holds, across all tenants (the API's metrics). */
export async function countRunsByStatus(db: Queryable): Promise<{ status: string; n: number }[]> {
  const { rows } = await db.query<{ status: string; n: number }>(
    `select status, count(*)::int as n
from runs
group by status`,
  );
  return rows;
}

/** How many runs wait to be claimed, queued or waiting for their retry time, across all tenants. */
export async function countWaitingRuns(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n
from runs
where status in ('queued', 'retry')`,
  );
  return rows[0]?.n ?? 0;
}
