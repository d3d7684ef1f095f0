-- 0013: each tenant's transparency log (docs/proofs.md, "The tenant log"). A finished run's entry is queued in the
-- transaction that ends it (aos_tenant_log_pending); a sequencer, one at a time per tenant under an advisory lock,
-- gives queued entries consecutive indices, stores every tree node that becomes complete, and signs the tenant's
-- checkpoints; witnesses' cosignatures and TSA timestamps on those checkpoints are kept beside them. Entries,
-- nodes, checkpoints, cosignatures and timestamps are insert-only: a log that changed would no longer be consistent
-- with the checkpoints witnesses cosigned, which is what `aos audit` and every verifier check.

-- Entries waiting for the sequencer. The attestation is an HMAC by the writing worker (docs/proofs.md,
-- "Write-time attestations") over the entry's hash: the sequencer integrates no entry a database writer made.
create table aos_tenant_log_pending (
  run_id text primary key references runs (id),
  tenant_id text not null references tenants (id),
  entry bytea not null,
  attestation text not null,
  created_at timestamptz not null default clock_timestamp()
);
create index aos_tenant_log_pending_order_idx on aos_tenant_log_pending (tenant_id, created_at, run_id);

create table aos_tenant_log_entries (
  tenant_id text not null references tenants (id),
  idx bigint not null check (idx >= 0),
  run_id text not null unique references runs (id),
  -- The entry's exact bytes (canonical JSON); its leaf hash is SHA-256(0x00 ‖ entry), stored as node (0, idx).
  entry bytea not null,
  integrated_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, idx)
);

-- Every complete node of each tenant's tree: (level, idx) is the root of leaves idx·2^level … (idx+1)·2^level − 1,
-- written once when its last leaf is integrated. A proof reads O(log n) of them; tlog-tiles are rows of them.
create table aos_tenant_log_nodes (
  tenant_id text not null references tenants (id),
  level smallint not null check (level between 0 and 62),
  idx bigint not null check (idx >= 0),
  hash bytea not null check (length(hash) = 32),
  primary key (tenant_id, level, idx)
);

-- The integrated size of each tenant's log; changed only by the sequencer, under the tenant's advisory lock.
create table aos_tenant_logs (
  tenant_id text primary key references tenants (id),
  tree_size bigint not null check (tree_size >= 0),
  root bytea not null check (length(root) = 32),
  updated_at timestamptz not null default clock_timestamp()
);

-- Signed tenant checkpoints, as signed by the log key (cosignatures are rows of their own).
create table aos_tenant_checkpoints (
  tenant_id text not null references tenants (id),
  tree_size bigint not null check (tree_size >= 0),
  root bytea not null check (length(root) = 32),
  note text not null,
  signed_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, tree_size)
);

-- A witness's cosignature line on a checkpoint (C2SP tlog-cosignature), by "<name>+<key id>".
create table aos_tenant_checkpoint_cosignatures (
  tenant_id text not null,
  tree_size bigint not null,
  witness text not null,
  signature_line text not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, tree_size, witness),
  foreign key (tenant_id, tree_size) references aos_tenant_checkpoints (tenant_id, tree_size)
);
create index aos_tenant_checkpoint_cosignatures_witness_idx on aos_tenant_checkpoint_cosignatures (tenant_id, witness, tree_size);

-- An RFC 3161 timestamp token (DER) over a checkpoint's body, from the configured TSA.
create table aos_tenant_checkpoint_timestamps (
  tenant_id text not null,
  tree_size bigint not null,
  token bytea not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, tree_size),
  foreign key (tenant_id, tree_size) references aos_tenant_checkpoints (tenant_id, tree_size)
);

create function aos_tenant_log_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'S6_IMMUTABILITY_VIOLATION: % is insert-only (% refused)', tg_table_name, tg_op;
end
$$;
create trigger aos_tenant_log_entries_no_change before update or delete on aos_tenant_log_entries
  for each row execute function aos_tenant_log_immutable();
create trigger aos_tenant_log_nodes_no_change before update or delete on aos_tenant_log_nodes
  for each row execute function aos_tenant_log_immutable();
create trigger aos_tenant_checkpoints_no_change before update or delete on aos_tenant_checkpoints
  for each row execute function aos_tenant_log_immutable();
create trigger aos_tenant_checkpoint_cosignatures_no_change before update or delete on aos_tenant_checkpoint_cosignatures
  for each row execute function aos_tenant_log_immutable();
create trigger aos_tenant_checkpoint_timestamps_no_change before update or delete on aos_tenant_checkpoint_timestamps
  for each row execute function aos_tenant_log_immutable();

-- Tenant-scoped code reads its own tenant's log (the API serving tiles and proofs) and queues its own runs' entries
-- (a run ended through a tenant's scope); only the sequencer, which runs as the owner, integrates and signs.
grant select on aos_tenant_log_pending, aos_tenant_log_entries, aos_tenant_log_nodes, aos_tenant_logs,
  aos_tenant_checkpoints, aos_tenant_checkpoint_cosignatures, aos_tenant_checkpoint_timestamps to aos_tenant;
grant insert on aos_tenant_log_pending to aos_tenant;

alter table aos_tenant_log_pending enable row level security;
create policy tenant_isolation on aos_tenant_log_pending to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true))
  with check (tenant_id = current_setting('aos.tenant_id', true));
alter table aos_tenant_log_entries enable row level security;
create policy tenant_isolation on aos_tenant_log_entries to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true));
alter table aos_tenant_log_nodes enable row level security;
create policy tenant_isolation on aos_tenant_log_nodes to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true));
alter table aos_tenant_logs enable row level security;
create policy tenant_isolation on aos_tenant_logs to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true));
alter table aos_tenant_checkpoints enable row level security;
create policy tenant_isolation on aos_tenant_checkpoints to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true));
alter table aos_tenant_checkpoint_cosignatures enable row level security;
create policy tenant_isolation on aos_tenant_checkpoint_cosignatures to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true));
alter table aos_tenant_checkpoint_timestamps enable row level security;
create policy tenant_isolation on aos_tenant_checkpoint_timestamps to aos_tenant
  using (tenant_id = current_setting('aos.tenant_id', true));
