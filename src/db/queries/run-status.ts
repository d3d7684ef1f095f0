import type { Run } from "../../glossary.js";
import type { Queryable } from "../database.js";
import { RUN_COLUMNS, type RunRow, toRun } from "./runs.js";

/*
 * Every statement that changes a run's status, and nothing else. A run is created `queued` (or `failed` when its
 * plan is refused, src/db/queries/runs.ts) and then moves only through these:
 *
 *   queued | retry ──claim──▶ running                  claimNextRun, claimRunById (attempt + 1, epoch + 1, lease)
 *   queued | retry | pending_approval ──take──▶ running takeWaitingRun (epoch + 1: to be ended or decided)
 *   running ──▶ pending_approval                        parkRun
 *   pending_approval ──approve──▶ queued                requeueApprovedRun
 *   running ──▶ queued                                  releaseRun (handed back; the attempt is given back)
 *   running ──▶ retry                                   retryRunLater, requeueExpiredLeases
 *   running ──▶ succeeded | failed | halted | cancelled endRunUpdate (inside endRunWithRecords' one statement)
 *
 * Every change away from `running` is fenced by the holder's epoch, except the reaper's, which acts on runs
 * whose holder let the lease expire (its later writes fail on `status = 'running'` or on the epoch).
 */

export type ClaimResult =
  | { kind: "claimed"; run: Run }
  /** A run was there but its agent filled its last slot at the same moment: try again at once. */
  | { kind: "contended" }
  | { kind: "empty" };

/** What a claim does to the run it takes. Parameters: $1 worker id, $2 lease in ms, $3 the claimer's clock. */
const CLAIM_SET = `set status = 'running',
  attempts = attempts + 1,
  epoch = epoch + 1,
  worker_id = $1::text,
  lease_expires_at = now() + make_interval(secs => $2::int / 1000.0),
  started_at = coalesce(started_at, $3::timestamptz),
  next_attempt_at = null`;

/**
 * The agent slot a claim takes, re-checked on the agent row locked FOR UPDATE: under READ COMMITTED a locked row
 * is re-read at its newest version, so two claims for one agent cannot both take its last slot, and an agent
 * paused meanwhile gets no new run. The counter is kept by the runs_count_running trigger.
 */
const SLOT = `slot as (
  select g.id
  from agents g
  join pick p on p.agent_id = g.id
  where g.status = 'active' and g.running_runs < g.concurrent_runs_limit
  for update of g
)`;

/** A run the claims may take: queued, or retry whose time has come, of an active agent with a free slot. */
const CLAIMABLE = `r.status in ('queued', 'retry')
      and (r.next_attempt_at is null or r.next_attempt_at <= now())
      and g.status = 'active'
      and g.running_runs < g.concurrent_runs_limit`;

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
 * The agent's slot is taken as SLOT says; a claim that loses the last slot matches nothing and reports `contended`.
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
  order by tenant_id <= $4::text, tenant_id
),
pick as (
  select candidate.id, candidate.agent_id, candidate.tenant_id
  from turns
  cross join lateral (
    select r.id, r.agent_id, r.tenant_id
    from runs r
    join agents g on g.id = r.agent_id
    where r.tenant_id = turns.tenant_id
      and ${CLAIMABLE}
    order by r.priority desc, r.created_at
    limit 1
    for update of r skip locked
  ) candidate
  limit 1
),
${SLOT},
claimed as (
  update runs
  ${CLAIM_SET}
  where id = (select p.id from pick p join slot s on s.id = p.agent_id)
  returning ${RUN_COLUMNS}
)
select p.id as picked_id, c.*
from pick p
left join claimed c on true`,
    [workerId, leaseMs, now, afterTenant],
  );
  const row = rows[0];
  if (row === undefined) return { kind: "empty" };
  if (row.id === null) return { kind: "contended" };
  return { kind: "claimed", run: toRun(row) };
}

/**
 * Claims one run by id for `workerId` (how `aos run` executes its own run), under exactly the rules of
 * claimNextRun: claimable status and time, an active agent, a free slot taken under the agent row's lock, the
 * same attempt, epoch and lease. Undefined when the run is not claimable now or another claimer holds its row.
 */
export async function claimRunById(db: Queryable, runId: string, workerId: string, leaseMs: number, now: Date = new Date()): Promise<Run | undefined> {
  const { rows } = await db.query<RunRow>(
    `with pick as (
  select r.id, r.agent_id
  from runs r
  join agents g on g.id = r.agent_id
  where r.id = $4::text
    and ${CLAIMABLE}
  for update of r skip locked
),
${SLOT}
update runs
${CLAIM_SET}
where id = (select p.id from pick p join slot s on s.id = p.agent_id)
returning ${RUN_COLUMNS}`,
    [workerId, leaseMs, now, runId],
  );
  return rows[0] && toRun(rows[0]);
}

/**
 * Takes a run that is parked or waiting (queued, retry, pending_approval) so that this process can end it or
 * record a decision on it: status running under a new epoch and a lease, as a claim, but for runs no worker may
 * pick up right now, and counting no attempt. The row lock (FOR UPDATE SKIP LOCKED) makes it safe against a worker
 * claiming it at once; inside the caller's transaction, nobody sees the take until the run has ended.
 */
export async function takeWaitingRun(
  db: Queryable,
  take: { tenantId: string; runId: string; statuses: readonly string[]; holder: string; leaseMs: number },
  now: Date = new Date(),
): Promise<Run | undefined> {
  const { rows } = await db.query<RunRow>(
    `update runs
