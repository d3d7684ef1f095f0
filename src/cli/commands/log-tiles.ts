import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Command } from "commander";
import type { Config } from "../../config.js";
import type { Database } from "../../db/database.js";
import { AppError } from "../../errors.js";
import { exportLogTiles, type LogTilesExport } from "../../services/log-tiles.js";
import type { NoteVerifier } from "../../trace/signed-note.js";
import { openTenantCheckpoint, type TenantCheckpoint } from "../../trace/tenant-checkpoint.js";
import { parseTilePath, type TileProofSource, type TileReader, tileProofSource, verifyTilesAgainstCheckpoint } from "../../trace/tiles.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson } from "../output.js";

/**
 * `aos log export-tiles`: the tenant's log as C2SP tlog-tiles on disk (docs/tiles.md), `DIR/checkpoint` and
 * `DIR/tile/…`, which any static file server serves as the log's prefix. An auditor then checks the log with no
 * database and no AOS server; `tilesFromDirectory` is the reader the offline commands use over such a directory.
 */

export interface TilesExportSummary extends LogTilesExport {
  directory: string;
  /** Every tile and bundle written was read back and checked against the checkpoint's root. */
  verified: true;
}

/** A tile reader over an exported directory: reads only paths in tlog-tiles' grammar, so nothing outside `dir`. */
export function tilesFromDirectory(dir: string): TileReader {
  return async (path) => {
    if (!parseTilePath(path).ok) throw new RangeError(`"${path}" is not a tile path`);
    try {
      return await readFile(join(dir, ...path.split("/")));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw new AppError("USAGE", `cannot read ${join(dir, path)}: ${code ?? "unreadable"}`);
      throw new AppError("TILE_NOT_FOUND", `${dir} has no ${path}: it is not a complete export of the log`, { details: { tile: path } });
    }
  };
}

export type OpenedTilesDirectory =
  | { ok: true; checkpoint: TenantCheckpoint; note: string; source: TileProofSource }
  | { ok: false; code: "MALFORMED" | "UNTRUSTED_KEY" | "INVALID_SIGNATURE" | "WRONG_ORIGIN"; reason: string };

/**
 * An exported directory opened for proofs: its `checkpoint`, opened with the trusted keys (and, given `origin`, only
 * as that log's), and a proof source over its tiles for that checkpoint's tree. The source answers for any smaller
 * tree too (the old size of a consistency proof), and must be made for the directory's own size: its partial tiles
 * are that checkpoint's. A directory with no checkpoint is a usage error; one that does not open is a result.
 */
export function openTilesDirectory(dir: string, trusted: readonly NoteVerifier[], origin?: string): OpenedTilesDirectory {
  let note: string;
  try {
    note = readFileSync(join(dir, "checkpoint"), "utf8");
  } catch (error) {
    throw new AppError("USAGE", `${dir} holds no readable checkpoint (${(error as NodeJS.ErrnoException).code ?? "unreadable"}): it is not a tiles export`);
  }
  const opened = openTenantCheckpoint(note, trusted, origin === undefined ? {} : { origin });
  if (!opened.ok) return opened;
  return { ok: true, checkpoint: opened.checkpoint, note, source: tileProofSource(tilesFromDirectory(dir), opened.checkpoint.treeSize) };
}

/**
 * The checkpoint an earlier export in `dir` holds; undefined for a directory that is new (made with the first tile) or
 * empty. Anything else in the way is refused: an export writes over no file but an earlier export's.
 */
function earlierExport(dir: string): string | undefined {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new AppError("USAGE", `-o ${dir} is not a directory`);
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    return undefined;
  }
  if (entries.length === 0) return undefined;
  if (!entries.includes("checkpoint")) {
    throw new AppError("USAGE", `-o ${dir} is not empty and holds no earlier export (no checkpoint file); give a new or empty directory`);
  }
  return readFileSync(join(dir, "checkpoint"), "utf8");
}

/** Writes a file whole or not at all (a temporary name, then a rename), so a server never serves half a tile. */
function writeWhole(dir: string, path: string, bytes: Buffer, made: Set<string>): void {
  const file = join(dir, ...path.split("/"));
  const parent = dirname(file);
  if (!made.has(parent)) {
    mkdirSync(parent, { recursive: true });
    made.add(parent);
  }
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, file);
}

/**
 * Exports the tenant's log into `dir`, reads every tile back and checks it against the checkpoint's root, and only
 * then writes `checkpoint`: a directory whose checkpoint is new always holds that checkpoint's whole tree.
 */
export async function exportTilesTo(db: Database, config: Config, tenantId: string, dir: string): Promise<TilesExportSummary> {
  const earlier = earlierExport(dir);
  const made = new Set<string>();
  const { summary, checkpoint } = await exportLogTiles(db, config, tenantId, {
    earlierCheckpoint: earlier,
    write: async (path, bytes) => writeWhole(dir, path, bytes, made),
  });
  const audit = await verifyTilesAgainstCheckpoint(tilesFromDirectory(dir), { treeSize: summary.tree_size, root: Buffer.from(summary.root, "hex") });
  if (!audit.ok) throw new AppError("TILE_INVALID", `the tiles written to ${dir} do not fold to the checkpoint's root, so it was not written: ${audit.reason}`);
  writeWhole(dir, "checkpoint", Buffer.from(checkpoint), made);
  return { ...summary, directory: dir, verified: true };
}

export function exportTilesCommand(ctx: CliContext): Command {
  return new Command("export-tiles")
    .description("write the tenant's log as C2SP tlog-tiles (DIR/checkpoint, DIR/tile/…): static files any web server can serve, checked offline")
    .requiredOption("--tenant-id <id>", "the tenant whose log to export")
    .requiredOption("-o, --output <dir>", "a new or empty directory, or one holding an earlier export of this log")
    .option("--json", "print a JSON summary instead of a sentence")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string; output: string }) => {
      const summary = await withDatabase(ctx, (db) => exportTilesTo(db, ctx.config, flags.tenantId, flags.output));
      if (flags.json) return printJson(ctx.output, summary);
      const since = summary.earlier_tree_size === null ? "" : `, extending the earlier export at ${summary.earlier_tree_size}`;
      ctx.output.out(`Wrote ${summary.directory}: ${summary.origin} at ${summary.tree_size} entries${since}`);
      ctx.output.out(`  ${summary.tiles} tiles and ${summary.entry_bundles} entry bundles (${summary.partial} partial), each checked against the signed checkpoint's root`);
    });
}
