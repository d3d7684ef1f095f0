import type { Queryable } from "../database.js";

/**
 * The tenant log's statements (migration 0013, docs/proofs.md "The tenant log"). Hashes travel as lowercase hex
 * and are decoded in SQL, so arrays of them bind the same way on every driver; sizes and indices are bigint in the
 * database and safe integers here.
 */

export interface PendingEntry {
  runId: string;
  entry: Buffer;
  attestation: string;
}

export interface TreeHead {
  treeSize: number;
  root: Buffer;
}

export interface StoredNode {
  level: number;
  index: number;
  hash: Buffer;
}

/**
 * The fragment of a run's ending statement (run-end.ts) that queues its log entry, selecting from the fenced
 * update `the_run`, so an ending that did not happen queues nothing.
 */
export function pendingEntryInsert(p: (value: unknown, type: string) => string, pending: Omit<PendingEntry, "runId">): string {
  return `  insert into aos_tenant_log_pending (run_id, tenant_id, entry, attestation)
  select r.id, r.tenant_id, ${p(pending.entry, "bytea")}, ${p(pending.attestation, "text")}
  from the_run r
  returning 1`;
}

/**
 * Takes the tenant's sequencer lock for this transaction, without waiting. Integration must be serial per tenant
 * (indices are consecutive and each batch builds on the nodes of the one before), and one holder is enough: a
 * sequencer that finds the lock taken leaves the work to its holder, which integrates again after it commits
 * (sequencer.ts), so no queued entry waits for a lock. hashtext collisions between tenants only serialise two
 * tenants' sequencers, never mix their logs: every statement below is keyed by tenant_id.
 */
export async function tryLockTenantLog(db: Queryable, tenantId: string): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(
    `select pg_try_advisory_xact_lock(hashtext('aos.tenant_log'), hashtext($1::text)) as locked`,
    [tenantId],
  );
  return rows[0]?.locked === true;
}

export async function readTreeHead(db: Queryable, tenantId: string): Promise<TreeHead> {
  const { rows } = await db.query<{ tree_size: string; root: Buffer }>(
    `select tree_size, root from aos_tenant_logs where tenant_id = $1::text`,
    [tenantId],
  );
  const row = rows[0];
  return row === undefined ? { treeSize: 0, root: emptyRoot() } : { treeSize: Number(row.tree_size), root: Buffer.from(row.root) };
}

/** MTH of the empty tree, SHA-256 of nothing (src/trace/merkle-nodes.ts computes it; db stands beside trace, so cannot import it). */
function emptyRoot(): Buffer {
  return Buffer.from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "hex");
}

/** The oldest queued entries of a tenant, in the order they were queued. */
export async function readPendingEntries(db: Queryable, tenantId: string, limit: number): Promise<PendingEntry[]> {
  const { rows } = await db.query<{ run_id: string; entry: Buffer; attestation: string }>(
    `select run_id, entry, attestation
from aos_tenant_log_pending
where tenant_id = $1::text
order by created_at, run_id
limit $2::int`,
    [tenantId, limit],
  );
  return rows.map((row) => ({ runId: row.run_id, entry: Buffer.from(row.entry), attestation: row.attestation }));
}

/** Tenants with queued entries, oldest first: what a sweep integrates. */
export async function tenantsWithPendingEntries(db: Queryable, olderThanMs: number): Promise<string[]> {
  const { rows } = await db.query<{ tenant_id: string }>(
    `select tenant_id
from aos_tenant_log_pending
where created_at <= clock_timestamp() - make_interval(secs => $1::int / 1000.0)
group by tenant_id
order by min(created_at)`,
    [olderThanMs],
  );
  return rows.map((row) => row.tenant_id);
}

export async function readNodes(db: Queryable, tenantId: string, keys: readonly { level: number; index: number }[]): Promise<StoredNode[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<{ level: number; idx: string; hash: Buffer }>(
    `select n.level, n.idx, n.hash
from unnest($2::smallint[], $3::bigint[]) as k (level, idx)
join aos_tenant_log_nodes n on n.tenant_id = $1::text and n.level = k.level and n.idx = k.idx`,
    [tenantId, keys.map((key) => key.level), keys.map((key) => String(key.index))],
  );
  return rows.map((row) => ({ level: row.level, index: Number(row.idx), hash: Buffer.from(row.hash) }));
}

