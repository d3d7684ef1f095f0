-- 0009: the kv_store skill's PostgreSQL backend (used when REDIS_URL is not set). Entries are scoped by tenant and
-- namespace; the key is the whole primary key, so no query can reach an entry without naming its tenant.

-- An entry whose expires_at has passed is invisible to every read and is replaced by the next write; reads delete
-- it as they meet it, so no sweeper is needed for correctness.
create table kv_store (
  tenant_id text not null references tenants (id),
  namespace text not null check (namespace ~ '^[a-z0-9_-]{1,64}$'),
  key text not null check (length(key) between 1 and 256),
  value jsonb not null,
  expires_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, namespace, key)
);

-- The writes kv_store has applied, by the step's idempotency key (`<run_id>:<step_index>`), with what they
-- returned: a retried or resumed attempt of the same step gets the recorded result instead of applying again.
-- request_hash tells a repeat of the same request from a different one that reuses the key. Written in the
-- transaction that applies the write, so a record exists exactly when its write does.
create table kv_idempotency (
  tenant_id text not null references tenants (id),
  idempotency_key text not null,
  request_hash text not null,
  result jsonb,
  expires_at timestamptz not null,
  primary key (tenant_id, idempotency_key)
);
