import type { StepDecision, StepError, StepStatus, TraceStep } from "../../glossary.js";
import type { Queryable } from "../database.js";

interface TraceStepRow {
  trace_id: string;
  seq: number;
  step_index: number;
  step_id: string;
  attempt: number;
  skill_name: string;
  skill_version: string;
  /** NULL only once pruned (a check constraint ties it to pruned_at). */
  params: Record<string, unknown> | null;
  status: StepStatus;
  outcome_code: string;
  outcome_data: unknown;
  error: StepError | null;
  cost_cents: string;
  tokens: number;
  duration_ms: number;
  started_at: Date;
  completed_at: Date;
  decision: StepDecision | null;
  leaf_hash: string;
  chain_hash: string;
  pruned_at: Date | null;
}

function toTraceStep(row: TraceStepRow): TraceStep {
  return {
    traceId: row.trace_id,
    seq: row.seq,
    stepIndex: row.step_index,
    stepId: row.step_id,
    attempt: row.attempt,
    skillName: row.skill_name,
    skillVersion: row.skill_version,
    params: row.params ?? {},
    status: row.status,
    outcomeCode: row.outcome_code,
    outcomeData: row.outcome_data,
    error: row.error,
    costCents: Number(row.cost_cents),
    tokens: row.tokens,
    durationMs: row.duration_ms,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    decision: row.decision,
    leafHash: row.leaf_hash,
    chainHash: row.chain_hash,
    prunedAt: row.pruned_at,
  };
}

/** The trace's steps in seq order; with `afterSeq`, only those recorded after it (live progress). */
export async function listTraceSteps(db: Queryable, traceId: string, afterSeq = -1): Promise<TraceStep[]> {
  const { rows } = await db.query<TraceStepRow>(
    `select trace_id, seq, step_index, step_id, attempt, skill_name, skill_version, params, status, outcome_code,
  outcome_data, error, cost_cents, tokens, duration_ms, started_at, completed_at, decision, leaf_hash, chain_hash,
  pruned_at
from aos_trace_steps
where trace_id = $1::text and seq > $2::int
order by seq`,
    [traceId, afterSeq],
  );
  return rows.map(toTraceStep);
}

export interface StepRecord {
  runId: string;
  epoch: number;
  agentId: string;
  /** The estimate reserved from the agent's budget and the tenant's day before the step ran; settled here. */
  reservedCents: number;
  /** The UTC day (`YYYY-MM-DD`) of the tenant's spend ledger the reservation was made on. */
  spendDay: string;
  /** The step index the run resumes at after this row: the next step once this one is settled. */
  nextStepIndex: number;
  step: TraceStep;
}

/**
 * Records one attempt and advances the run's cursor in ONE statement, so the trace and the run can never
 * disagree: the run's update is fenced by the holder's epoch and by `next_seq` (the row's leaf position), and
 * the insert takes its values from that update's result. A worker that lost its lease matches no run row and
 * inserts nothing; the unique (trace_id, seq) key is the second line of defence against a forked trace.
 * Reports whether the fence let the write through, and whether someone asked for the run to be cancelled (read
 * back in the same statement, so checking for a cancel between steps costs no extra query).
 */
export async function insertStepAndAdvanceRun(db: Queryable, record: StepRecord): Promise<{ written: boolean; cancelRequested: boolean }> {
  const { step } = record;
  const { rows } = await db.query<{ cancel_requested: boolean }>(
    `with advanced as (
  update runs
  set next_seq = next_seq + 1,
    next_step_index = $3::int,
    chain_head = $22::text,
    cost_cents = cost_cents + $15::bigint
  where id = $1::text and epoch = $2::int and status = 'running' and next_seq = $5::int
  returning id, tenant_id, cancel_requested_at is not null as cancel_requested
),
-- Settle: swap the reserved estimate for the actual cost, as one relative update, so runs of one agent settling at
-- once lose no cent. Zero-cost steps leave the agent row alone (no lock on a row every run of the agent shares).
settled as (
  update agents
  set spent_cents = spent_cents - $24::bigint + $15::bigint, updated_at = now()
  where id = $25::text and ($24::bigint <> 0 or $15::bigint <> 0) and exists (select 1 from advanced)
  returning id
),
-- The tenant's day is settled the same way; the row exists when something was reserved, and is created otherwise.
-- It reads \`settled\` so the agent row is locked before the day row, in the order reserving locks them (no deadlock).
settled_day as (
  insert into tenant_daily_spend as spend (tenant_id, day, spent_cents)
  select tenant_id, $26::date, $15::bigint - $24::bigint
  from advanced
  where exists (select 1 from settled)
  on conflict (tenant_id, day) do update
  set spent_cents = spend.spent_cents + excluded.spent_cents, updated_at = now()
  returning tenant_id
)
insert into aos_trace_steps (trace_id, seq, step_index, step_id, attempt, skill_name, skill_version, params, status,
  outcome_code, outcome_data, error, cost_cents, tokens, duration_ms, started_at, completed_at, decision,
  leaf_hash, chain_hash)
select $4::text, $5::int, $6::int, $7::text, $8::int, $9::text, $10::text, $11::jsonb, $12::text,
  $13::text, $14::jsonb, $23::jsonb, $15::bigint, $16::int, $17::int, $18::timestamptz, $19::timestamptz, $20::jsonb,
  $21::text, $22::text
from advanced
returning (select cancel_requested from advanced)`,
    [
      record.runId,
      record.epoch,
      record.nextStepIndex,
      step.traceId,
      step.seq,
      step.stepIndex,
      step.stepId,
      step.attempt,
      step.skillName,
      step.skillVersion,
      JSON.stringify(step.params),
      step.status,
      step.outcomeCode,
      step.outcomeData === undefined ? null : JSON.stringify(step.outcomeData),
      step.costCents,
      step.tokens,
      step.durationMs,
      step.startedAt,
      step.completedAt,
      step.decision === null ? null : JSON.stringify(step.decision),
      step.leafHash,
      step.chainHash,
      step.error === null ? null : JSON.stringify(step.error),
      record.reservedCents,
      record.agentId,
      record.spendDay,
    ],
  );
  return { written: rows.length === 1, cancelRequested: rows[0]?.cancel_requested === true };
}

/** Steps an agent started in the last `seconds` seconds, across its runs: the steps-per-minute rule's input. */
export async function countAgentStepsSince(db: Queryable, agentId: string, seconds: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n
from aos_trace_steps s
join aos_traces t on t.trace_id = s.trace_id
where t.agent_id = $1::text and s.started_at > now() - make_interval(secs => $2::int)`,
    [agentId, seconds],
  );
  return rows[0]?.n ?? 0;
}
