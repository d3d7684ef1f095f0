-- 0004: the records every terminal run leaves, written in its finalizing transaction (never swallowed):
-- one incident, one policy-evaluation record (plus one per non-allow decision), one LLM run record when a model
-- was called, one integrity-evidence row, one provenance row, and a memory per executed step.

create table incidents (
  id text primary key check (id ~ '^inc_[0-9a-f]{16}$'),
  tenant_id text not null references tenants (id),
  source_run_id text not null unique references runs (id),
  source_type text not null default 'run',
  outcome text not null check (outcome in ('SUCCESS', 'FAILURE', 'BLOCKED', 'ABORTED')),
  title text not null,
  severity text not null check (severity in ('NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
  status text not null check (status in ('OPEN', 'CLOSED')),
  category text not null,
  trigger_type text not null,
  error_code text,
  error_message text,
  description text,
  impact_scope text not null default 'single_run',
  affected_agent_id text,
  affected_count integer not null default 1,
  started_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index incidents_tenant_idx on incidents (tenant_id, created_at desc);

create table prevention_records (
  id text primary key,
  tenant_id text not null references tenants (id),
  run_id text not null references runs (id),
  -- 'run_summary': the one per run; 'decision': one per non-allow decision.
  kind text not null check (kind in ('run_summary', 'decision')),
  policy_id text not null,
  pattern_id text not null,
  outcome text not null check (outcome in ('no_violation', 'advisory', 'blocked', 'not_applicable')),
  step_seq integer,
  reason text,
  policy_hash text,
  signature_match_confidence double precision not null,
  created_at timestamptz not null default now()
);
create index prevention_records_run_idx on prevention_records (run_id);
create unique index prevention_records_one_summary on prevention_records (run_id) where kind = 'run_summary';

create table llm_run_records (
  id text primary key,
  tenant_id text not null references tenants (id),
  run_id text not null unique references runs (id),
  trace_id text,
  provider text not null,
  model text not null,
  prompt_hash text,
  response_hash text,
  input_tokens integer not null default 0,
  output_tokens integer not null default 0,
  cost_cents bigint not null default 0,
  execution_status text not null check (execution_status in ('SUCCEEDED', 'FAILED', 'ABORTED', 'TIMEOUT')),
  source text not null default 'WORKER' check (source in ('API', 'SDK', 'SYSTEM', 'SYNTHETIC', 'WORKER')),
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now()
);

create function llm_run_records_write_once() returns trigger language plpgsql as $$
begin
  raise exception 'S6_IMMUTABILITY_VIOLATION: llm_run_records are write-once (% on %)', tg_op, old.id;
end
$$;
create trigger llm_run_records_no_update before update on llm_run_records
  for each row execute function llm_run_records_write_once();
create trigger llm_run_records_no_delete before delete on llm_run_records
  for each row execute function llm_run_records_write_once();

create table integrity_evidence (
  id text primary key,
  tenant_id text not null references tenants (id),
  run_id text not null unique references runs (id),
  expected_artifacts text[] not null,
  observed_artifacts text[] not null,
  missing_artifacts text[] not null,
  missing_reasons jsonb not null default '{}',
  integrity_score double precision not null check (integrity_score between 0 and 1),
  integrity_status text not null check (integrity_status in ('VALID', 'DEGRADED', 'FAILED')),
  verification_method text not null default 'finalizing_transaction',
  verification_timestamp timestamptz not null default now()
);

create table provenance (
  id text primary key,
  tenant_id text not null references tenants (id),
  run_id text not null unique references runs (id),
  agent_id text not null,
  goal text not null,
  status text not null,
  plan_json jsonb,
  error_message text,
  attempts integer not null,
  cost_cents bigint not null,
  root_hash char(64),
  started_at timestamptz,
  completed_at timestamptz,
  duration_ms double precision,
  created_at timestamptz not null default now()
);

create table memories (
  id text primary key,
  tenant_id text not null references tenants (id),
  agent_id text not null,
  run_id text not null references runs (id),
  memory_type text not null check (memory_type in ('skill_result', 'user_input', 'system', 'context')),
  text text not null,
  meta jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index memories_agent_idx on memories (agent_id, created_at desc);
