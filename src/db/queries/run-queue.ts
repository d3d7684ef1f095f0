import type { Run } from "../../glossary.js";
import type { Queryable } from "../database.js";
import { RUN_COLUMNS, type RunRow, toRun } from "./runs.js";

export interface HeldRun {
  id: string;
  epoch: number;
}

/** Extends the leases of the runs a worker holds; returns the ids it still holds (the others were taken from it). */
export async function extendLeases(db: Queryable, held: readonly HeldRun[], leaseMs: number): Promise<Set<string>> {
  if (held.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    `update runs
set lease_expires_at = now() + make_interval(secs => $3::int / 1000.0)
from unnest($1::text[], $2::int[]) as held (id, epoch)
where runs.id = held.id and runs.epoch = held.epoch and runs.status = 'running'
returning runs.id`,
    [held.map((run) => run.id), held.map((run) => run.epoch), leaseMs],
  );
  return new Set(rows.map((row) => row.id));
}

/**
 * Takes the runs whose lease expired on their last allowed attempt, under a new epoch held by `holder`, so that
 * they can be ended as failed (finalized like any run: trace, checkpoint, records).
 */
export async function takeExhaustedRuns(db: Queryable, maxAttempts: number, holder: string, leaseMs: number): Promise<Run[]> {
  const { rows } = await db.query<RunRow>(
    `update runs
set epoch = epoch + 1, worker_id = $2::text, lease_expires_at = now() + make_interval(secs => $3::int / 1000.0)
where id in (
  select id
  from runs
  where status = 'running' and lease_expires_at < now() and attempts >= $1::int
  for update skip locked
)
returning ${RUN_COLUMNS}`,
    [maxAttempts, holder, leaseMs],
  );
  return rows.map(toRun);
}

/**
 * Only one reaper works at a time across all workers: this transaction-scoped advisory lock says which.
 *
 * The holder's transaction may sit idle for at most `idleTimeoutMs` between its statements: a worker frozen in the
 * middle of its round (a stopped process, a VM paused) is then disconnected by the server, and the lock goes with
 * it. Without the limit the lock stays held for as long as the frozen process lives, its connection open, and no
 * worker anywhere reaps (test/worker-processes.test.ts, "a worker frozen inside a reaper round").
 */
export async function tryReaperLock(db: Queryable, idleTimeoutMs: number): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(
    `select set_config('idle_in_transaction_session_timeout', $1::text, true) as idle_limit,
  pg_try_advisory_xact_lock(hashtext('aos.reaper')) as locked`,
    [String(idleTimeoutMs)],
  );
  return rows[0]?.locked === true;
}

/** Wakes listening workers: a run was queued. Inside a transaction, delivered when it commits. */
export async function notifyRunQueued(db: Queryable, runId: string): Promise<void> {
  await db.query(`select pg_notify('aos_run_queued', $1::text)`, [runId]);
}
