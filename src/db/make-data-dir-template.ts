import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { type DataDirTemplate, manifestFor, type TemplateManifest } from "./data-dir-template.js";
import { loadMigrations, type Migration, migrate } from "./migrate.js";
import { embeddedDatabase } from "./open-database.js";

/**
 * Makes the data directory template (data-dir-template.ts) at build time: initdb and every migration in an
 * in-memory PGlite, dumped with PGlite's own `dumpDataDir`.
 */
export async function makeTemplate(migrations: Migration[] = loadMigrations()): Promise<{ archive: Uint8Array; manifest: TemplateManifest }> {
  const pglite = await PGlite.create();
  const db = embeddedDatabase(pglite, "memory");
  try {
    await migrate(db, migrations);
    // Every page written so far reaches the data files, so a start from the template has no WAL to replay.
    await pglite.query("checkpoint");
    const dump = await pglite.dumpDataDir("gzip");
    return { archive: new Uint8Array(await dump.arrayBuffer()), manifest: manifestFor(migrations) };
  } finally {
    await db.close();
  }
}

export async function writeTemplate(to: DataDirTemplate, migrations?: Migration[]): Promise<TemplateManifest> {
  const { archive, manifest } = await makeTemplate(migrations);
  mkdirSync(dirname(to.archive), { recursive: true });
  writeFileSync(to.archive, archive);
  writeFileSync(to.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