/** The nodes of one level from index `from` (inclusive) to `to` (exclusive), in order: a row of a tile. */
export async function readLevel(db: Queryable, tenantId: string, level: number, from: number, to: number): Promise<Buffer[]> {
  const { rows } = await db.query<{ hash: Buffer }>(
    `select hash
from aos_tenant_log_nodes
where tenant_id = $1::text and level = $2::smallint and idx >= $3::bigint and idx < $4::bigint
order by idx`,
    [tenantId, level, String(from), String(to)],
  );
  return rows.map((row) => Buffer.from(row.hash));
}

/** Integrates one batch: the entries at consecutive indices, the nodes they complete, the new head; dequeues them. */
export async function appendToLog(
  db: Queryable,
  tenantId: string,
  batch: { firstIndex: number; entries: readonly PendingEntry[]; nodes: readonly StoredNode[]; head: TreeHead },
): Promise<void> {
  const { firstIndex, entries, nodes, head } = batch;
  await db.query(
    `with entries as (
  insert into aos_tenant_log_entries (tenant_id, idx, run_id, entry)
  select $1::text, $2::bigint + e.ord - 1, e.run_id, decode(e.entry, 'hex')
  from unnest($3::text[], $4::text[]) with ordinality as e (run_id, entry, ord)
  returning 1
),
nodes as (
  insert into aos_tenant_log_nodes (tenant_id, level, idx, hash)
  select $1::text, n.level, n.idx, decode(n.hash, 'hex')
  from unnest($5::smallint[], $6::bigint[], $7::text[]) as n (level, idx, hash)
  returning 1
),
head as (
  insert into aos_tenant_logs (tenant_id, tree_size, root, updated_at)
  values ($1::text, $8::bigint, decode($9::text, 'hex'), clock_timestamp())
  on conflict (tenant_id) do update set tree_size = excluded.tree_size, root = excluded.root, updated_at = excluded.updated_at
  returning 1
)
delete from aos_tenant_log_pending where run_id = any($3::text[])`,
    [
      tenantId,
      String(firstIndex),
      entries.map((entry) => entry.runId),
      entries.map((entry) => entry.entry.toString("hex")),
      nodes.map((node) => node.level),
      nodes.map((node) => String(node.index)),
      nodes.map((node) => node.hash.toString("hex")),
      String(head.treeSize),
      head.root.toString("hex"),
    ],
  );
}

/** Drops a queued entry the sequencer refuses (its attestation does not hold); the caller records why. */
export async function dropPendingEntry(db: Queryable, runId: string): Promise<void> {
  await db.query(`delete from aos_tenant_log_pending where run_id = $1::text`, [runId]);
}

export interface LoggedEntry {
  index: number;
  runId: string;
  entry: Buffer;
}

export async function findLoggedEntry(db: Queryable, tenantId: string, runId: string): Promise<LoggedEntry | undefined> {
  const { rows } = await db.query<{ idx: string; run_id: string; entry: Buffer }>(
    `select idx, run_id, entry from aos_tenant_log_entries where tenant_id = $1::text and run_id = $2::text`,
    [tenantId, runId],
  );
  const row = rows[0];
  return row && { index: Number(row.idx), runId: row.run_id, entry: Buffer.from(row.entry) };
}

export async function isEntryPending(db: Queryable, tenantId: string, runId: string): Promise<boolean> {
  const { rows } = await db.query(`select 1 from aos_tenant_log_pending where tenant_id = $1::text and run_id = $2::text`, [tenantId, runId]);
  return rows.length > 0;
}

/** Entries from index `from` (inclusive) to `to` (exclusive), in index order. */
export async function readLoggedEntries(db: Queryable, tenantId: string, from: number, to: number): Promise<LoggedEntry[]> {
  const { rows } = await db.query<{ idx: string; run_id: string; entry: Buffer }>(
    `select idx, run_id, entry
from aos_tenant_log_entries
where tenant_id = $1::text and idx >= $2::bigint and idx < $3::bigint
order by idx`,
    [tenantId, String(from), String(to)],
  );
  return rows.map((row) => ({ index: Number(row.idx), runId: row.run_id, entry: Buffer.from(row.entry) }));
}

