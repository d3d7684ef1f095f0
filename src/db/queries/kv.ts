import type { Queryable } from "../database.js";

// kv_store's entries and the writes it has applied. Every statement names the tenant and namespace in its key, so
// a tenant's entries are reachable only through that tenant's id. An expired entry (expires_at <= now()) is
// invisible to every statement here and is overwritten by the next write, as if it were gone.

export interface KvEntryKey {
  tenantId: string;
  namespace: string;
  key: string;
}

export interface KvEntryRow {
  value: unknown;
  /** Whole seconds left, rounded up; null for an entry that never expires. */
  ttl_seconds: number | null;
}

/**
 * A live entry, or undefined. The same statement deletes the entry if it has expired (the select still reads the
 * snapshot from before the delete, hence its own filter), so expired entries go away as they are met.
 */
export async function readKvEntry(db: Queryable, entry: KvEntryKey): Promise<KvEntryRow | undefined> {
  const { rows } = await db.query<KvEntryRow>(
    `with expired as (
  delete from kv_store
  where tenant_id = $1::text and namespace = $2::text and key = $3::text and expires_at <= now()
)
select value, ceil(extract(epoch from expires_at - now()))::int as ttl_seconds
from kv_store
where tenant_id = $1::text and namespace = $2::text and key = $3::text
  and (expires_at is null or expires_at > now())`,
    [entry.tenantId, entry.namespace, entry.key],
  );
  return rows[0];
}

/** Stores a value; a null ttl means the entry never expires (any earlier TTL is dropped). */
export async function setKvEntry(db: Queryable, entry: KvEntryKey, valueJson: string, ttlSeconds: number | null): Promise<void> {
  await db.query(
    `insert into kv_store as kv (tenant_id, namespace, key, value, expires_at)
values ($1::text, $2::text, $3::text, $4::jsonb, now() + make_interval(secs => $5::int))
on conflict (tenant_id, namespace, key) do update
set value = excluded.value, expires_at = excluded.expires_at, updated_at = now()`,
    [entry.tenantId, entry.namespace, entry.key, valueJson, ttlSeconds],
  );
}

/** True when a live entry was deleted; an expired one is deleted too, but did not exist as far as callers know. */
export async function deleteKvEntry(db: Queryable, entry: KvEntryKey): Promise<boolean> {
  const { rows } = await db.query<{ live: boolean }>(
    `delete from kv_store
where tenant_id = $1::text and namespace = $2::text and key = $3::text
returning expires_at is null or expires_at > now() as live`,
    [entry.tenantId, entry.namespace, entry.key],
  );
  return rows[0]?.live === true;
}

/**
 * Adds `by` to an integer entry and returns the new value, or undefined when the entry holds anything else or the
 * result would pass ±maxInteger. One upsert, so it is atomic under concurrency: concurrent increments of one
 * entry queue on its row lock and each adds to the value the previous one committed (the do-update arm re-reads
 * the latest row version), and two that create the entry at once resolve to one insert and one update through
 * the primary key. A missing or expired entry starts from `by` with no TTL; a live one keeps its TTL. The CASE in
 * the filter makes sure a non-number is never cast to numeric (which would raise instead of returning nothing).
 */
export async function incrementKvEntry(db: Queryable, entry: KvEntryKey, by: number, maxInteger: number): Promise<number | undefined> {
  const { rows } = await db.query<{ value: number }>(
    `insert into kv_store as kv (tenant_id, namespace, key, value)
values ($1::text, $2::text, $3::text, to_jsonb($4::bigint))
on conflict (tenant_id, namespace, key) do update
set value = case when kv.expires_at <= now() then excluded.value else to_jsonb(kv.value::numeric + $4::bigint) end,
  expires_at = case when kv.expires_at <= now() then null else kv.expires_at end,
  updated_at = now()
where kv.expires_at <= now()
  or case when jsonb_typeof(kv.value) = 'number'
       then kv.value::numeric = trunc(kv.value::numeric) and abs(kv.value::numeric + $4::bigint) <= $5::bigint
       else false
     end
returning value`,
    [entry.tenantId, entry.namespace, entry.key, by, maxInteger],
  );
  return rows[0]?.value;
}

/** Makes a live entry expire `ttlSeconds` from now; false when there is no live entry. */
export async function expireKvEntry(db: Queryable, entry: KvEntryKey, ttlSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `update kv_store
set expires_at = now() + make_interval(secs => $4::int), updated_at = now()
where tenant_id = $1::text and namespace = $2::text and key = $3::text
  and (expires_at is null or expires_at > now())`,
    [entry.tenantId, entry.namespace, entry.key, ttlSeconds],
  );
  return (rowCount ?? 0) > 0;
}

export interface KvIdempotencyClaim {
  tenantId: string;
  idempotencyKey: string;
  requestHash: string;
  ttlSeconds: number;
}

/**
 * Claims an idempotency key for a write about to be applied in the same transaction; false when the key has
 * already been used (and its record has not expired). Safe under concurrency through the primary key: a second
 * claim of a key whose first claim is uncommitted waits on the index entry until that transaction ends, then
 * either finds the committed record (false) or, after a rollback, claims the key itself. An expired record is
 * taken over in the same statement.
 */
export async function claimKvIdempotency(db: Queryable, claim: KvIdempotencyClaim): Promise<boolean> {
  const { rows } = await db.query(
    `insert into kv_idempotency as seen (tenant_id, idempotency_key, request_hash, expires_at)
values ($1::text, $2::text, $3::text, now() + make_interval(secs => $4::int))
on conflict (tenant_id, idempotency_key) do update
set request_hash = excluded.request_hash, result = null, expires_at = excluded.expires_at
where seen.expires_at <= now()
returning 1`,
    [claim.tenantId, claim.idempotencyKey, claim.requestHash, claim.ttlSeconds],
  );
  return rows.length > 0;
}

/** The result recorded with a claimed key, set in the transaction that claimed it. */
export async function recordKvIdempotencyResult(db: Queryable, tenantId: string, idempotencyKey: string, resultJson: string): Promise<void> {
  await db.query(
    `update kv_idempotency set result = $3::jsonb where tenant_id = $1::text and idempotency_key = $2::text`,
    [tenantId, idempotencyKey, resultJson],
  );
}

export interface KvIdempotencyRow {
  request_hash: string;
  result: unknown;
}

/** A used key's record; a separate statement from the claim, so that it sees a record committed while the claim waited. */
export async function findKvIdempotency(db: Queryable, tenantId: string, idempotencyKey: string): Promise<KvIdempotencyRow | undefined> {
  const { rows } = await db.query<KvIdempotencyRow>(
    `select request_hash, result from kv_idempotency where tenant_id = $1::text and idempotency_key = $2::text`,
    [tenantId, idempotencyKey],
  );
  return rows[0];
}
