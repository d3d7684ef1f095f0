import { TERMINAL_RUN_STATUSES } from "../../glossary.js";
import type { Queryable } from "../database.js";

/** Which trace steps a prune reaches: those of runs that ended before `finishedBefore`, of one tenant or all. */
export interface PruneScope {
  finishedBefore: Date;
  /** null: every tenant's runs. */
  tenantId: string | null;
}

const TERMINAL = [...TERMINAL_RUN_STATUSES];

/** A finished run in scope that still has step payloads to prune. */
export interface PrunableRun {
  runId: string;
  tenantId: string;
  traceId: string;
  /** Its steps that still hold their payload. */
  steps: number;
}

/**
 * The next finished runs in scope, after `afterRunId` in run id order, whose steps still hold payloads: a prune
 * walks them in batches and verifies each before emptying it.
 */
export async function listPrunableRuns(db: Queryable, scope: PruneScope, afterRunId: string, limit: number): Promise<PrunableRun[]> {
  const { rows } = await db.query<{ run_id: string; tenant_id: string; trace_id: string; steps: number }>(
    `select r.id as run_id, r.tenant_id, t.trace_id, count(*)::int as steps
from runs r
join aos_traces t on t.run_id = r.id
join aos_trace_steps s on s.trace_id = t.trace_id
where r.status = any($1::text[])
  and r.completed_at < $2::timestamptz
  and ($3::text is null or r.tenant_id = $3::text)
  and r.id > $4::text
  and s.pruned_at is null
group by r.id, r.tenant_id, t.trace_id
order by r.id
limit $5::int`,
    [TERMINAL, scope.finishedBefore, scope.tenantId, afterRunId, limit],
  );
  return rows.map((row) => ({ runId: row.run_id, tenantId: row.tenant_id, traceId: row.trace_id, steps: row.steps }));
}

/**
 * Locks a trace's step rows for the rest of the transaction, so that what a prune verifies is what it empties:
 * another writer (a second prune, or anyone changing the rows) waits until this transaction ends.
 */
export async function lockTraceSteps(db: Queryable, traceId: string): Promise<void> {
  await db.query(`select 1 from aos_trace_steps where trace_id = $1::text for update`, [traceId]);
}

/**
 * Empties the payload of a verified trace's steps that still have one (params, outcome_data, error and their
 * bytes) and stamps pruned_at; the S6 trigger admits exactly this change, and only for a finished run's steps.
 * Called under lockTraceSteps, in the transaction that verified the trace. Returns the steps emptied.
 */
export async function pruneTracePayloads(db: Queryable, traceId: string): Promise<number> {
  const { rowCount } = await db.query(
    `update aos_trace_steps
set params = null, outcome_data = null, error = null, params_jcs = null, outcome_jcs = null, error_jcs = null, pruned_at = now()
where trace_id = $1::text and pruned_at is null`,
    [traceId],
  );
  return rowCount ?? 0;
}

/** Rows past their own expiry, by table: kept until now because reads skip them and writes replace them. */
export interface ExpiredCount {
  kv_entries: number;
  kv_idempotency: number;
  run_requests: number;
}

/**
 * Counts, or deletes, the rows whose time is up: kv_store entries and idempotency records past expires_at, and
 * API idempotency records older than `runRequestTtlHours` (a key older than that no longer returns its run). One
 * statement, so a dry run and the real sweep count the same rows.
 */
export async function sweepExpired(db: Queryable, tenantId: string | null, runRequestTtlHours: number, dryRun: boolean): Promise<ExpiredCount> {
  const tenant = "($1::text is null or tenant_id = $1::text)";
  const expired = {
    kv_entries: `from kv_store where expires_at <= now() and ${tenant}`,
    kv_idempotency: `from kv_idempotency where expires_at <= now() and ${tenant}`,
    run_requests: `from run_requests where created_at <= now() - make_interval(hours => $2::int) and ${tenant}`,
  };
  const sql = dryRun
    ? `select (select count(*)::int ${expired.kv_entries}) as kv_entries,
  (select count(*)::int ${expired.kv_idempotency}) as kv_idempotency,
  (select count(*)::int ${expired.run_requests}) as run_requests`
    : `with entries as (delete ${expired.kv_entries} returning 1),
  records as (delete ${expired.kv_idempotency} returning 1),
  requests as (delete ${expired.run_requests} returning 1)
select (select count(*)::int from entries) as kv_entries, (select count(*)::int from records) as kv_idempotency,
  (select count(*)::int from requests) as run_requests`;
  const { rows } = await db.query<ExpiredCount>(sql, [tenantId, runRequestTtlHours]);
  return rows[0] ?? { kv_entries: 0, kv_idempotency: 0, run_requests: 0 };
}