/**
 * Tenants whose log grew past its last checkpoint at least `intervalMs` ago (or that have none): the time half of
 * the checkpoint cadence, which a sweep applies when no new entry arrives to trigger it.
 */
export async function tenantsDueForCheckpoint(db: Queryable, intervalMs: number): Promise<string[]> {
  const { rows } = await db.query<{ tenant_id: string }>(
    `select l.tenant_id
from aos_tenant_logs l
left join lateral (
  select c.tree_size, c.signed_at
  from aos_tenant_checkpoints c
  where c.tenant_id = l.tenant_id
  order by c.tree_size desc
  limit 1
) last on true
where l.tree_size > coalesce(last.tree_size, 0)
  and (last.signed_at is null or last.signed_at <= clock_timestamp() - make_interval(secs => $1::int / 1000.0))`,
    [intervalMs],
  );
  return rows.map((row) => row.tenant_id);
}

export async function hasPendingEntries(db: Queryable, tenantId: string): Promise<boolean> {
  const { rows } = await db.query(`select 1 from aos_tenant_log_pending where tenant_id = $1::text limit 1`, [tenantId]);
  return rows.length > 0;
}


/**
 * The tenant's signed runs (a run checkpoint exists) that its log neither holds nor has queued, with when each
 * checkpoint was written: what `aos audit` reports as unlogged.
 */
export async function unloggedSignedRuns(db: Queryable, tenantId: string): Promise<{ runId: string; signedAt: Date }[]> {
  const { rows } = await db.query<{ run_id: string; created_at: Date }>(
    `select c.run_id, c.created_at
from aos_checkpoints c
where c.tenant_id = $1::text
  and not exists (select 1 from aos_tenant_log_entries e where e.run_id = c.run_id)
  and not exists (select 1 from aos_tenant_log_pending p where p.run_id = c.run_id)
order by c.created_at, c.run_id`,
    [tenantId],
  );
  return rows.map((row) => ({ runId: row.run_id, signedAt: row.created_at }));
}

export async function countPendingEntries(db: Queryable, tenantId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from aos_tenant_log_pending where tenant_id = $1::text`, [tenantId]);
  return rows[0]?.n ?? 0;
}

/** Queues a run's entry (backfill of a run that ended before tenant logs existed); a run already queued is left alone. */
export async function queueEntry(db: Queryable, tenantId: string, pending: PendingEntry): Promise<void> {
  await db.query(
    `insert into aos_tenant_log_pending (run_id, tenant_id, entry, attestation) values ($1::text, $2::text, $3::bytea, $4::text)
on conflict (run_id) do nothing`,
    [pending.runId, tenantId, pending.entry, pending.attestation],
  );
}

/** Runs whose entry has waited longer than `graceMs` since it was queued, still queued: the log is not integrating. */
export async function stalledEntries(db: Queryable, tenantId: string, graceMs: number): Promise<string[]> {
  const { rows } = await db.query<{ run_id: string }>(
    `select run_id from aos_tenant_log_pending
where tenant_id = $1::text and created_at < clock_timestamp() - make_interval(secs => $2::int / 1000.0)
order by created_at
limit 100`,
    [tenantId, graceMs],
  );
  return rows.map((row) => row.run_id);
}

/**
 * Rows of a tenant's log that lie past its head: an entry at or beyond tree_size, a node no tree of that size has,
 * a cosignature on a size with no checkpoint. The sequencer writes none of them; a database writer who does can wedge
 * integration (a node in the way of the next one) or stop witnesses from being asked (a cosignature "from the future").
 */
export async function strayLogRows(db: Queryable, tenantId: string, treeSize: number): Promise<{ what: string }[]> {
  const { rows } = await db.query<{ what: string }>(
    `select 'entry ' || idx as what from aos_tenant_log_entries where tenant_id = $1::text and idx >= $2::bigint
union all
select 'node ' || level || '/' || idx from aos_tenant_log_nodes where tenant_id = $1::text and (idx + 1) * (2::numeric ^ level) > $2::bigint
union all
select 'a cosignature by ' || witness || ' at size ' || tree_size from aos_tenant_checkpoint_cosignatures w
  where tenant_id = $1::text and not exists (select 1 from aos_tenant_checkpoints c where c.tenant_id = w.tenant_id and c.tree_size = w.tree_size)
limit 100`,
    [tenantId, String(treeSize)],
  );
  return rows;
}
