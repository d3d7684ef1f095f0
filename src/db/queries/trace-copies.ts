import type { Queryable } from "../database.js";

/** A queryable column that does not say what the hashed bytes say. */
export interface CopyDisagreement {
  table: "runs" | "aos_traces" | "aos_trace_steps";
  /** The step row's seq, for aos_trace_steps. */
  seq: number | null;
  column: string;
}

/**
 * Every copy of a format v2 trace that differs from its bytes (docs/proofs.md, "In the database"): the run row's
 * facts against the trace header and the run-end, the trace row's columns, and each step row's columns against its
 * header and payload bytes. PostgreSQL compares them itself, at full precision: jsonb by its text (so `3` and `3.0`
 * differ), timestamps to the microsecond, integers exactly.
 *
 * Call it only on bytes already verified: it casts them to jsonb, which fails on bytes that are not JSON.
 * Ordered as a verdict names the first problem: the run row, the trace row, then steps by seq.
 */
export async function findCopyDisagreements(db: Queryable, traceId: string): Promise<CopyDisagreement[]> {
  const { rows } = await db.query<{ tbl: CopyDisagreement["table"]; seq: number | null; col: string }>(
    `with trace as (
  select t.*, convert_from(t.header_jcs, 'UTF8')::jsonb as h, convert_from(t.run_end_jcs, 'UTF8')::jsonb as e,
    convert_from(t.plan_jcs, 'UTF8')::jsonb as plan
  from aos_traces t
  where t.trace_id = $1::text
),
-- What the run's cost must be while it runs: its planner's cost and its recorded steps', from their headers.
recorded as (
  select coalesce(sum((convert_from(s.header_jcs, 'UTF8')::jsonb ->> 'cost_cents')::bigint), 0) as cost_cents
  from aos_trace_steps s
  where s.trace_id = $1::text
),
run_copies as (
  select 'runs' as tbl, null::int as seq, c.ord, c.col
  from trace t
  join runs r on r.id = t.run_id
  cross join recorded
  cross join lateral (values
    (1, 'tenant_id', r.tenant_id is distinct from t.h ->> 'tenant_id'),
    (2, 'agent_id', r.agent_id is distinct from t.h ->> 'agent_id'),
    (3, 'origin_system_id', r.origin_system_id::text is distinct from t.h ->> 'origin_system_id'),
    (4, 'actor_type', r.actor_type is distinct from t.h ->> 'actor_type'),
    (5, 'actor_id', r.actor_id is distinct from t.h ->> 'actor_id'),
    (6, 'parent_run_id', r.parent_run_id is distinct from t.h ->> 'parent_run_id'),
    (7, 'goal', r.goal is distinct from t.h ->> 'goal'),
    (8, 'created_at', r.created_at is distinct from (t.h ->> 'created_at')::timestamptz),
    (9, 'plan_json', r.plan_json::text is distinct from t.plan::text),
    (10, 'status', t.e is not null and r.status is distinct from t.e ->> 'status'),
    (11, 'termination_reason', r.termination_reason is distinct from t.e ->> 'termination_reason'),
    (12, 'error_message', t.e is not null and r.error_message is distinct from t.e ->> 'error_message'),
    (13, 'cost_cents', r.cost_cents is distinct from coalesce((t.e ->> 'cost_cents')::bigint,
      coalesce((t.plan -> 'planner_usage' ->> 'cost_cents')::bigint, 0) + recorded.cost_cents)),
    (14, 'attempts', t.e is not null and r.attempts is distinct from (t.e ->> 'attempts')::int),
    (15, 'started_at', t.e is not null and r.started_at is distinct from (t.e ->> 'started_at')::timestamptz),
    (16, 'completed_at', r.completed_at is distinct from (t.e ->> 'completed_at')::timestamptz),
    (17, 'duration_ms', r.duration_ms is distinct from (t.e ->> 'duration_ms')::float8),
    (18, 'worker_id', t.e is not null and r.worker_id is not null),
    (19, 'lease_expires_at', t.e is not null and r.lease_expires_at is not null),
    (20, 'next_attempt_at', t.e is not null and r.next_attempt_at is not null)
  ) as c(ord, col, differs)
  where c.differs
),
trace_copies as (
  select 'aos_traces' as tbl, null::int as seq, c.ord, c.col
  from trace t
  cross join lateral (values
    (1, 'run_id', t.run_id is distinct from t.h ->> 'run_id'),
    (2, 'correlation_id', t.correlation_id is distinct from t.run_id),
    (3, 'tenant_id', t.tenant_id is distinct from t.h ->> 'tenant_id'),
    (4, 'agent_id', t.agent_id is distinct from t.h ->> 'agent_id'),
    (5, 'plan_hash', t.plan_hash is distinct from t.h ->> 'plan_sha256'),
    (6, 'status', t.status::text is distinct from case
      when t.e is null then 'running'
      when t.e ->> 'status' = 'succeeded' then 'completed'
      when t.e ->> 'status' = 'failed' then 'failed'
      else 'aborted' end),
    (7, 'started_at', t.started_at is distinct from (t.h ->> 'created_at')::timestamptz),
    (8, 'created_at', t.created_at is distinct from (t.h ->> 'created_at')::timestamptz),
    (9, 'completed_at', t.completed_at is distinct from (t.e ->> 'completed_at')::timestamptz),
    (10, 'metadata', t.metadata::text is distinct from (case
      when t.e ->> 'error_message' is null then '{}'::jsonb
      else jsonb_build_object('error', left(t.e ->> 'error_message', 200)) end)::text)
  ) as c(ord, col, differs)
  where c.differs
),
step_copies as (
  select 'aos_trace_steps' as tbl, s.seq, c.ord, c.col
  from aos_trace_steps s
  cross join lateral (select convert_from(s.header_jcs, 'UTF8')::jsonb as h) x
  cross join lateral (values
    (1, 'step_index', s.step_index is distinct from (x.h ->> 'step_index')::int),
    (2, 'step_id', s.step_id is distinct from x.h ->> 'step_id'),
    (3, 'attempt', s.attempt is distinct from (x.h ->> 'attempt')::int),
    (4, 'skill_name', s.skill_name is distinct from x.h ->> 'skill'),
    (5, 'skill_version', s.skill_version is distinct from x.h ->> 'skill_version'),
    (6, 'status', s.status::text is distinct from x.h ->> 'status'),
    (7, 'outcome_code', s.outcome_code is distinct from x.h ->> 'outcome_code'),
    (8, 'cost_cents', s.cost_cents is distinct from (x.h ->> 'cost_cents')::bigint),
    (9, 'tokens', s.tokens is distinct from (x.h ->> 'tokens')::int),
    (10, 'duration_ms', s.duration_ms is distinct from (x.h ->> 'duration_ms')::int),
    (11, 'started_at', s.started_at is distinct from (x.h ->> 'started_at')::timestamptz),
    (12, 'completed_at', s.completed_at is distinct from (x.h ->> 'completed_at')::timestamptz),
    (13, 'decision', s.decision::text is distinct from nullif(x.h -> 'decision', 'null'::jsonb)::text),
    (14, 'params', s.params::text is distinct from convert_from(s.params_jcs, 'UTF8')::jsonb::text),
    (15, 'outcome_data', s.outcome_data::text is distinct from convert_from(s.outcome_jcs, 'UTF8')::jsonb::text),
    (16, 'error', s.error::text is distinct from convert_from(s.error_jcs, 'UTF8')::jsonb::text)
  ) as c(ord, col, differs)
  where s.trace_id = $1::text and s.header_jcs is not null and c.differs
)
select tbl, seq, col
from (
  select * from run_copies
  union all select * from trace_copies
  union all select * from step_copies
) as disagreements
order by case tbl when 'runs' then 0 when 'aos_traces' then 1 else 2 end, seq nulls first, ord`,
    [traceId],
  );
  return rows.map((row) => ({ table: row.tbl, seq: row.seq, column: row.col }));
}
