import type { Queryable } from "../database.js";

export interface StoredCheckpoint {
  traceId: string;
  runId: string;
  tenantId: string;
  origin: string;
  treeSize: number;
  merkleRoot: string;
  chainHead: string;
  keyName: string;
  keyId: string;
  note: string;
}

export async function findCheckpoint(db: Queryable, tenantId: string, traceId: string): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<{
    trace_id: string;
    run_id: string;
    tenant_id: string;
    origin: string;
    tree_size: number;
    merkle_root: string;
    chain_head: string;
    key_name: string;
    key_id: string;
    note: string;
  }>(
    `select trace_id, run_id, tenant_id, origin, tree_size, merkle_root, chain_head, key_name, key_id, note
from aos_checkpoints
where tenant_id = $1::text and trace_id = $2::text`,
    [tenantId, traceId],
  );
  const row = rows[0];
  return (
    row && {
      traceId: row.trace_id,
      runId: row.run_id,
      tenantId: row.tenant_id,
      origin: row.origin,
      treeSize: row.tree_size,
      merkleRoot: row.merkle_root,
      chainHead: row.chain_head,
      keyName: row.key_name,
      keyId: row.key_id,
      note: row.note,
    }
  );
}
