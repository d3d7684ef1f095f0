import type pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Database, withTransaction } from "../src/db/database.js";
import { ensureTenant } from "../src/db/queries/tenants.js";
import { tenantScoped, withTenantReads } from "../src/db/tenant-scope.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";

// Every way a tenant-scoped database reaches PostgreSQL (src/db/tenant-scope.ts) is one tenant's: a row of another
// tenant cannot be read or written through pool.query, withTransaction, withTenantReads, or a connected client
// outside or inside its own transaction, however its BEGIN is written (the scope does not read statement text).

const SECRET = "select tenant_id from kv_store where key = 'secret' order by tenant_id";

/** Each path's rows for SECRET: the same query, sent every way a scoped database offers. */
const PATHS: Record<string, (db: TestDatabase, scoped: Database, tenantId: string) => Promise<unknown[]>> = {
  "pool.query": async (_, scoped) => (await scoped.pool.query(SECRET)).rows,
  withTransaction: (_, scoped) => withTransaction(scoped, async (client) => (await client.query(SECRET)).rows),
  withTenantReads: (db, _, tenantId) => withTenantReads(db, tenantId, async (session) => (await session.pool.query(SECRET)).rows),
  "connect, outside a transaction": (_, scoped) => onClient(scoped, async (client) => (await client.query(SECRET)).rows),
  ...Object.fromEntries(
    ["begin", "BEGIN WORK", "/* its own */ begin transaction read write", "-- a comment\nStart Transaction", "begin; "].map(
      (begin) => [`connect, inside \`${begin}\``, (_: TestDatabase, scoped: Database) => onClient(scoped, (client) => insideOwnTransaction(client, begin))],
    ),
  ),
};

async function onClient<T>(scoped: Database, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await scoped.pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

/** The rows SECRET shows inside a transaction the caller opens; a write in it must be undone by its ROLLBACK. */
async function insideOwnTransaction(client: pg.PoolClient, begin: string): Promise<unknown[]> {
  await client.query(begin);
  await client.query("insert into kv_store (tenant_id, namespace, key, value) values (current_setting('aos.tenant_id'), 'n', 'undone', '1')");
  const { rows } = await client.query(SECRET);
  await client.query("rollback");
  return rows;
}

describeOnBackends("a tenant-scoped database on $name", (backend) => {
  let db: TestDatabase;
  const [A, B] = [`scope-a-${backend.name}`, `scope-b-${backend.name}`];

  beforeAll(async () => {
    db = await backend.open();
    for (const tenant of [A, B]) {
      await ensureTenant(db.pool, tenant);
      await db.pool.query("insert into kv_store (tenant_id, namespace, key, value) values ($1, 'n', 'secret', '1')", [tenant]);
    }
  });
  afterAll(async () => db?.close());

  it.each(Object.keys(PATHS))("%s: shows only its own tenant's row; the owner sees both", async (path) => {
    expect((await db.pool.query(SECRET)).rows).toEqual([{ tenant_id: A }, { tenant_id: B }]);
    expect(await PATHS[path]!(db, tenantScoped(db, A), A)).toEqual([{ tenant_id: A }]);
    expect(await PATHS[path]!(db, tenantScoped(db, B), B)).toEqual([{ tenant_id: B }]);
    // Rescoping a scoped database scopes it to the new tenant, never to both.
    expect(await PATHS[path]!(db, tenantScoped(tenantScoped(db, B), A), A)).toEqual([{ tenant_id: A }]);
    expect((await db.pool.query("select count(*)::int as n from kv_store where key = 'undone'")).rows).toEqual([{ n: 0 }]);
  });

  it("cannot write another tenant's row through any path that writes", async () => {
    const scoped = tenantScoped(db, A);
    const steal = "update kv_store set value = '2' where tenant_id = $1";
    const plant = "insert into kv_store (tenant_id, namespace, key, value) values ($1, 'n', 'planted', '1')";
    expect(await scoped.pool.query(steal, [B])).toMatchObject({ rowCount: 0 });
    expect(await withTransaction(scoped, (client) => client.query(steal, [B]))).toMatchObject({ rowCount: 0 });
    expect(await onClient(scoped, (client) => client.query(steal, [B]))).toMatchObject({ rowCount: 0 });
    await expect(scoped.pool.query(plant, [B])).rejects.toMatchObject({ code: "42501" });
    await expect(withTransaction(scoped, (client) => client.query(plant, [B]))).rejects.toMatchObject({ code: "42501" });
    await expect(onClient(scoped, (client) => client.query(plant, [B]))).rejects.toMatchObject({ code: "42501" });
    await expect(withTenantReads(db, A, (session) => session.pool.query(plant, [A]))).rejects.toMatchObject({ code: "25006" });
    expect((await db.pool.query("select tenant_id, value from kv_store where tenant_id = $1 and key in ('secret', 'planted')", [B])).rows).toEqual([
      { tenant_id: B, value: 1 },
    ]);
  });

  it("a connected client's statements outside a transaction each commit on their own, scoped", async () => {
    await onClient(tenantScoped(db, A), async (client) => {
      await client.query("insert into kv_store (tenant_id, namespace, key, value) values ($1, 'n', 'kept', '1')", [A]);
      await expect(client.query("insert into kv_store (tenant_id, namespace, key, value) values ($1, 'n', 'kept', '1')", [B])).rejects.toMatchObject({
        code: "42501",
      });
      expect((await client.query("select current_user as role")).rows).toEqual([{ role: "aos_tenant" }]);
      // The scope is the transaction's first query, so a BEGIN that names an isolation level comes too late for it:
      // PostgreSQL refuses it, and nothing is left open (the next statement is scoped and commits on its own).
      await expect(client.query("begin isolation level serializable")).rejects.toMatchObject({ code: "25001" });
      expect((await client.query(SECRET)).rows).toEqual([{ tenant_id: A }]);
    });
    expect((await db.pool.query("select tenant_id from kv_store where key = 'kept'")).rows).toEqual([{ tenant_id: A }]);
    expect((await db.pool.query("select current_user as role")).rows).toEqual([{ role: "postgres" }]);
  });
});
