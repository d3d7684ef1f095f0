-- 0008: retention. `aos prune` removes the payload of a finished run's old trace steps (params, outcome_data, error)
-- and keeps everything else, hashes included, so the run's proof still checks every leaf against the chain and the
-- signed checkpoint. Pruning is the one change a trace step row may ever undergo.

alter table aos_trace_steps alter column params drop not null;
alter table aos_trace_steps add column pruned_at timestamptz;

-- A row has its payload or is pruned, never half of each; this holds even where triggers are switched off.
alter table aos_trace_steps add constraint aos_trace_steps_pruned_payload check (
  (pruned_at is null and params is not null)
  or (pruned_at is not null and params is null and outcome_data is null and error is null)
);

-- Immutability ("S6"), with one exception: a prune, i.e. the payload set to NULL and pruned_at set once, every other
-- column unchanged, on a step of a run that has ended. The comparison is over the whole row minus those four
-- columns, so a column added later is immutable without editing this function. The run's status is read without
-- a lock: a terminal status is never left, so it cannot change between this check and the commit.
create or replace function aos_trace_steps_immutable() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE'
     and old.pruned_at is null and new.pruned_at is not null
     and new.params is null and new.outcome_data is null and new.error is null
     and to_jsonb(new) - 'params' - 'outcome_data' - 'error' - 'pruned_at'
       = to_jsonb(old) - 'params' - 'outcome_data' - 'error' - 'pruned_at'
     and exists (
       select 1
       from aos_traces t
       join runs r on r.id = t.run_id
       where t.trace_id = old.trace_id and r.status in ('succeeded', 'failed', 'halted', 'cancelled')
     ) then
    return new;
  end if;
  raise exception 'S6_IMMUTABILITY_VIOLATION: aos_trace_steps is append-only (% on trace %, seq %); the only change allowed is a prune of a finished run''s step payload',
    tg_op, old.trace_id, old.seq;
end
$$;
