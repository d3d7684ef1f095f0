-- 0001: the core run path. Tenants, agents, runs, and the append-only trace (aos_traces, aos_trace_steps).
-- Table and column names follow upstream AOS so its SQL checks run unchanged.

create table tenants (
  id text primary key check (id <> ''),
  name text not null,
  created_at timestamptz not null default now()
);

create table agents (
  id text primary key,
  tenant_id text not null references tenants (id),
  name text not null check (name <> ''),
  description text,
  status text not null default 'active' check (status in ('active', 'paused', 'disabled', 'maintenance')),
  is_default boolean not null default false,
  capabilities_json jsonb not null default '{}',
  planner_config_json jsonb not null default '{}',
  rate_limit_rpm integer not null default 60 check (rate_limit_rpm > 0),
  concurrent_runs_limit integer not null default 5 check (concurrent_runs_limit > 0),
  budget_cents bigint check (budget_cents >= 0),
  spent_cents bigint not null default 0 check (spent_cents >= 0),
  budget_alert_threshold integer not null default 80,
  -- Hosts this agent's skills may reach even where the SSRF guard would block them (e.g. a loopback test server).
  allowed_hosts text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index agents_tenant_idx on agents (tenant_id, created_at);
-- At most one default agent per tenant: the one `aos run` uses when no --agent-id is given.
create unique index agents_default_per_tenant on agents (tenant_id) where is_default;

create table runs (
  id text primary key,
  tenant_id text not null references tenants (id),
  agent_id text not null references agents (id) check (agent_id <> 'legacy-unknown'),
  goal text not null,
  status text not null check (
    status in ('queued', 'running', 'retry', 'pending_approval', 'succeeded', 'failed', 'halted', 'cancelled')
  ),
  attempts integer not null default 0 check (attempts >= 0),
  error_message text,
  plan_json jsonb,
  tool_calls_json jsonb,
  origin_system_id varchar(100) not null check (origin_system_id <> '' and origin_system_id <> 'legacy-migration'),
  actor_type text not null default 'SYSTEM' check (actor_type in ('HUMAN', 'SYSTEM', 'SERVICE')),
  actor_id text,
  idempotency_key text,
  parent_run_id text references runs (id),
  priority integer not null default 0,
  termination_reason text check (
    termination_reason is null or termination_reason in (
      'completed', 'step_failed', 'plan_invalid', 'policy_block', 'budget_exhausted', 'rate_limited',
      'user_abort', 'system_failure', 'timeout'
    )
  ),
  cost_cents bigint not null default 0 check (cost_cents >= 0),
  -- The execution cursor, advanced in the same statement that records each trace step.
  next_seq integer not null default 0,
  next_step_index integer not null default 0,
  chain_head char(64),
  -- The lease: who holds the run, until when, and the fencing epoch every write of the holder is checked against.
  worker_id text,
  lease_expires_at timestamptz,
  epoch integer not null default 0,
  created_at timestamptz not null,
  started_at timestamptz,
  completed_at timestamptz,
  next_attempt_at timestamptz,
  duration_ms double precision,
  -- A run can only be claimable once its plan is stored.
  constraint runs_plan_before_claimable check (status not in ('queued', 'running', 'retry') or plan_json is not null),
  constraint runs_actor_id_for_humans check (
    (actor_type = 'HUMAN' and actor_id is not null and actor_id <> '')
    or (actor_type <> 'HUMAN' and (actor_id is null or actor_id = ''))
  )
);
create index runs_tenant_created_idx on runs (tenant_id, created_at desc);
create index runs_agent_idx on runs (agent_id);
-- The claim reads only claimable runs; a partial index keeps it from rescanning finished ones.
create index runs_claimable_idx on runs (created_at) where status in ('queued', 'retry');

create table aos_traces (
  id uuid primary key default gen_random_uuid(),
  trace_id varchar(64) not null unique,
  run_id text not null unique references runs (id),
  correlation_id text not null,
  tenant_id text not null references tenants (id),
  agent_id text not null,
  plan_hash char(64) not null,
  schema_version text not null default 'aos-trace-v1',
  status varchar(32) not null default 'running' check (status in ('running', 'completed', 'failed', 'aborted')),
  -- Finalization hashes: NULL while the run is in progress, written once when it ends.
  root_hash char(64),
  merkle_root char(64),
  tree_size integer,
  metadata jsonb not null default '{}',
  started_at timestamptz not null,
  completed_at timestamptz,
  created_at timestamptz not null,
  constraint aos_traces_trace_id_format check (trace_id = 'trace_' || run_id)
);
create index aos_traces_tenant_idx on aos_traces (tenant_id);

create table aos_trace_steps (
  id uuid primary key default gen_random_uuid(),
  trace_id varchar(64) not null references aos_traces (trace_id),
  seq integer not null check (seq >= 0),
  step_index integer not null check (step_index >= 0),
  step_id text not null,
  attempt integer not null check (attempt >= 1),
  skill_name text not null,
  skill_version text not null,
  params jsonb not null,
  status varchar(32) not null check (status in ('succeeded', 'failed')),
  outcome_code text not null,
  outcome_data jsonb,
  error jsonb,
  cost_cents bigint not null default 0 check (cost_cents >= 0),
  tokens integer not null default 0 check (tokens >= 0),
  duration_ms integer not null check (duration_ms >= 0),
  started_at timestamptz not null,
  completed_at timestamptz not null,
  decision jsonb,
  leaf_hash char(64) not null,
  chain_hash char(64) not null,
  created_at timestamptz not null default now(),
  -- One row per leaf position: two writers can never fork a trace.
  constraint aos_trace_steps_seq_unique unique (trace_id, seq)
);
create index aos_trace_steps_step_idx on aos_trace_steps (trace_id, step_index, attempt);

-- Immutability ("S6"): a trace step, once written, is never changed or removed.
create function aos_trace_steps_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'S6_IMMUTABILITY_VIOLATION: aos_trace_steps is append-only (% on trace %, seq %)',
    tg_op, old.trace_id, old.seq;
end
$$;
create trigger aos_trace_steps_no_update before update on aos_trace_steps
  for each row execute function aos_trace_steps_immutable();
create trigger aos_trace_steps_no_delete before delete on aos_trace_steps
  for each row execute function aos_trace_steps_immutable();

-- A trace may change only its lifecycle fields (status, completed_at, metadata), and have its finalization
-- hashes written once, from NULL to a value. Everything else is content and stays as first written.
create function aos_traces_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'S6_IMMUTABILITY_VIOLATION: aos_traces rows cannot be deleted (trace %)', old.trace_id;
  end if;
  if (new.id, new.trace_id, new.run_id, new.correlation_id, new.tenant_id, new.agent_id, new.plan_hash,
      new.schema_version, new.started_at, new.created_at)
     is distinct from
     (old.id, old.trace_id, old.run_id, old.correlation_id, old.tenant_id, old.agent_id, old.plan_hash,
      old.schema_version, old.started_at, old.created_at) then
    raise exception 'S6_IMMUTABILITY_VIOLATION: trace % may only change status, completed_at and metadata',
      old.trace_id;
  end if;
  if (old.root_hash is not null and new.root_hash is distinct from old.root_hash)
     or (old.merkle_root is not null and new.merkle_root is distinct from old.merkle_root)
     or (old.tree_size is not null and new.tree_size is distinct from old.tree_size) then
    raise exception 'S6_IMMUTABILITY_VIOLATION: trace % finalization hashes are written once', old.trace_id;
  end if;
  return new;
end
$$;
create trigger aos_traces_guard before update or delete on aos_traces
  for each row execute function aos_traces_guard();
