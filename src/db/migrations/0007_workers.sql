-- 0007: durable workers. Intent rows for skills with external side effects, each agent's concurrent-runs limit
-- kept as a counter, a registry of live workers, and the indexes the claim and the
-- reaper read.

-- `started`: the intent row a skill with external side effects gets before it calls out. `interrupted`: the row a
-- reclaimed run records for an attempt whose intent has no outcome (the worker died in between).
alter table aos_trace_steps drop constraint aos_trace_steps_status_check;
alter table aos_trace_steps add constraint aos_trace_steps_status_check
  check (status in ('succeeded', 'failed', 'blocked', 'started', 'interrupted'));

-- How many of an agent's runs are `running` now, kept by the trigger below on every status change, so the claim can
-- honour concurrent_runs_limit by locking one row instead of counting runs.
alter table agents add column running_runs integer not null default 0 check (running_runs >= 0);
update agents a set running_runs = (select count(*) from runs r where r.agent_id = a.id and r.status = 'running');

create function runs_count_running() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    if new.status = 'running' then
      update agents set running_runs = running_runs + 1 where id = new.agent_id;
    end if;
  elsif old.status = 'running' and new.status <> 'running' then
    update agents set running_runs = running_runs - 1 where id = old.agent_id;
  elsif old.status <> 'running' and new.status = 'running' then
    update agents set running_runs = running_runs + 1 where id = new.agent_id;
  end if;
  return null;
end
$$;
create trigger runs_count_running after insert or update of status on runs
  for each row execute function runs_count_running();

-- The claim walks tenants that have claimable runs, and in each takes the most urgent one.
drop index runs_claimable_idx;
create index runs_queue_idx on runs (tenant_id, priority desc, created_at) where status in ('queued', 'retry');
-- The reaper reads running runs by lease expiry.
create index runs_lease_idx on runs (lease_expires_at) where status = 'running';

-- Live workers, for operators and for `aos run` to know whether a worker will pick its run up.
create table workers (
  id text primary key,
  pid integer not null,
  host text not null,
  concurrency integer not null check (concurrency > 0),
  started_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  stopped_at timestamptz
);
