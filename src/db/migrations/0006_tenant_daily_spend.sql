-- 0006: what each tenant spent per UTC day, for the tenant's daily cap (caps.tenant_daily_cost_cents in the tenant's
-- policy). Reserved before a costed step and settled with the step's record, like the agent's spent_cents, so the
-- sum over a day equals the settled step costs of that day. Kept for every tenant, capped or not, so a cap set at
-- noon counts the morning's spend.
create table tenant_daily_spend (
  tenant_id text not null references tenants (id),
  day date not null,
  spent_cents bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, day)
);

-- LLM records in integer micro-cents (one millionth of a cent) beside the whole cents budgets are charged in, the
-- number of model calls summarised, and the price table version the cost came from.
alter table llm_run_records add column cost_microcents bigint not null default 0;
alter table llm_run_records add column call_count integer not null default 0;
alter table llm_run_records add column price_table_version text;