set status = 'running',
  epoch = epoch + 1,
  worker_id = $4::text,
  lease_expires_at = now() + make_interval(secs => $5::int / 1000.0),
  started_at = coalesce(started_at, $6::timestamptz),
  next_attempt_at = null
where id = (
  select id
  from runs
  where tenant_id = $1::text and id = $2::text and status = any($3::text[])
  for update skip locked
)
returning ${RUN_COLUMNS}`,
    [take.tenantId, take.runId, take.statuses, take.holder, take.leaseMs, now],
  );
  return rows[0] && toRun(rows[0]);
}

/** Parks a running run for a person's approval, fenced by the holder's epoch; its lease is released. */
export async function parkRun(db: Queryable, runId: string, epoch: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runs
set status = 'pending_approval', worker_id = null, lease_expires_at = null
where id = $1::text and epoch = $2::int and status = 'running'`,
    [runId, epoch],
  );
  return rowCount === 1;
}

/** Puts an approved run back in the queue; false when it is no longer parked. */
export async function requeueApprovedRun(db: Queryable, runId: string): Promise<boolean> {
  const { rowCount } = await db.query(`update runs set status = 'queued' where id = $1::text and status = 'pending_approval'`, [runId]);
  return rowCount === 1;
}

/**
 * Hands a run back to the queue without burning an attempt (a graceful stop between steps, or a holder that could
 * not go on for a reason outside the run): the attempt its claim counted is taken back. Fenced by the holder's epoch.
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

/** Puts a run back as `retry`, claimable from `delaySeconds` from now, after a failure of the run itself. Fenced. */
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

/** The terminal status a run ends with, and the placeholders (from the caller's statement) for what it records. */
export interface RunEndUpdate {
  status: string;
  runId: string;
  epoch: string;
  errorMessage: string;
  terminationReason: string;
  completedAt: string;
  durationMs: string;
  rootHash: string;
}

/**
 * The `the_run` step of endRunWithRecords' one statement (src/db/queries/run-end.ts): the run's terminal status,
 * fenced by the holder's epoch. Every other write of that statement selects from it, so a holder that lost the run
 * writes nothing. Its arguments are the statement's placeholders.
 */
export function endRunUpdate(end: RunEndUpdate): string {
  return `the_run as (
  update runs
  set status = ${end.status},
    error_message = ${end.errorMessage},
    termination_reason = ${end.terminationReason},
    completed_at = ${end.completedAt},
    duration_ms = ${end.durationMs},
    chain_head = coalesce(${end.rootHash}, chain_head),
    worker_id = null,
    lease_expires_at = null,
    next_attempt_at = null
  where id = ${end.runId} and epoch = ${end.epoch} and status = 'running'
  returning id, tenant_id, agent_id, goal, plan_json, attempts, cost_cents, started_at, created_at
)`;
}
