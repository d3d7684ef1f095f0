-- 0012: trace format v2 (docs/proofs.md). What is hashed is stored, as the exact bytes that were hashed: the trace
-- header, the plan and the run-end on the trace row, each step's header and payloads on its row; every row carries
-- a write-time attestation made with a key that never enters the database. The jsonb and scalar columns stay, as
-- copies for queries that `aos proof` compares with the bytes. Rows written before this keep format v1.

alter table aos_traces
  add column header_jcs bytea,
  add column plan_jcs bytea,
  add column run_end_jcs bytea,
  add column attestation text;

alter table aos_trace_steps
  add column header_jcs bytea,
  add column params_jcs bytea,
  add column outcome_jcs bytea,
  add column error_jcs bytea,
  add column attestation text;

-- A v2 trace has its creation bytes and attestation from its first moment; a v1 trace has none of the v2 columns.
alter table aos_traces add constraint aos_traces_format_bytes check (
  (schema_version = 'aos-trace-v1' and header_jcs is null and plan_jcs is null and run_end_jcs is null and attestation is null)
  or (schema_version = 'aos-trace-v2' and header_jcs is not null and plan_jcs is not null and attestation is not null)
);

-- A v2 step row has its header and attestation; a v1 row has neither.
alter table aos_trace_steps add constraint aos_trace_steps_format_bytes check ((header_jcs is null) = (attestation is null));

-- As in 0008, a row has its payload or is pruned, never half of each; a pruned v2 row has lost its payload bytes too.
alter table aos_trace_steps drop constraint aos_trace_steps_pruned_payload;
alter table aos_trace_steps add constraint aos_trace_steps_pruned_payload check (
  (pruned_at is null and params is not null and (header_jcs is null or params_jcs is not null))
  or (pruned_at is not null and params is null and outcome_data is null and error is null
      and params_jcs is null and outcome_jcs is null and error_jcs is null)
);

-- A worker that finds a trace it did not write (a row that fails its attestation) ends the run as `tampered`.
alter table runs drop constraint runs_termination_reason_check;
alter table runs add constraint runs_termination_reason_check check (
  termination_reason is null or termination_reason in (
    'completed', 'step_failed', 'plan_invalid', 'policy_block', 'budget_exhausted', 'rate_limited', 'user_abort',
    'system_failure', 'timeout', 'tampered'
  )
);

-- An approval and a cancel request are inputs to a run's execution, so they are attested like the rows of the trace.
alter table run_approvals add column attestation text;
alter table runs add column cancel_attestation text;

-- Immutability ("S6") as in 0008, the prune exception now also emptying the payload bytes: every column except the
-- six payload columns and pruned_at stays as written (compared as the whole row, so later columns are covered).
create or replace function aos_trace_steps_immutable() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE'
     and old.pruned_at is null and new.pruned_at is not null
     and new.params is null and new.outcome_data is null and new.error is null
     and new.params_jcs is null and new.outcome_jcs is null and new.error_jcs is null
     and to_jsonb(new) - 'params' - 'outcome_data' - 'error' - 'params_jcs' - 'outcome_jcs' - 'error_jcs' - 'pruned_at'
       = to_jsonb(old) - 'params' - 'outcome_data' - 'error' - 'params_jcs' - 'outcome_jcs' - 'error_jcs' - 'pruned_at'
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

-- As in 0001, plus the v2 bytes: the header, plan and attestation never change; the run-end is written once, with
-- the finalization hashes.
create or replace function aos_traces_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'S6_IMMUTABILITY_VIOLATION: aos_traces rows cannot be deleted (trace %)', old.trace_id;
  end if;
  if (new.id, new.trace_id, new.run_id, new.correlation_id, new.tenant_id, new.agent_id, new.plan_hash,
      new.schema_version, new.started_at, new.created_at, new.header_jcs, new.plan_jcs, new.attestation)
     is distinct from
     (old.id, old.trace_id, old.run_id, old.correlation_id, old.tenant_id, old.agent_id, old.plan_hash,
      old.schema_version, old.started_at, old.created_at, old.header_jcs, old.plan_jcs, old.attestation) then
    raise exception 'S6_IMMUTABILITY_VIOLATION: trace % may only change status, completed_at and metadata',
      old.trace_id;
  end if;
  if (old.root_hash is not null and new.root_hash is distinct from old.root_hash)
     or (old.merkle_root is not null and new.merkle_root is distinct from old.merkle_root)
     or (old.tree_size is not null and new.tree_size is distinct from old.tree_size)
     or (old.run_end_jcs is not null and new.run_end_jcs is distinct from old.run_end_jcs) then
    raise exception 'S6_IMMUTABILITY_VIOLATION: trace % finalization hashes are written once', old.trace_id;
  end if;
  return new;
end
$$;
