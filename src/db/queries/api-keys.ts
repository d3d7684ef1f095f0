import type { Queryable } from "../database.js";

/** An API key as it may be shown: never its hash, and the key itself is not stored at all. */
export interface StoredApiKey {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const API_KEY_COLUMNS = `id, tenant_id, name, prefix, created_at, revoked_at, last_used_at`;

function toStoredApiKey(row: ApiKeyRow): StoredApiKey {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

export interface NewApiKey {
  tenantId: string;
  name: string;
  prefix: string;
  keyHash: string;
}

export async function insertApiKey(db: Queryable, key: NewApiKey): Promise<StoredApiKey> {
  const { rows } = await db.query<ApiKeyRow>(
    `insert into api_keys (tenant_id, name, prefix, key_hash)
values ($1::text, $2::text, $3::text, $4::text)
returning ${API_KEY_COLUMNS}`,
    [key.tenantId, key.name, key.prefix, key.keyHash],
  );
  return toStoredApiKey(rows[0] as ApiKeyRow);
}

/** A tenant's keys, revoked ones included (a list shows when each was revoked), oldest first. */
export async function findTenantApiKeys(db: Queryable, tenantId: string): Promise<StoredApiKey[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `select ${API_KEY_COLUMNS}
from api_keys
where tenant_id = $1::text
order by created_at, id`,
    [tenantId],
  );
  return rows.map(toStoredApiKey);
}

/** Revokes one of the tenant's keys; a key revoked before keeps its first revocation time. */
export async function setApiKeyRevoked(db: Queryable, tenantId: string, keyId: string): Promise<StoredApiKey | undefined> {
  const { rows } = await db.query<ApiKeyRow>(
    `update api_keys
set revoked_at = coalesce(revoked_at, now())
where tenant_id = $1::text and id = $2::uuid
returning ${API_KEY_COLUMNS}`,
    [tenantId, keyId],
  );
  return rows[0] && toStoredApiKey(rows[0]);
}

export interface KeyLookup {
  id: string;
  tenantId: string;
  revoked: boolean;
  /** Whether last_used_at is older than a minute (or unset), i.e. worth writing again. */
  stale: boolean;
}

/**
 * The key whose hash this is, across all tenants: authentication runs before any tenant is known, so on the
 * owner connection, not a tenant-scoped one. One probe of the unique index on key_hash.
 */
export async function findApiKeyByHash(db: Queryable, keyHash: string): Promise<KeyLookup | undefined> {
  const { rows } = await db.query<{ id: string; tenant_id: string; revoked: boolean; stale: boolean }>(
    `select id, tenant_id, revoked_at is not null as revoked,
  (last_used_at is null or last_used_at < now() - interval '1 minute') as stale
from api_keys
where key_hash = $1::text`,
    [keyHash],
  );
  const row = rows[0];
  return row && { id: row.id, tenantId: row.tenant_id, revoked: row.revoked, stale: row.stale };
}

/**
 * Records that a key was used, at most once a minute: the condition is re-checked here, so of concurrent requests
 * that all read a stale time, the first write wins and the others match no row.
 */
export async function touchApiKey(db: Queryable, keyId: string): Promise<void> {
  await db.query(
    `update api_keys
set last_used_at = now()
where id = $1::uuid and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
    [keyId],
  );
}
