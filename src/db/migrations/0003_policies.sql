-- 0003: governance. Policies as versioned data per tenant and agent, and `blocked` trace steps: a step the
-- policy engine denied is recorded (with its decision, inside the proof) instead of executed.

create table policies (
  id text primary key,
  tenant_id text not null references tenants (id),
  -- NULL: the tenant's policy; otherwise one agent's, which can only narrow the tenant's.
  agent_id text references agents (id),
  version integer not null check (version >= 1),
  document jsonb not null,
  content_hash char(64) not null,
  created_by text,
  created_at timestamptz not null default now()
);
create unique index policies_version_unique on policies (tenant_id, coalesce(agent_id, ''), version);

-- Versions are never changed or removed: a decision's policy hash always names a version that still exists.
create function policies_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'S6_IMMUTABILITY_VIOLATION: policies are versioned; set a new version instead (% on %)', tg_op, old.id;
end
$$;
create trigger policies_no_update before update on policies for each row execute function policies_immutable();
create trigger policies_no_delete before delete on policies for each row execute function policies_immutable();

alter table aos_trace_steps drop constraint aos_trace_steps_status_check;
alter table aos_trace_steps add constraint aos_trace_steps_status_check check (status in ('succeeded', 'failed', 'blocked'));

-- The steps-per-minute rule counts an agent's recent steps across its runs.
create index aos_traces_agent_idx on aos_traces (agent_id);
