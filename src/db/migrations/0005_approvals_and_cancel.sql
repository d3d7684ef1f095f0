-- 0005: approvals and cancellation. A step that needs approval parks its run in pending_approval; a person's
-- approval is recorded here and then in the trace (the approved step's decision names who and when).
-- A cancel request on a running run is a flag the worker reads back with each step it records.

create table run_approvals (
  run_id text not null references runs (id),
  step_index integer not null check (step_index >= 0),
  tenant_id text not null references tenants (id),
  decision text not null check (decision in ('approved', 'rejected')),
  decided_by text not null check (decided_by <> ''),
  decided_at timestamptz not null,
  primary key (run_id, step_index)
);

alter table runs add column cancel_requested_at timestamptz;
