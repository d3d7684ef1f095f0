import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { latestTenantCheckpoint, type StoredTenantCheckpoint } from "../db/queries/tenant-checkpoints.js";
import { AppError } from "../errors.js";
import { consistencyProofFromStore } from "../tenant-log/node-store.js";
import { cosignedNote } from "../tenant-log/run-inclusion.js";
import { buildTile, everyTile } from "../tenant-log/tiles.js";
import { loadVerifiers } from "../trace/key-store.js";
import { verifyConsistency } from "../trace/merkle.js";
import { readNote } from "../trace/signed-note.js";
import { openTenantCheckpoint, parseTenantCheckpoint } from "../trace/tenant-checkpoint.js";
import { isFullTile, parseTilePath, type Tile, tilePath } from "../trace/tiles.js";
import { requireTenant } from "./agents.js";

/**
 * The tenant's log served as C2SP tlog-tiles (docs/tiles.md): its latest signed checkpoint, and the tiles and entry
 * bundles of that checkpoint's tree, to the API (scoped to the caller's tenant) and to an export on disk.
 */

export interface LogCheckpoint {
  /** The signed note with the witnesses' cosignature lines after the log's signature. */
  note: string;
  treeSize: number;
  origin: string;
}

/** The latest signed checkpoint of the tenant's log; CHECKPOINT_NOT_FOUND when it has none yet. */
export async function latestLogCheckpoint(db: Database, tenant: string): Promise<LogCheckpoint> {
  const tenantId = requireTenant(tenant);
  const stored = await signedCheckpoint(db, tenantId);
  return { note: await cosignedNote(db.pool, tenantId, stored), treeSize: stored.treeSize, origin: originOf(stored) };
}

async function signedCheckpoint(db: Database, tenantId: string): Promise<StoredTenantCheckpoint> {
  const stored = await latestTenantCheckpoint(db.pool, tenantId);
  if (stored === undefined) throw new AppError("CHECKPOINT_NOT_FOUND", `tenant ${tenantId}'s log has no signed checkpoint yet`, { details: { tenant_id: tenantId } });
  return stored;
}

/**
 * One tile or entry bundle by its tlog-tiles path (`tile/0/x001/067.p/5`), from the tree of the latest signed
 * checkpoint: a malformed path is VALIDATION_ERROR, a tile that tree does not have (or a log with no checkpoint)
 * TILE_NOT_FOUND.
 */
export async function logTile(db: Database, tenantId: string, path: string): Promise<{ tile: Tile; bytes: Buffer }> {
  const parsed = parseTilePath(path);
  if (!parsed.ok) throw new AppError("VALIDATION_ERROR", `invalid tile path: ${parsed.reason}`, { details: { field: "path", path } });
  const checkpoint = await latestTenantCheckpoint(db.pool, requireTenant(tenantId));
  const bytes = checkpoint === undefined ? undefined : await buildTile(db.pool, tenantId, parsed.tile, checkpoint.treeSize);
  if (bytes === undefined) {
    const beyond = checkpoint === undefined ? "the log has no signed checkpoint yet" : `its latest signed checkpoint has ${checkpoint.treeSize} entries`;
    throw new AppError("TILE_NOT_FOUND", `no ${path} in tenant ${tenantId}'s log: ${beyond}`, { details: { path, tree_size: checkpoint?.treeSize ?? 0 } });
  }
  return { tile: parsed.tile, bytes };
}

export interface LogTilesExport {
  tenant_id: string;
  origin: string;
  tree_size: number;
  /** The checkpoint's root, hex: what the exported tiles must fold to. */
  root: string;
  /** The size of the earlier export this one extends, checked consistent with it; null for a first export. */
  earlier_tree_size: number | null;
  tiles: number;
  entry_bundles: number;
  partial: number;
}

/**
 * Writes the tenant's log as static files through `write`: every tile and entry bundle of its latest signed
 * checkpoint's tree. It returns that checkpoint's note for the caller to write last, as `checkpoint`, so a copy that
 * stopped halfway never names tiles it lacks. Over an earlier export (`earlierCheckpoint`, the checkpoint it holds),
 * that checkpoint must be this log's, signed by a trusted key, and the log must still extend it (a consistency proof
 * from the stored nodes, checked against both roots); otherwise nothing is written, so an export that is evidence of
 * a fork is never overwritten.
 */
export async function exportLogTiles(
  db: Database,
  config: Config,
  tenantId: string,
  target: { earlierCheckpoint: string | undefined; write(path: string, bytes: Buffer): Promise<void> },
): Promise<{ summary: LogTilesExport; checkpoint: string }> {
  requireTenant(tenantId);
  const stored = await signedCheckpoint(db, tenantId);
  const origin = originOf(stored);
  const earlier = target.earlierCheckpoint === undefined ? null : await checkEarlierExport(db, config, tenantId, stored, origin, target.earlierCheckpoint);
  const counts = { tiles: 0, entry_bundles: 0, partial: 0 };
  for await (const { tile, bytes } of everyTile(db.pool, tenantId, stored.treeSize)) {
    await target.write(tilePath(tile), bytes);
    if (tile.level === "entries") counts.entry_bundles += 1;
    else counts.tiles += 1;
    if (!isFullTile(tile)) counts.partial += 1;
  }
  const summary = { tenant_id: tenantId, origin, tree_size: stored.treeSize, root: stored.root.toString("hex"), earlier_tree_size: earlier, ...counts };
  return { summary, checkpoint: await cosignedNote(db.pool, tenantId, stored) };
}

async function checkEarlierExport(db: Database, config: Config, tenantId: string, latest: StoredTenantCheckpoint, origin: string, note: string): Promise<number> {
  const opened = openTenantCheckpoint(note, loadVerifiers(config), { origin });
  if (!opened.ok) {
    throw new AppError("VALIDATION_ERROR", `the earlier export is not of tenant ${tenantId}'s log ${origin}: ${opened.reason}`, { details: { tenant_id: tenantId } });
  }
  const { treeSize, root } = opened.checkpoint;
  const proof = treeSize <= latest.treeSize ? await consistencyProofFromStore(db.pool, tenantId, treeSize, latest.treeSize) : [];
  if (treeSize > latest.treeSize || !verifyConsistency(treeSize, latest.treeSize, root, latest.root, proof)) {
    throw new AppError(
      "TRACE_TAMPERED",
      `tenant ${tenantId}'s log at ${latest.treeSize} entries does not extend the earlier export's signed checkpoint at ${treeSize}: the log was changed in the database (run \`aos audit\`); the earlier export is evidence of it`,
      { details: { tenant_id: tenantId, tree_size: latest.treeSize, earlier_tree_size: treeSize } },
    );
  }
  return treeSize;
}

/** The origin line of a stored checkpoint: the log's name, `<key name>/tenant/<tenant id>`. */
function originOf(checkpoint: StoredTenantCheckpoint): string {
  const read = readNote(checkpoint.note);
  const parsed = read.ok ? parseTenantCheckpoint(read.text) : undefined;
  if (parsed === undefined || !parsed.ok) throw new AppError("TRACE_TAMPERED", `the stored checkpoint at ${checkpoint.treeSize} entries is not a tenant checkpoint note (run \`aos audit\`)`);
  return parsed.checkpoint.origin;
}
