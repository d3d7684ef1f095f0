-- 0002: signed checkpoints. One per finished trace, written in the run's finalizing transaction; never changed.

create table aos_checkpoints (
  trace_id varchar(64) primary key references aos_traces (trace_id),
  run_id text not null unique references runs (id),
  tenant_id text not null references tenants (id),
  origin text not null,
  tree_size integer not null check (tree_size >= 0),
  merkle_root char(64) not null,
  chain_head char(64) not null,
  key_name text not null,
  key_id char(8) not null,
  -- The whole C2SP signed note: checkpoint body, blank line, signature line(s).
  note text not null,
  created_at timestamptz not null default now()
);
create index aos_checkpoints_tenant_idx on aos_checkpoints (tenant_id);

create function aos_checkpoints_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'S6_IMMUTABILITY_VIOLATION: aos_checkpoints is insert-only (% on trace %)', tg_op, old.trace_id;
end
$$;
create trigger aos_checkpoints_no_update before update on aos_checkpoints
  for each row execute function aos_checkpoints_immutable();
create trigger aos_checkpoints_no_delete before delete on aos_checkpoints
  for each row execute function aos_checkpoints_immutable();
