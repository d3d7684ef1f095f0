import { TERMINAL_RUN_STATUSES } from "../../glossary.js";
import type { Queryable } from "../database.js";

/** Which trace steps a prune reaches: those of runs that ended before `finishedBefore`, of one tenant or all. */
export interface PruneScope {
  finishedBefore: Date;
  /** null: every tenant's runs. */
  tenantId: string | null;
}

/** Runs with at least one step counted, and the steps. */
export interface PruneCount {
  runs: number;
  steps: number;
}

const TERMINAL = [...TERMINAL_RUN_STATUSES];

/** The steps a prune of `scope` would empty now: those of finished runs in scope that still hold their payload. */
export async function countPrunableSteps(db: Queryable, scope: PruneScope): Promise<PruneCount> {
  const { rows } = await db.query<PruneCount>(
    `select count(distinct s.trace_id)::int as runs, count(*)::int as steps
from runs r
join aos_traces t on t.run_id = r.id
join aos_trace_steps s on s.trace_id = t.trace_id
where r.status = any($1::text[])
  and r.completed_at < $2::timestamptz
  and ($3::text is null or r.tenant_id = $3::text)
  and s.pruned_at is null`,
    [TERMINAL, scope.finishedBefore, scope.tenantId],
  );
  return rows[0] ?? { runs: 0, steps: 0 };
}

/**
 * Empties the payload (params, outcome_data, error) of every step in scope that still has one, and stamps
 * pruned_at; the S6 trigger admits exactly this change, and only for a finished run's steps.
 *
 * Locking: the update locks only the step rows it changes; the runs and traces are read, not locked. That is safe
 * because a finished run's status never changes again and no step is ever added to its trace (the step insert is
 * fenced by `status = 'running'`), so nothing else writes these rows. Two prunes at once: the second waits for the
 * first's row locks, then re-checks `pruned_at is null` on the committed rows (READ COMMITTED) and skips them, so
 * no step is emptied or counted twice.
 */
export async function pruneStepPayloads(db: Queryable, scope: PruneScope): Promise<PruneCount> {
  const { rows } = await db.query<PruneCount>(
    `with pruned as (
  update aos_trace_steps s
  set params = null, outcome_data = null, error = null, pruned_at = now()
  from runs r
  join aos_traces t on t.run_id = r.id
  where s.trace_id = t.trace_id
    and r.status = any($1::text[])
    and r.completed_at < $2::timestamptz
    and ($3::text is null or r.tenant_id = $3::text)
    and s.pruned_at is null
  returning s.trace_id
)
select count(distinct trace_id)::int as runs, count(*)::int as steps
from pruned`,
    [TERMINAL, scope.finishedBefore, scope.tenantId],
  );
  return rows[0] ?? { runs: 0, steps: 0 };
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
