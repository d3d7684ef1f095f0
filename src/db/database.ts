import pg from "pg";
import { toAppError } from "../errors.js";
import { scopeTransaction } from "./queries/tenant-scope.js";

/**
 * What the rest of AOS sees of PostgreSQL: a pg-compatible pool, whichever backend sits behind it.
 * `kind` is there for the few places that must know (the lock file, benchmarks' machine facts).
 */
export interface Database {
  readonly kind: "pglite" | "server";
  readonly pool: pg.Pool;
  /** A label for people: the data directory or the server's host/port/database, never a password. */
  readonly location: string;
  /** Set on a tenant-scoped database (src/db/tenant-scope.ts): every transaction on it is that tenant's. */
  readonly scope?: TenantScope;
  close(): Promise<void>;
}

/** The tenant a scoped database's transactions run as (docs/tenancy.md), and the owner's pool they run on. */
export interface TenantScope {
  readonly tenantId: string;
  /** Its transactions may only read. */
  readonly readOnly: boolean;
  readonly ownerPool: pg.Pool;
}

/** Anything that can run a query: the pool itself, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/**
 * Runs `work` in one transaction on one client; rolls back and rethrows on any error. The one place AOS opens a
 * transaction, so the one place a tenant-scoped database's scope is applied: first thing after BEGIN.
 */
export async function withTransaction<T>(db: Database, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await (db.scope?.ownerPool ?? db.pool).connect();
  let broken: unknown;
  try {
    await client.query("begin");
    if (db.scope !== undefined) await scopeTransaction(client, db.scope);
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    try {
      await client.query("rollback");
    } catch (rollbackError) {
      broken = rollbackError;
    }
    throw error;
  } finally {
    // A client whose rollback failed may be mid-transaction; pg-pool destroys it instead of reusing it.
    client.release(broken === undefined ? undefined : toAppError(broken));
  }
}
