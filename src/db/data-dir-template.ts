import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { loadMigrations, type Migration } from "./migrate.js";
import { readTarEntries } from "./tar-entries.js";

/**
 * The embedded database as `npm run build` leaves it: initialised and migrated once, dumped by PGlite's
 * `dumpDataDir` into dist/db/pgdata-template.tar.gz, with a manifest naming exactly what it holds. A fresh
 * AOS_HOME unpacks it instead of running initdb and every migration inside WASM (seconds and ~870 MiB at peak).
 * It is used only when its manifest matches the running code's migrations and PGlite; otherwise PGlite's initdb
 * and `migrate` build the database as before. `migrate` runs after either way, and finds nothing to do here.
 */

/** What the template holds. A template is used only when every field matches the running code. */
export interface TemplateManifest {
  format: 1;
  /** The @electric-sql/pglite version that wrote the data directory: its PostgreSQL must read it. */
  pglite: string;
  migrations: { id: number; name: string; checksum: string }[];
}

export interface DataDirTemplate {
  archive: string;
  manifest: string;
}

/** Beside the compiled module: dist/db/. Under tsx or vitest (src/db/) there is none, and initdb runs. */
export const BUILT_TEMPLATE: DataDirTemplate = {
  archive: fileURLToPath(new URL("./pgdata-template.tar.gz", import.meta.url)),
  manifest: fileURLToPath(new URL("./pgdata-template.json", import.meta.url)),
};

/** How a data directory came to be ready for PGlite.create. */
export type DataDirOrigin = "existing" | "template" | "initdb";

// A temporary directory beside the data directory that an unpack is writing: `pgdata.unpacking-<pid>-<ms>`.
const UNPACKING = ".unpacking-";

export function installedPgliteVersion(): string {
  // The package exports no ./package.json; its entry is dist/index.cjs, one folder down.
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  return (JSON.parse(readFileSync(join(dirname(entry), "../package.json"), "utf8")) as { version: string }).version;
}

/** The manifest of a template made from `migrations` by the installed PGlite. */
export function manifestFor(migrations: readonly Migration[]): TemplateManifest {
  return {
    format: 1,
    pglite: installedPgliteVersion(),
    migrations: migrations.map(({ id, name, checksum }) => ({ id, name, checksum })),
  };
}

function readManifest(path: string): TemplateManifest | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as TemplateManifest;
  } catch {
    return undefined;
  }
}

/** Whether `manifest` names exactly the running code's migrations (ids, names, content hashes) and PGlite. */
export function templateMatches(manifest: TemplateManifest | undefined, migrations: readonly Migration[]): boolean {
  if (manifest?.format !== 1 || !Array.isArray(manifest.migrations)) return false;
  const expected = manifestFor(migrations);
  return (
    manifest.pglite === expected.pglite &&
    manifest.migrations.length === expected.migrations.length &&
    expected.migrations.every((migration, index) => {
      const recorded = manifest.migrations[index];
      return recorded?.id === migration.id && recorded.name === migration.name && recorded.checksum === migration.checksum;
    })
  );
}

function holdsDatabase(dataDir: string): boolean {
  return existsSync(join(dataDir, "PG_VERSION"));
}

function isMissingOrEmpty(dataDir: string): boolean {
  try {
    return readdirSync(dataDir).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/** Unpacks left by a process that died mid-way. Only the lock holder unpacks, so any that exist are dead. */
function removeAbandonedUnpacks(dataDir: string): void {
  const parent = dirname(dataDir);
  const prefix = `${basename(dataDir)}${UNPACKING}`;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(prefix)) rmSync(join(parent, name), { recursive: true, force: true });
}

function unpack(archivePath: string, into: string): void {
  mkdirSync(into, { mode: 0o700 });
  for (const entry of readTarEntries(gunzipSync(readFileSync(archivePath)))) {
    const path = join(into, entry.path);
    if (entry.type === "directory") {
      mkdirSync(path, { recursive: true, mode: 0o700 });
    } else {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, entry.data, { mode: 0o600 });
    }
  }
}

/**
 * Makes `dataDir` ready for PGlite.create. A directory that holds a database is left alone; a missing or empty one
 * is filled from `template` when it matches the running code. The caller holds the database's lock file.
 *
 * The archive is unpacked into a temporary directory beside `dataDir` and renamed into place, so a process killed
 * mid-way leaves no half-written data directory: the next start removes the leftover and unpacks again. A rename
 * that finds `dataDir` filled meanwhile keeps that one. Any failure (no template, a mismatch, a damaged archive)
 * returns "initdb" with nothing written, and PGlite's own initdb runs.
 */
export function prepareDataDir(dataDir: string, template: DataDirTemplate = BUILT_TEMPLATE): DataDirOrigin {
  if (holdsDatabase(dataDir)) return "existing";
  if (!isMissingOrEmpty(dataDir)) return "initdb";
  removeAbandonedUnpacks(dataDir);
  if (!templateMatches(readManifest(template.manifest), loadMigrations())) return "initdb";
  const unpacking = `${dataDir}${UNPACKING}${process.pid}-${Date.now()}`;
  try {
    mkdirSync(dirname(dataDir), { recursive: true });
    unpack(template.archive, unpacking);
    renameSync(unpacking, dataDir);
    return "template";
  } catch {
    rmSync(unpacking, { recursive: true, force: true });
    return holdsDatabase(dataDir) ? "existing" : "initdb";
  }
}
