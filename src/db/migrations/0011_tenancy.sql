-- 0011: tenancy for the HTTP API. API keys (stored hashed), the API's idempotency records for run creation, and
-- row-level security on every tenant table: a transaction that runs as the role aos_tenant sees and writes only the
-- rows of the tenant named by the setting aos.tenant_id (src/db/tenant-scope.ts sets both, transaction-locally).
-- RLS is ENABLEd, not FORCEd: the tables' owner (the connection that migrates, and that workers and the CLI use) is
-- not subject to it, and a superuser never is. Design and operator notes: docs/tenancy.md.

-- A key is `aos_` + base64url of 32 random bytes. Only its SHA-256 is stored. A fast unsalted hash is right here
-- (unlike for passwords): the key has 256 bits of entropy, so there is nothing to brute-force or look up in a
-- table, and an exact hash lets a request find its key through the unique index in one probe.
create table api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id text not null references tenants (id),
  name text not null check (length(name) between 1 and 100),
  -- The key's first characters, for people to recognise it in a list; far too short to guess the rest from.
  prefix text not null check (prefix ~ '^aos_[A-Za-z0-9_-]{8}$'),
  key_hash char(64) not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  -- Written at most once a minute per key, so authenticating is a read, not a write, on nearly every request.
  last_used_at timestamptz
);
create index api_keys_tenant_idx on api_keys (tenant_id, created_at);

-- The API's Idempotency-Key for run creation: the same key within 24 hours returns the run it first created.
-- request_hash (SHA-256 of the canonical request) tells a repeat from a different request that reuses the key.
-- The row is inserted before its run in the run's transaction, to take the key (concurrent requests with the same
-- key wait on the primary key and then find it taken), so the run_id reference is checked at commit.
create table run_requests (
  tenant_id text not null references tenants (id),
  idempotency_key text not null check (length(idempotency_key) between 1 and 255),
  run_id text not null references runs (id) deferrable initially deferred,
  request_hash char(64) not null check (request_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  primary key (tenant_id, idempotency_key)
);

-- The role tenant-scoped transactions switch to (SET LOCAL ROLE). Roles belong to the whole cluster, not to this
-- database, so another database's migration may have created it already, or may be creating it right now: the
-- check skips the usual case, the handler the race (the loser of two concurrent CREATE ROLEs fails with
-- unique_violation on pg_authid, or duplicate_object if the winner committed first).
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'aos_tenant') then
    create role aos_tenant nologin;
  end if;
exception
  when duplicate_object or unique_violation then null;
  when insufficient_privilege then
    raise exception 'migration 0011 needs the role aos_tenant, which % may not create: ask an administrator to run "create role aos_tenant nologin; grant aos_tenant to %;" (docs/tenancy.md)',
      current_user, quote_ident(current_user);
end
$$;

-- The connection may only switch to a role it is a member of. A superuser is a member of every role already; any
-- other migrating user needs CREATEROLE (or an operator who has run this grant, see docs/tenancy.md).
do $$
begin
  if not pg_has_role(current_user, 'aos_tenant', 'member') then
    grant aos_tenant to current_user;
  end if;
exception
  when unique_violation then null;
  when insufficient_privilege then
    raise exception 'migration 0011 needs the role aos_tenant granted to %, who may not grant it: ask an administrator to run "grant aos_tenant to %;" (docs/tenancy.md)',
      current_user, quote_ident(current_user);
end
$$;

-- Grants are explicit, per table, here and in every later migration that adds a tenant table (together with its
-- policy); there are no default privileges, so a new table that forgets its policy is refused to aos_tenant
-- rather than readable across tenants. aos_migrations is not granted at all. workers holds no tenant data (ids,
-- pids and host names of worker processes); tenant-scoped code may read it to know whether a worker is alive.
-- No table has a sequence, so none needs a grant.
grant usage on schema public to aos_tenant;
grant select, insert, update, delete on
  tenants, agents, runs, aos_traces, aos_trace_steps, aos_checkpoints, policies, incidents, prevention_records,
  llm_run_records, integrity_evidence, provenance, memories, run_approvals, tenant_daily_spend, kv_store,
  kv_idempotency, calendar_events, api_keys, run_requests
  to aos_tenant;
grant select on workers to aos_tenant;

-- One policy per tenant table, for aos_tenant only, for every command: rows are visible (USING) and writable (WITH
-- CHECK) only when their tenant is the transaction's. current_setting(…, true) is NULL when the setting was never
-- made in the session, and '' after a transaction that made it ended; neither equals a tenant id (never ''), so a
-- query without the setting sees no rows and can write none. Triggers run as the role that fired them, so they
-- too reach only the tenant's own rows (the running_runs counter, the S6 guards); foreign-key checks run as the
-- owner and are unaffected.
alter table tenants enable row level security;
create policy tenant_isolation on tenants to aos_tenant
  using (id = current_setting('aos.tenant_id', true))
  with check (id = current_setting('aos.tenant_id', true));

alter table agents enable row level security;
create policy tenant_isolation on agents to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table runs enable row level security;
create policy tenant_isolation on runs to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table aos_traces enable row level security;
create policy tenant_isolation on aos_traces to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

-- Trace steps carry no tenant_id (their content is hashed, and adding a column would not change what is proven):
-- a step belongs to the tenant of its trace. The lookup is one probe of aos_traces' unique trace_id index.
alter table aos_trace_steps enable row level security;
create policy tenant_isolation on aos_trace_steps to aos_tenant
  using (exists (
    select 1 from aos_traces t
    where t.trace_id = aos_trace_steps.trace_id and t.tenant_id = current_setting('aos.tenant_id', true)
  ))
  with check (exists (
    select 1 from aos_traces t
    where t.trace_id = aos_trace_steps.trace_id and t.tenant_id = current_setting('aos.tenant_id', true)
  ));

alter table aos_checkpoints enable row level security;
create policy tenant_isolation on aos_checkpoints to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table policies enable row level security;
create policy tenant_isolation on policies to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table incidents enable row level security;
create policy tenant_isolation on incidents to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table prevention_records enable row level security;
create policy tenant_isolation on prevention_records to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table llm_run_records enable row level security;
create policy tenant_isolation on llm_run_records to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table integrity_evidence enable row level security;
create policy tenant_isolation on integrity_evidence to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table provenance enable row level security;
create policy tenant_isolation on provenance to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table memories enable row level security;
create policy tenant_isolation on memories to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table run_approvals enable row level security;
create policy tenant_isolation on run_approvals to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table tenant_daily_spend enable row level security;
create policy tenant_isolation on tenant_daily_spend to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table kv_store enable row level security;
create policy tenant_isolation on kv_store to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table kv_idempotency enable row level security;
create policy tenant_isolation on kv_idempotency to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table calendar_events enable row level security;
create policy tenant_isolation on calendar_events to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table api_keys enable row level security;
create policy tenant_isolation on api_keys to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));

alter table run_requests enable row level security;
create policy tenant_isolation on run_requests to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));
