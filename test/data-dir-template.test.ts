import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { type DataDirTemplate, prepareDataDir, type TemplateManifest } from "../src/db/data-dir-template.js";
import { writeTemplate } from "../src/db/make-data-dir-template.js";
import { loadMigrations, migrate } from "../src/db/migrate.js";
import { openEmbeddedDatabase } from "../src/db/open-database.js";
import { dumpSchema } from "../src/db/schema-dump.js";
import { readTarEntries } from "../src/db/tar-entries.js";
import { runCli, tempHome } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";

// The schema initdb plus every migration gives (test/migrations.test.ts holds the database to it).
const snapshot = readFileSync(new URL("../src/db/schema.snapshot.txt", import.meta.url), "utf8");

let template: DataDirTemplate;
let manifest: TemplateManifest;

beforeAll(async () => {
  const dir = tempDir("aos-template");
  template = { archive: join(dir, "pgdata-template.tar.gz"), manifest: join(dir, "pgdata-template.json") };
  manifest = await writeTemplate(template);
});

/** A template beside the good one with its manifest or archive replaced. */
function variant(change: { manifest?: unknown; archive?: Uint8Array }): DataDirTemplate {
  const dir = tempDir("aos-template-variant");
  const made = { archive: join(dir, "pgdata-template.tar.gz"), manifest: join(dir, "pgdata-template.json") };
  writeFileSync(made.manifest, JSON.stringify(change.manifest ?? manifest));
  writeFileSync(made.archive, change.archive ?? readFileSync(template.archive));
  return made;
}

function leftovers(dataDir: string): string[] {
  const parent = join(dataDir, "..");
  return readdirSync(parent).filter((name) => name.startsWith("pgdata.unpacking-"));
}

async function schemaOf(dataDir: string): Promise<{ schema: string; applied: number[] }> {
  const db = await openEmbeddedDatabase(dataDir, join(dataDir, "..", "aos.lock"));
  try {
    const applied = await migrate(db);
    await db.pool.query("insert into tenants (id, name) values ('t1', 't1')");
    const { rows } = await db.pool.query<{ id: string }>("select id from tenants");
    expect(rows.map((row) => row.id)).toEqual(["t1"]);
    return { schema: await dumpSchema(db.pool), applied };
  } finally {
    await db.close();
  }
}

describe("a fresh data directory from the built template", () => {
  it("is a working database with the schema of initdb plus every migration, and migrate finds nothing to do", async () => {
    const dataDir = join(tempDir("aos-home"), "pgdata");
    expect(prepareDataDir(dataDir, template)).toBe("template");
    expect(leftovers(dataDir)).toEqual([]);
    expect(prepareDataDir(dataDir, template)).toBe("existing");
    const { schema, applied } = await schemaOf(dataDir);
    expect(applied).toEqual([]);
    expect(schema).toBe(snapshot);
  });

  it("fills an empty directory too, and leaves a non-empty one without PG_VERSION to PGlite", () => {
    const home = tempDir("aos-home");
    mkdirSync(join(home, "pgdata"));
    expect(prepareDataDir(join(home, "pgdata"), template)).toBe("template");
    const other = join(tempDir("aos-home"), "pgdata");
    mkdirSync(other);
    writeFileSync(join(other, "stray"), "");
    expect(prepareDataDir(other, template)).toBe("initdb");
    expect(readdirSync(other)).toEqual(["stray"]);
  });
});

