import type { Run } from "../../glossary.js";
import type { Queryable } from "../database.js";
import { RUN_COLUMNS, type RunRow, toRun } from "./runs.js";

export interface HeldRun {
  id: string;
  epoch: number;
}

/**
 * What became of a held run when its lease was renewed: `kept` (extended), `gone` (someone else holds it at a
 * later epoch, or the reaper requeued it), or `settled` (its holder moved it on itself at this epoch, or is doing
 * so at this moment: ended, parked or handed back; nothing is lost).
 */
export type LeaseState = "kept" | "gone" | "settled";

/**
 * Extends the leases of the runs a worker holds, in one statement, and says of each what became of it. A run not
 * extended is read as the statement found it: at the holder's epoch and no longer running, its holder settled it;
 * at the holder's epoch and still running, its holder's own write raced this one (the update waited for it and
 * then no longer matched), which is settling too; anything else, the run was taken.
 */
export async function extendLeases(db: Queryable, held: readonly HeldRun[], leaseMs: number): Promise<Map<string, LeaseState>> {
  if (held.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; state: LeaseState }>(
    `with held (id, epoch) as (
  select * from unnest($1::text[], $2::int[])
),
extended as (
  update runs
  set lease_expires_at = now() + make_interval(secs => $3::int / 1000.0)
  from held
  where runs.id = held.id and runs.epoch = held.epoch and runs.status = 'running'
  returning runs.id
)
select held.id,
  case
    when e.id is not null then 'kept'
    when r.epoch = held.epoch and r.status <> 'retry' then 'settled'
    else 'gone'
  end as state
from held
left join extended e on e.id = held.id
left join runs r on r.id = held.id`,
    [held.map((run) => run.id), held.map((run) => run.epoch), leaseMs],
  );
  return new Map(rows.map((row) => [row.id, row.state]));
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

/**
 * Subscribes this connection to notifyRunQueued's notifications. A session's state, so only on a dedicated direct
 * connection, never on a pooled one (PgBouncer in transaction mode would hand the subscription to another client).
 */
export async function listenForQueuedRuns(db: Queryable): Promise<void> {
  await db.query("listen aos_run_queued");
}
