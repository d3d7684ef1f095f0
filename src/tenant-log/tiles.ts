import type { Queryable } from "../db/database.js";
import { readLevel, readLoggedEntries } from "../db/queries/tenant-log.js";
import { AppError } from "../errors.js";
import { encodeEntryBundle, type Tile, TILE_HEIGHT, TILE_WIDTH, tilesOfTree, treeHasTile } from "../trace/tiles.js";

/**
 * A tenant's log as C2SP tlog-tiles (src/trace/tiles.ts, docs/tiles.md), built from what the sequencer stored: a
 * level-L tile is a row of the stored nodes of tree level 8·L (aos_tenant_log_nodes), an entry bundle a run of
 * aos_tenant_log_entries. Only the tree of a signed checkpoint is served, as tlog-tiles logs do: `treeSize` is the
 * latest signed checkpoint's, and nothing past it exists here even though the sequencer has integrated more.
 */

/** Hash tiles read per query: 64 × 256 rows of 32 bytes. */
const HASH_TILES_PER_QUERY = 64;
/** Entry bundles read per query: entries are a few hundred bytes each. */
const BUNDLES_PER_QUERY = 8;

/** One tile's bytes, or undefined when the tree of `treeSize` entries does not have it. */
export async function buildTile(db: Queryable, tenantId: string, tile: Tile, treeSize: number): Promise<Buffer | undefined> {
  if (!treeHasTile(treeSize, tile)) return undefined;
  return (await buildRow(db, tenantId, [tile]))[0];
}

/** Every tile and entry bundle of the tree of `treeSize` entries, level by level, a batch per query. */
export async function* everyTile(db: Queryable, tenantId: string, treeSize: number): AsyncGenerator<{ tile: Tile; bytes: Buffer }> {
  const tiles = tilesOfTree(treeSize);
  for (let at = 0; at < tiles.length; ) {
    const level = (tiles[at] as Tile).level;
    const most = level === "entries" ? BUNDLES_PER_QUERY : HASH_TILES_PER_QUERY;
    let end = at + 1;
    while (end < tiles.length && end - at < most && (tiles[end] as Tile).level === level) end += 1;
    const row = tiles.slice(at, end);
    const built = await buildRow(db, tenantId, row);
    for (const [i, tile] of row.entries()) yield { tile, bytes: built[i] as Buffer };
    at = end;
  }
}

/**
 * Consecutive tiles of one level in one query. The stored rows are keyed by index, so as many rows as the range is
 * wide means every one is there; fewer means rows a signed checkpoint covers were deleted.
 */
async function buildRow(db: Queryable, tenantId: string, tiles: readonly Tile[]): Promise<Buffer[]> {
  const first = tiles[0] as Tile;
  const last = tiles.at(-1) as Tile;
  const from = first.index * TILE_WIDTH;
  const to = last.index * TILE_WIDTH + last.width;
  const slice = <T>(items: readonly T[], tile: Tile) => items.slice(tile.index * TILE_WIDTH - from, tile.index * TILE_WIDTH - from + tile.width);
  if (first.level === "entries") {
    const entries = await readLoggedEntries(db, tenantId, from, to);
    if (entries.length !== to - from) throw incomplete(tenantId, "entries", from, to);
    return tiles.map((tile) => encodeEntryBundle(slice(entries, tile).map((entry) => entry.entry)));
  }
  const hashes = await readLevel(db, tenantId, first.level * TILE_HEIGHT, from, to);
  if (hashes.length !== to - from) throw incomplete(tenantId, `level-${first.level * TILE_HEIGHT} nodes`, from, to);
  return tiles.map((tile) => Buffer.concat(slice(hashes, tile)));
}

function incomplete(tenantId: string, what: string, from: number, to: number): AppError {
  return new AppError(
    "TRACE_TAMPERED",
    `tenant ${tenantId}'s log lacks some of its ${what} ${from} to ${to - 1}, which its signed checkpoint covers: they were deleted from the database (run \`aos audit\`)`,
  );
}
