import type { StepDecision, StepError, StepStatus, TraceStep } from "../../glossary.js";
import type { Queryable } from "../database.js";
import { StatementParams } from "./statement-params.js";

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
  header_jcs: Buffer | null;
  params_jcs: Buffer | null;
  outcome_jcs: Buffer | null;
  error_jcs: Buffer | null;
  attestation: string | null;
}

/** A trace step row as stored: its bytes (format v2), its attestation and stored hashes, and its queryable copies. */
export interface StepRow {
  seq: number;
  /** The hashed bytes; null for a format v1 row, which is hashed from its copies. */
  bytes: StoredStepBytes | null;
  attestation: string | null;
  leafHash: string;
  chainHash: string;
  prunedAt: Date | null;
  /** The row's columns as a trace step: what a format v1 proof hashes, and what format v2 compares with its bytes. */
  copies: TraceStep;
}

export interface StoredStepBytes {
  header: Buffer;
  params: Buffer | null;
  outcome: Buffer | null;
  error: Buffer | null;
}

function toStepRow(row: TraceStepRow): StepRow {
  return {
    seq: row.seq,
    bytes: row.header_jcs === null ? null : { header: row.header_jcs, params: row.params_jcs, outcome: row.outcome_jcs, error: row.error_jcs },
    attestation: row.attestation,
    leafHash: row.leaf_hash,
    chainHash: row.chain_hash,
    prunedAt: row.pruned_at,
    copies: {
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
    },
  };
}

/** The trace's step rows in seq order; with `afterSeq`, only those recorded after it (live progress). */
export async function listStepRows(db: Queryable, traceId: string, afterSeq = -1): Promise<StepRow[]> {
  const { rows } = await db.query<TraceStepRow>(
    `select trace_id, seq, step_index, step_id, attempt, skill_name, skill_version, params, status, outcome_code,
  outcome_data, error, cost_cents, tokens, duration_ms, started_at, completed_at, decision, leaf_hash, chain_hash,
  pruned_at, header_jcs, params_jcs, outcome_jcs, error_jcs, attestation
from aos_trace_steps
where trace_id = $1::text and seq > $2::int
order by seq`,
    [traceId, afterSeq],
  );
  return rows.map(toStepRow);
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
  /** The row's fields, for the queryable columns (the jsonb copies are made from the bytes, in the statement). */
  step: TraceStep;
  bytes: StoredStepBytes;
  attestation: string;
}

/**
 * Records one attempt and advances the run's cursor in ONE statement, so the trace and the run can never
 * disagree: the run's update is fenced by the holder's epoch and by `next_seq` (the row's leaf position), and
 * the insert takes its values from that update's result. A worker that lost its lease matches no run row and
 * inserts nothing; the unique (trace_id, seq) key is the second line of defence against a forked trace.
 * The payloads are sent once, as their canonical bytes; their jsonb copies are made from those bytes here.
 * Reports whether the fence let the write through, and the request to cancel the run if someone made one (read
 * back in the same statement, so checking for a cancel between steps costs no extra query), with its attestation.
 */
export async function insertStepAndAdvanceRun(
  db: Queryable,
  record: StepRecord,
): Promise<{ written: boolean; cancelRequest: { requestedAt: Date; attestation: string | null } | null }> {
  const { step, bytes } = record;
  const params = new StatementParams();
  const p = (value: unknown, type: string) => params.param(value, type);
  const cost = p(step.costCents, "bigint");
  const reserved = p(record.reservedCents, "bigint");
  const [header, paramsBytes, outcome, error] = [p(bytes.header, "bytea"), p(bytes.params, "bytea"), p(bytes.outcome, "bytea"), p(bytes.error, "bytea")];
  const chainHash = p(step.chainHash, "text");
  const seq = p(step.seq, "int");
  const sql = `with advanced as (
  update runs
  set next_seq = next_seq + 1,
    next_step_index = ${p(record.nextStepIndex, "int")},
    chain_head = ${chainHash},
    cost_cents = cost_cents + ${cost}
  where id = ${p(record.runId, "text")} and epoch = ${p(record.epoch, "int")} and status = 'running' and next_seq = ${seq}
  returning id, tenant_id, cancel_requested_at, cancel_attestation
),
-- Settle: swap the reserved estimate for the actual cost, as one relative update, so runs of one agent settling at
-- once lose no cent. Zero-cost steps leave the agent row alone (no lock on a row every run of the agent shares).
settled as (
  update agents
  set spent_cents = spent_cents - ${reserved} + ${cost}, updated_at = now()
  where id = ${p(record.agentId, "text")} and (${reserved} <> 0 or ${cost} <> 0) and exists (select 1 from advanced)
  returning id
),
-- The tenant's day is settled the same way; the row exists when something was reserved, and is created otherwise.
-- It reads \`settled\` so the agent row is locked before the day row, in the order reserving locks them (no deadlock).
settled_day as (
  insert into tenant_daily_spend as spend (tenant_id, day, spent_cents)
  select tenant_id, ${p(record.spendDay, "date")}, ${cost} - ${reserved}
  from advanced
  where exists (select 1 from settled)
  on conflict (tenant_id, day) do update
  set spent_cents = spend.spent_cents + excluded.spent_cents, updated_at = now()
  returning tenant_id
)
insert into aos_trace_steps (trace_id, seq, step_index, step_id, attempt, skill_name, skill_version, status,
  outcome_code, cost_cents, tokens, duration_ms, started_at, completed_at, decision, leaf_hash, chain_hash,
  header_jcs, params_jcs, outcome_jcs, error_jcs, attestation, params, outcome_data, error)
select ${p(step.traceId, "text")}, ${seq}, ${p(step.stepIndex, "int")}, ${p(step.stepId, "text")}, ${p(step.attempt, "int")},
  ${p(step.skillName, "text")}, ${p(step.skillVersion, "text")}, ${p(step.status, "text")}, ${p(step.outcomeCode, "text")}, ${cost},
  ${p(step.tokens, "int")}, ${p(step.durationMs, "int")}, ${p(step.startedAt, "timestamptz")}, ${p(step.completedAt, "timestamptz")},
  ${p(step.decision === null ? null : JSON.stringify(step.decision), "jsonb")}, ${p(step.leafHash, "text")}, ${chainHash},
  ${header}, ${paramsBytes}, ${outcome}, ${error}, ${p(record.attestation, "text")},
  convert_from(${paramsBytes}, 'UTF8')::jsonb, convert_from(${outcome}, 'UTF8')::jsonb, convert_from(${error}, 'UTF8')::jsonb
from advanced
returning (select cancel_requested_at from advanced), (select cancel_attestation from advanced)`;
  const { rows } = await db.query<{ cancel_requested_at: Date | null; cancel_attestation: string | null }>(sql, params.values);
  const row = rows[0];
  const cancelRequest = row?.cancel_requested_at == null ? null : { requestedAt: row.cancel_requested_at, attestation: row.cancel_attestation };
  return { written: rows.length === 1, cancelRequest };
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
