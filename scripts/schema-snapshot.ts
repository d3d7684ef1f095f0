// Regenerates src/db/schema.snapshot.txt from a fresh embedded database with every migration applied.
// Run after adding a migration: `npx tsx scripts/schema-snapshot.ts`; the schema test fails until you do.
import { writeFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { migrate } from "../src/db/migrate.js";
import { embeddedDatabase } from "../src/db/open-database.js";
import { dumpSchema } from "../src/db/schema-dump.js";

const db = embeddedDatabase(await PGlite.create(), "memory");
await migrate(db);
writeFileSync(new URL("../src/db/schema.snapshot.txt", import.meta.url), await dumpSchema(db.pool));
await db.close();
