import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { AppError } from "../errors.js";
import { type Database, withTransaction } from "./database.js";
import { SQLSTATE, sqlstateOf } from "./sqlstate.js";

/** A numbered, forward-only migration file: `NNNN_name.sql`. */
export interface Migration {
  id: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationStatus {
  /** The highest migration applied to the database, or 0 for an empty one. */
  head: number;
  /** The highest migration this build of AOS ships. */
  latest: number;
  applied: { id: number; name: string; appliedAt: Date }[];
  pending: { id: number; name: string }[];
}

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

// Any constant works as long as every migrator uses the same one: it serialises concurrent migrators.
const MIGRATION_LOCK_KEY = 4_104_202_601;

export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) throw new AppError("INTERNAL", `migration file name ${file} is not NNNN_name.sql`);
      const sql = readFileSync(new URL(file, dir), "utf8");
      return {
        id: Number(match[1]),
        name: match[2] ?? file,
        sql,
        checksum: createHash("sha256").update(sql).digest("hex"),
      };
    });
  migrations.forEach((migration, index) => {
    if (migration.id !== index + 1) {
      throw new AppError("INTERNAL", `migrations must be numbered 0001 upwards without gaps; found ${migration.id}`);
    }
  });
  return migrations;
}

const CREATE_MIGRATIONS_TABLE = `
create table if not exists aos_migrations (
  id integer primary key,
  name text not null,
  checksum char(64) not null,
  applied_at timestamptz not null default now()
)`;

async function appliedMigrations(db: Database): Promise<{ id: number; name: string; checksum: string; appliedAt: Date }[]> {
  try {
    const { rows } = await db.pool.query<{ id: number; name: string; checksum: string; applied_at: Date }>(
      "select id, name, checksum, applied_at from aos_migrations order by id",
    );
    return rows.map((row) => ({ id: row.id, name: row.name, checksum: row.checksum, appliedAt: row.applied_at }));
  } catch (error) {
    if (sqlstateOf(error) === SQLSTATE.UNDEFINED_TABLE) return [];
    throw error;
  }
}

/**
 * Applies every pending migration, each in its own transaction. Each transaction first takes a transaction-level
 * advisory lock and re-reads what is applied, so two migrators started at once apply each file exactly once;
 * transaction-level locks keep this safe behind PgBouncer in transaction mode. Returns the ids applied here.
 */
export async function migrate(db: Database, migrations: Migration[] = loadMigrations()): Promise<number[]> {
  // Fast path for every start after the first: one read, no lock, when everything is applied unchanged.
  const already = await appliedMigrations(db);
  const upToDate =
    already.length === migrations.length &&
    migrations.every((migration, index) => already[index]?.id === migration.id && already[index]?.checksum === migration.checksum);
  if (upToDate) return [];
  const applied: number[] = [];
  for (const migration of migrations) {
    const ran = await withTransaction(db, async (client) => {
      await client.query("select pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
      await client.query(CREATE_MIGRATIONS_TABLE);
      const { rows } = await client.query<{ checksum: string }>("select checksum from aos_migrations where id = $1::int", [
        migration.id,
      ]);
      const existing = rows[0];
      if (existing !== undefined) {
        if (existing.checksum !== migration.checksum) {
          throw new AppError(
            "INTERNAL",
            `migration ${migration.id} (${migration.name}) was changed after it was applied; add a new migration instead`,
          );
        }
        return false;
      }
      await client.query(migration.sql);
      await client.query("insert into aos_migrations (id, name, checksum) values ($1::int, $2::text, $3::text)", [
        migration.id,
        migration.name,
        migration.checksum,
      ]);
      return true;
    });
    if (ran) applied.push(migration.id);
  }
  return applied;
}

export async function migrationStatus(db: Database, migrations: Migration[] = loadMigrations()): Promise<MigrationStatus> {
  const applied = await appliedMigrations(db);
  const appliedIds = new Set(applied.map((migration) => migration.id));
  return {
    head: applied.reduce((max, migration) => Math.max(max, migration.id), 0),
    latest: migrations.length,
    applied: applied.map(({ id, name, appliedAt }) => ({ id, name, appliedAt })),
    pending: migrations.filter((migration) => !appliedIds.has(migration.id)).map(({ id, name }) => ({ id, name })),
  };
}
