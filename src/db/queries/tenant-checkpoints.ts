import type { Queryable } from "../database.js";

/** A tenant checkpoint as stored: the note the log key signed, its size and root; cosignatures are read beside it. */
export interface StoredTenantCheckpoint {
  treeSize: number;
  root: Buffer;
  note: string;
  signedAt: Date;
}

interface CheckpointRow {
  tree_size: string;
  root: Buffer;
  note: string;
  signed_at: Date;
}

function checkpointOf(row: CheckpointRow): StoredTenantCheckpoint {
  return { treeSize: Number(row.tree_size), root: Buffer.from(row.root), note: row.note, signedAt: row.signed_at };
}

export async function latestTenantCheckpoint(db: Queryable, tenantId: string): Promise<StoredTenantCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>(
    `select tree_size, root, note, signed_at
from aos_tenant_checkpoints
where tenant_id = $1::text
order by tree_size desc
limit 1`,
    [tenantId],
  );
  return rows[0] && checkpointOf(rows[0]);
}

export async function tenantCheckpointAt(db: Queryable, tenantId: string, treeSize: number): Promise<StoredTenantCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>(
    `select tree_size, root, note, signed_at from aos_tenant_checkpoints where tenant_id = $1::text and tree_size = $2::bigint`,
    [tenantId, String(treeSize)],
  );
  return rows[0] && checkpointOf(rows[0]);
}

export async function listTenantCheckpoints(db: Queryable, tenantId: string): Promise<StoredTenantCheckpoint[]> {
  const { rows } = await db.query<CheckpointRow>(
    `select tree_size, root, note, signed_at from aos_tenant_checkpoints where tenant_id = $1::text order by tree_size`,
    [tenantId],
  );
  return rows.map(checkpointOf);
}

export async function insertTenantCheckpoint(db: Queryable, tenantId: string, checkpoint: Omit<StoredTenantCheckpoint, "signedAt">): Promise<void> {
  await db.query(
    `insert into aos_tenant_checkpoints (tenant_id, tree_size, root, note) values ($1::text, $2::bigint, decode($3::text, 'hex'), $4::text)`,
    [tenantId, String(checkpoint.treeSize), checkpoint.root.toString("hex"), checkpoint.note],
  );
}

/** Cosignature lines of one checkpoint, by witness. */
export async function cosignaturesOf(db: Queryable, tenantId: string, treeSize: number): Promise<{ witness: string; line: string }[]> {
  const { rows } = await db.query<{ witness: string; signature_line: string }>(
    `select witness, signature_line
from aos_tenant_checkpoint_cosignatures
where tenant_id = $1::text and tree_size = $2::bigint
order by witness`,
    [tenantId, String(treeSize)],
  );
  return rows.map((row) => ({ witness: row.witness, line: row.signature_line }));
}

export async function insertCosignature(db: Queryable, tenantId: string, treeSize: number, witness: string, line: string): Promise<void> {
  await db.query(
    `insert into aos_tenant_checkpoint_cosignatures (tenant_id, tree_size, witness, signature_line)
values ($1::text, $2::bigint, $3::text, $4::text)
on conflict do nothing`,
    [tenantId, String(treeSize), witness, line],
  );
}

/**
 * The largest checkpoint, up to `atMost`, a witness has cosigned for this tenant: the old size of the next
 * submission to it. Only cosignatures on a stored checkpoint count, and none past the one being submitted, so a row
 * "from the future" written into the table cannot stop the witness from being asked (a wrong guess costs one 409,
 * which names the witness's real size).
 */
export async function witnessedSize(db: Queryable, tenantId: string, witness: string, atMost: number): Promise<number> {
  const { rows } = await db.query<{ tree_size: string | null }>(
    `select max(w.tree_size) as tree_size
from aos_tenant_checkpoint_cosignatures w
join aos_tenant_checkpoints c on c.tenant_id = w.tenant_id and c.tree_size = w.tree_size
where w.tenant_id = $1::text and w.witness = $2::text and w.tree_size <= $3::bigint`,
    [tenantId, witness, String(atMost)],
  );
  return Number(rows[0]?.tree_size ?? 0);
}

export async function insertCheckpointTimestamp(db: Queryable, tenantId: string, treeSize: number, token: Buffer): Promise<void> {
  await db.query(
    `insert into aos_tenant_checkpoint_timestamps (tenant_id, tree_size, token) values ($1::text, $2::bigint, $3::bytea)
on conflict do nothing`,
    [tenantId, String(treeSize), token],
  );
}

export async function checkpointTimestamp(db: Queryable, tenantId: string, treeSize: number): Promise<Buffer | undefined> {
  const { rows } = await db.query<{ token: Buffer }>(
    `select token from aos_tenant_checkpoint_timestamps where tenant_id = $1::text and tree_size = $2::bigint`,
    [tenantId, String(treeSize)],
  );
  return rows[0] && Buffer.from(rows[0].token);
}

/** Each tenant's latest checkpoint that this witness has not cosigned: what a sweep submits again. */
export async function checkpointsAwaitingWitness(db: Queryable, witness: string, limit: number): Promise<{ tenantId: string; treeSize: number; note: string }[]> {
  const { rows } = await db.query<{ tenant_id: string; tree_size: string; note: string }>(
    `select c.tenant_id, c.tree_size, c.note
from (select distinct on (tenant_id) tenant_id, tree_size, note from aos_tenant_checkpoints order by tenant_id, tree_size desc) c
where not exists (
  select 1 from aos_tenant_checkpoint_cosignatures w
  where w.tenant_id = c.tenant_id and w.tree_size = c.tree_size and w.witness = $1::text
)
limit $2::int`,
    [witness, limit],
  );
  return rows.map((row) => ({ tenantId: row.tenant_id, treeSize: Number(row.tree_size), note: row.note }));
}
