import { AppError } from "../../errors.js";
import type { Queryable } from "../database.js";

/** How long an Idempotency-Key holds its run: a record older than this is replaced by the next use of the key. */
export const RUN_REQUEST_TTL_HOURS = 24;

/** The run an Idempotency-Key created, and the hash of the request that created it. */
export interface RunRequest {
  runId: string;
  requestHash: string;
  createdAt: Date;
}

interface RunRequestRow {
  run_id: string;
  request_hash: string;
  created_at: Date;
}

function toRunRequest(row: RunRequestRow): RunRequest {
  return { runId: row.run_id, requestHash: row.request_hash, createdAt: row.created_at };
}

/** The key's record if it is younger than the TTL; an older one counts as absent. */
export async function findRunRequest(db: Queryable, tenantId: string, idempotencyKey: string): Promise<RunRequest | undefined> {
  const { rows } = await db.query<RunRequestRow>(
    `select run_id, request_hash, created_at
from run_requests
where tenant_id = $1::text and idempotency_key = $2::text
  and created_at > now() - make_interval(hours => $3::int)`,
    [tenantId, idempotencyKey, RUN_REQUEST_TTL_HOURS],
  );
  return rows[0] && toRunRequest(rows[0]);
}

export interface NewRunRequest {
  tenantId: string;
  idempotencyKey: string;
  runId: string;
  requestHash: string;
}

/**
 * Takes the key for `request.runId`, inside the transaction that inserts that run (the row's run_id reference is
 * checked at commit, once the run exists). Returns undefined when the key was free, or held by a record older than
 * the TTL, which is replaced; otherwise the fresh record that holds it, and nothing is written.
 *
 * Safe under concurrency through the primary key: of two transactions taking the same key, the second waits on
 * the first's uncommitted row. If the first commits, the second's ON CONFLICT finds a fresh row, updates nothing
 * and returns no row, and the SELECT that follows, a new statement with a new snapshot under READ COMMITTED, reads
 * the committed record; if the first rolls back, the second inserts. So one key makes one run. The two cannot be
 * one statement: a statement's snapshot is taken before it waits, and would not see the row it waited for.
 */
export async function claimRunRequest(db: Queryable, request: NewRunRequest): Promise<RunRequest | undefined> {
  const taken = await db.query(
    `insert into run_requests (tenant_id, idempotency_key, run_id, request_hash)
values ($1::text, $2::text, $3::text, $4::text)
on conflict (tenant_id, idempotency_key) do update
set run_id = excluded.run_id, request_hash = excluded.request_hash, created_at = excluded.created_at
where run_requests.created_at <= now() - make_interval(hours => $5::int)`,
    [request.tenantId, request.idempotencyKey, request.runId, request.requestHash, RUN_REQUEST_TTL_HOURS],
  );
  if (taken.rowCount === 1) return undefined;
  const { rows } = await db.query<RunRequestRow>(
    `select run_id, request_hash, created_at
from run_requests
where tenant_id = $1::text and idempotency_key = $2::text`,
    [request.tenantId, request.idempotencyKey],
  );
  const held = rows[0];
  // Unreachable while run_requests rows are never deleted; if they ever are, retrying takes the key cleanly.
  if (held === undefined) throw new AppError("CONFLICT", `the Idempotency-Key "${request.idempotencyKey}" changed hands while being taken`);
  return toRunRequest(held);
}
