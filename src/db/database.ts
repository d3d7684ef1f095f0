import pg from "pg";
import { toAppError } from "../errors.js";

/**
 * What the rest of AOS sees of PostgreSQL: a pg-compatible pool, whichever backend sits behind it.
 * `kind` is there for the few places that must know (the lock file, benchmarks' machine facts).
 */
export interface Database {
  readonly kind: "pglite" | "server";
  readonly pool: pg.Pool;
  /** A label for people: the data directory or the server's host/port/database, never a password. */
  readonly location: string;
  close(): Promise<void>;
}

/** Anything that can run a query: the pool itself, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/** Runs `work` in one transaction on one client; rolls back and rethrows on any error. */
export async function withTransaction<T>(db: Database, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  let broken: unknown;
  try {
    await client.query("begin");
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