describe("a template that does not match the running code is not used", () => {
  const migrations = loadMigrations();
  const cases = (): [string, unknown][] => [
    ...manifest.migrations.map((migration, index): [string, unknown] => [
      `migration ${migration.id}'s content hash differs`,
      { ...manifest, migrations: manifest.migrations.map((m, i) => (i === index ? { ...m, checksum: "0".repeat(64) } : m)) },
    ]),
    ...manifest.migrations.map((migration, index): [string, unknown] => [
      `migration ${migration.id}'s name differs`,
      { ...manifest, migrations: manifest.migrations.map((m, i) => (i === index ? { ...m, name: `${m.name}_renamed` } : m)) },
    ]),
    ["the last migration is missing", { ...manifest, migrations: manifest.migrations.slice(0, -1) }],
    ["it has a migration the code does not", { ...manifest, migrations: [...manifest.migrations, { id: migrations.length + 1, name: "later", checksum: "1".repeat(64) }] }],
    ["it lists the migrations in another order", { ...manifest, migrations: [...manifest.migrations].reverse() }],
    ["another PGlite wrote it", { ...manifest, pglite: "0.0.1" }],
    ["its format is unknown", { ...manifest, format: 2 }],
    ["its manifest is not a manifest", "not json {"],
  ];

  it("for each way the manifest can differ: nothing is written, and PGlite's initdb will run", () => {
    for (const [why, changed] of cases()) {
      const dataDir = join(tempDir("aos-home"), "pgdata");
      const made = variant({});
      writeFileSync(made.manifest, typeof changed === "string" ? changed : JSON.stringify(changed));
      expect(prepareDataDir(dataDir, made), why).toBe("initdb");
      expect(existsSync(dataDir), why).toBe(false);
      expect(leftovers(dataDir), why).toEqual([]);
    }
  });

  it("when the template is not there at all (a build without it, or tsx on src/)", () => {
    const dataDir = join(tempDir("aos-home"), "pgdata");
    expect(prepareDataDir(dataDir, { archive: join(dataDir, "..", "none.tar.gz"), manifest: join(dataDir, "..", "none.json") })).toBe("initdb");
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe("an unpack that cannot finish leaves no data directory", () => {
  it("a damaged archive (cut short, not gzip, a tar header corrupted half-way): nothing is left, initdb will run", () => {
    const archive = readFileSync(template.archive);
    const tar = gunzipSync(archive);
    const corrupt = new Uint8Array(tar);
    const entries = readTarEntries(tar);
    // The header of an entry half-way through: the files before it are written when the unpack fails.
    const half = entries[Math.floor(entries.length / 2)] as { data: Uint8Array };
    corrupt[half.data.byteOffset - 512] = (corrupt[half.data.byteOffset - 512] as number) ^ 0x40;
    for (const [why, damaged] of [
      ["cut short", archive.subarray(0, archive.length / 2)],
      ["not gzip", tar.subarray(0, 4096)],
      ["a header corrupted half-way", gzipSync(corrupt)],
    ] as const) {
      const dataDir = join(tempDir("aos-home"), "pgdata");
      expect(prepareDataDir(dataDir, variant({ archive: damaged })), why).toBe("initdb");
      expect(existsSync(dataDir), why).toBe(false);
      expect(leftovers(dataDir), why).toEqual([]);
    }
  });

  it("a process killed mid-unpack leaves only its temporary directory, which the next start removes before unpacking again", async () => {
    const home = tempDir("aos-home");
    const dataDir = join(home, "pgdata");
    // What a kill part-way through leaves: some of the files, in the temporary directory beside pgdata.
    const partial = join(home, "pgdata.unpacking-4242-1700000000000");
    const whole = join(tempDir("aos-home"), "pgdata");
    prepareDataDir(whole, template);
    cpSync(join(whole, "global"), join(partial, "global"), { recursive: true });
    writeFileSync(join(partial, "PG_VERSION"), "1");
    expect(existsSync(dataDir)).toBe(false);
    expect(prepareDataDir(dataDir, template)).toBe("template");
    expect(leftovers(dataDir)).toEqual([]);
    expect((await schemaOf(dataDir)).schema).toBe(snapshot);
  });
});

describe("the CLI on a fresh AOS_HOME", () => {
  it("unpacks the template npm run build made (its migrations are dated from the build), and the schema is whole", async () => {
    expect(existsSync(new URL("../dist/db/pgdata-template.json", import.meta.url)), "dist/ has no template: run npm run build").toBe(true);
    const startedAt = new Date();
    const home = tempHome();
    const result = await runCli(["migrate", "--json"], { AOS_HOME: home });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const db = await openEmbeddedDatabase(join(home, "pgdata"), join(home, "aos.lock"));
    try {
      const { rows } = await db.pool.query<{ applied_at: Date }>("select applied_at from aos_migrations");
      expect(rows).toHaveLength(loadMigrations().length);
      for (const row of rows) expect(row.applied_at.getTime()).toBeLessThan(startedAt.getTime());
      expect(await dumpSchema(db.pool)).toBe(snapshot);
    } finally {
      await db.close();
    }
  });

  it("two commands started at once on it: both work (the second through the first), and the database is whole", async () => {
    const home = tempHome();
    const results = await Promise.all([1, 2].map(() => runCli(["migrate", "--json"], { AOS_HOME: home })));
    expect(results.map((result) => [result.code, result.stderr])).toEqual([
      [0, ""],
      [0, ""],
    ]);
    expect((await runCli(["migrate", "--json"], { AOS_HOME: home })).code).toBe(0);
    expect(readdirSync(home).filter((name) => name.includes("unpacking"))).toEqual([]);
    expect((await schemaOf(join(home, "pgdata"))).schema).toBe(snapshot);
  });
});
