import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate, migrationStatus } from "../src/db/migrate.js";
import { openServerDatabase } from "../src/db/open-database.js";
import { dumpSchema } from "../src/db/schema-dump.js";
import { serverUrlFor } from "./support/server-url.js";
import { describeOnBackends, onServer } from "./support/databases.js";

const snapshot = readFileSync(new URL("../src/db/schema.snapshot.txt", import.meta.url), "utf8");

describeOnBackends("migrations on $name", (backend) => {
  it("are idempotent, report their head, and match the committed schema snapshot", async () => {
    const db = await backend.open();
    try {
      expect(await migrate(db)).toEqual([]);
      const status = await migrationStatus(db);
      expect(status.head).toBe(loadMigrations().length);
      expect(status.pending).toEqual([]);
      // If this fails after adding a migration, run `npm run schema:snapshot` and commit the result.
      expect(await dumpSchema(db.pool)).toBe(snapshot);
    } finally {
      await db.close();
    }
  });
});

const serverUrl = process.env.AOS_TEST_DATABASE_URL;

describe("two migrators at once on the server", onServer(), () => {
  const name = `aos_test_mig_${randomBytes(4).toString("hex")}`;
  const admin = () => new pg.Client({ connectionString: serverUrl });

  afterAll(async () => {
    const client = admin();
    await client.connect();
    await client.query(`drop database if exists ${name} with (force)`);
    await client.end();
  });

  it("apply every migration exactly once between them", async () => {
    const client = admin();
    await client.connect();
    await client.query(`create database ${name}`);
    await client.end();
    const url = serverUrlFor(serverUrl as string, name);
    const [a, b] = await Promise.all([openServerDatabase(url, 2), openServerDatabase(url, 2)]);
    try {
      const [appliedA, appliedB] = await Promise.all([migrate(a), migrate(b)]);
      expect([...appliedA, ...appliedB].sort((x, y) => x - y)).toEqual(loadMigrations().map((migration) => migration.id));
      const { rows } = await a.pool.query("select count(*)::int as n from aos_migrations");
      expect(rows[0].n).toBe(loadMigrations().length);
      expect(await dumpSchema(a.pool)).toBe(snapshot);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
