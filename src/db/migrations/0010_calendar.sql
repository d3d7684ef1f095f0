-- 0010: the calendar_write skill's events, one calendar table for every tenant, scoped by tenant_id in every key
-- and index so that no query can reach an event without naming its tenant.

-- uid is the event's RFC 5545 UID, derived from the tenant and the step's idempotency key, so a retried step
-- builds the same .ics. agent_id, run_id and step_index say which step wrote the event; they are plain values, not
-- foreign keys, because an event is the tenant's data and outlives whatever happens to the run that made it.
create table calendar_events (
  tenant_id text not null references tenants (id),
  id uuid not null default gen_random_uuid(),
  calendar text not null default 'default' check (calendar ~ '^[a-z0-9_-]{1,64}$'),
  uid text not null check (uid <> ''),
  title text not null check (length(title) between 1 and 255),
  description text,
  location text,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  attendees jsonb not null default '[]' check (jsonb_typeof(attendees) = 'array'),
  agent_id text,
  run_id text,
  step_index integer,
  idempotency_key text not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  constraint calendar_events_ends_after_start check (ends_at > starts_at),
  -- A retried or resumed step carries the same key (`<run_id>:<step_index>`): it finds the event its first attempt
  -- wrote instead of writing a second one.
  constraint calendar_events_idempotency_key unique (tenant_id, idempotency_key)
);

-- Listing a tenant's calendar in time order (`aos calendar`, and a time range within it).
create index calendar_events_tenant_calendar_starts_idx on calendar_events (tenant_id, calendar, starts_at);
