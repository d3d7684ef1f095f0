import type { Queryable } from "../database.js";

// What an agent has already done, read from its recorded trace steps (tenant and agent in every filter): the
// answers behind `aos query last_step_outcome` and `aos query what_did_i_try_already`.

export interface LastStep {
  runId: string;
  seq: number;
  stepId: string;
  attempt: number;
  skill: string;
  status: string;
  outcomeCode: string;
  errorMessage: string | null;
  costCents: number;
  completedAt: Date;
}

/** The agent's most recent recorded step (a started intent row included), or in one run when runId is given. */
export async function findLastStep(db: Queryable, tenantId: string, agentId: string, runId?: string): Promise<LastStep | undefined> {
  const { rows } = await db.query<{
    run_id: string;
    seq: number;
    step_id: string;
    attempt: number;
    skill_name: string;
    status: string;
    outcome_code: string;
    error_message: string | null;
    cost_cents: string;
    completed_at: Date;
  }>(
    `select t.run_id, s.seq, s.step_id, s.attempt, s.skill_name, s.status, s.outcome_code,
  s.error ->> 'message' as error_message, s.cost_cents, s.completed_at
from aos_traces t
join aos_trace_steps s on s.trace_id = t.trace_id
where t.tenant_id = $1::text and t.agent_id = $2::text and ($3::text is null or t.run_id = $3::text)
order by s.completed_at desc, s.seq desc
limit 1`,
    [tenantId, agentId, runId ?? null],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    runId: row.run_id,
    seq: row.seq,
    stepId: row.step_id,
    attempt: row.attempt,
    skill: row.skill_name,
    status: row.status,
    outcomeCode: row.outcome_code,
    errorMessage: row.error_message,
    costCents: Number(row.cost_cents),
    completedAt: row.completed_at,
  };
}

/** One distinct call the agent made: a skill with the same (recorded, redacted) parameters. */
export interface TriedCall {
  skill: string;
  params: Record<string, unknown>;
  attempts: number;
  runs: number;
  succeeded: number;
  failed: number;
  blocked: number;
  lastStatus: string;
  lastOutcomeCode: string;
  lastErrorMessage: string | null;
  lastAt: Date;
}

export interface TriedFilter {
  runId?: string | undefined;
  /** Only runs with exactly this goal: "have I tried this goal before, and how did it go?" */
  goal?: string | undefined;
  limit: number;
}

/**
 * The agent's attempts grouped by skill and parameters, most recent first. Parameters are compared as stored,
 * which is after redaction; a pruned step's parameters read `{}`.
 */
export async function listTriedCalls(db: Queryable, tenantId: string, agentId: string, filter: TriedFilter): Promise<TriedCall[]> {
  const { rows } = await db.query<{
    skill_name: string;
    params: Record<string, unknown> | null;
    attempts: number;
    runs: number;
    succeeded: number;
    failed: number;
    blocked: number;
    last_status: string;
    last_outcome_code: string;
    last_error: string | null;
    last_at: Date;
  }>(
    `select s.skill_name, s.params, count(*)::int as attempts, count(distinct t.run_id)::int as runs,
  count(*) filter (where s.status = 'succeeded')::int as succeeded,
  count(*) filter (where s.status in ('failed', 'interrupted'))::int as failed,
  count(*) filter (where s.status = 'blocked')::int as blocked,
  (array_agg(s.status order by s.completed_at desc, s.seq desc))[1] as last_status,
  (array_agg(s.outcome_code order by s.completed_at desc, s.seq desc))[1] as last_outcome_code,
  (array_agg(s.error ->> 'message' order by s.completed_at desc, s.seq desc))[1] as last_error,
  max(s.completed_at) as last_at
from aos_traces t
join runs r on r.id = t.run_id and r.tenant_id = t.tenant_id
join aos_trace_steps s on s.trace_id = t.trace_id
where t.tenant_id = $1::text and t.agent_id = $2::text
  and ($3::text is null or t.run_id = $3::text)
  and ($4::text is null or r.goal = $4::text)
  and s.status <> 'started'
group by s.skill_name, s.params
order by last_at desc
limit $5::int`,
    [tenantId, agentId, filter.runId ?? null, filter.goal ?? null, filter.limit],
  );
  return rows.map((row) => ({
    skill: row.skill_name,
    params: row.params ?? {},
    attempts: row.attempts,
    runs: row.runs,
    succeeded: row.succeeded,
    failed: row.failed,
    blocked: row.blocked,
    lastStatus: row.last_status,
    lastOutcomeCode: row.last_outcome_code,
    lastErrorMessage: row.last_error,
    lastAt: row.last_at,
  }));
}
