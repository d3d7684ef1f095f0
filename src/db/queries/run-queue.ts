import type { Run } from "../../glossary.js";
import type { Queryable } from "../database.js";
import { RUN_COLUMNS, type RunRow, toRun } from "./runs.js";

export type ClaimResult =
  | { kind: "claimed"; run: Run }
  /** A run was there but its agent filled its last slot at the same moment: try again at once. */
  | { kind: "contended" }
  | { kind: "empty" };

/**
 * Claims the next run for `workerId`, in one statement.
 *
 * Fair: tenants take turns. `active` lists the tenants that have claimable runs (a loose index scan of
 * runs_queue_idx: one probe per tenant, however many runs each has queued), in tenant order starting after
 * `afterTenant`, the tenant this worker served last, and wrapping around; the first of them with a claimable run
 * gets the claim. Each worker thus serves the waiting tenants in rotation: a tenant with 10,000 queued runs gets one
 * claim in N when N tenants are waiting, never all of them. The rotation lives in the worker, not in a shared row,
 * so claims do not queue up behind one another on a counter.
 *
 * Safe: the run row is taken with FOR UPDATE SKIP LOCKED, so two claimers never take one run (the second skips
 * the locked row instead of waiting and claiming it again), and the status test is re-checked on the locked row.
 * The agent's concurrent_runs_limit is re-checked on the agent row locked FOR UPDATE: under READ COMMITTED a
 * locked row is re-read at its newest version, so two claims for one agent cannot both take its last slot; the
 * loser matches nothing and reports `contended`. The counter itself is kept by the runs_count_running trigger.
 *
 * The claim moves the run to `running`, counts the attempt (once, here), bumps the fencing epoch every later write
 * of this worker is conditional on, and sets the lease.
 *
 * It commits synchronously like every other write: a claim lost in a server crash could otherwise be made again
 * under the same epoch by another worker while the first still runs, and the epoch fence would let both write.
 */
export async function claimNextRun(
  db: Queryable,
  workerId: string,
  leaseMs: number,
  afterTenant: string | null = null,
  now: Date = new Date(),
): Promise<ClaimResult> {
  const { rows } = await db.query<RunRow & { picked_id: string }>(
    `with recursive active (tenant_id) as (
  (select tenant_id from runs where status in ('queued', 'retry') order by tenant_id limit 1)
  union all
  select (
    select r.tenant_id from runs r
    where r.status in ('queued', 'retry') and r.tenant_id > active.tenant_id
    order by r.tenant_id
    limit 1
  )
  from active
  where active.tenant_id is not null
),
turns as materialized (
  select tenant_id
  from active
  where tenant_id is not null
  order by tenant_id <= $3::text, tenant_id
),
pick as (
  select candidate.id, candidate.agent_id, candidate.tenant_id
  from turns
  cross join lateral (
    select r.id, r.agent_id, r.tenant_id
    from runs r
    join agents g on g.id = r.agent_id
    where r.tenant_id = turns.tenant_id
      and r.status in ('queued', 'retry')
      and (r.next_attempt_at is null or r.next_attempt_at <= now())
      and g.status = 'active'
      and g.running_runs < g.concurrent_runs_limit
    order by r.priority desc, r.created_at
    limit 1
    for update of r skip locked
  ) candidate
  limit 1
),
slot as (
  select g.id
  from agents g
  join pick p on p.agent_id = g.id
  where g.running_runs < g.concurrent_runs_limit
  for update of g
),
claimed as (
  update runs
  set status = 'running',
    attempts = attempts + 1,
    epoch = epoch + 1,
    worker_id = $1::text,
    lease_expires_at = now() + make_interval(secs => $2::int / 1000.0),
    started_at = coalesce(started_at, $4::timestamptz),
    next_attempt_at = null
  where id = (select p.id from pick p join slot s on s.id = p.agent_id)
  returning ${RUN_COLUMNS}
)
select p.id as picked_id, c.*
from pick p
left join claimed c on true`,
    [workerId, leaseMs, afterTenant, now],
  );
  const row = rows[0];
  if (row === undefined) return { kind: "empty" };
  if (row.id === null) return { kind: "contended" };
  return { kind: "claimed", run: toRun(row) };
}

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
 * Hands a run back to the queue without burning an attempt (a graceful stop between steps): the attempt its
 * claim counted is taken back. Fenced by the holder's epoch.
 */
export async function releaseRun(db: Queryable, runId: string, epoch: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runs
set status = 'queued', attempts = greatest(attempts - 1, 0), worker_id = null, lease_expires_at = null
where id = $1::text and epoch = $2::int and status = 'running'`,
    [runId, epoch],
  );
  return rowCount === 1;
}

/** Puts a run back as `retry`, claimable from `delaySeconds` from now, after a system failure. Fenced. */
export async function retryRunLater(db: Queryable, runId: string, epoch: number, delaySeconds: number, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runs
set status = 'retry',
  next_attempt_at = now() + make_interval(secs => $3::int),
  error_message = $4::text,
  worker_id = null,
  lease_expires_at = null
where id = $1::text and epoch = $2::int and status = 'running'`,
    [runId, epoch, delaySeconds, reason],
  );
  return rowCount === 1;
}

/**
 * Returns runs whose lease expired to the queue at once (their worker died or lost the database), as `retry`,
 * while they have attempts left. Their epoch is unchanged: the next claim bumps it, and the dead worker's writes
 * already fail on `status = 'running'`.
 */
export async function requeueExpiredLeases(db: Queryable, maxAttempts: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `update runs
set status = 'retry', next_attempt_at = now(), worker_id = null, lease_expires_at = null
where id in (
  select id
  from runs
  where status = 'running' and lease_expires_at < now() and attempts < $1::int
  for update skip locked
)
returning id`,
    [maxAttempts],
  );
  return rows.map((row) => row.id);
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
