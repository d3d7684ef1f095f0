import type pg from "pg";
import { AppError } from "../errors.js";
import { type Database, withTransaction } from "./database.js";

/**
 * Switches the current transaction to the role row-level security applies to, and names its tenant (migration
 * 0011's policies compare every row's tenant_id with aos.tenant_id). Both settings are transaction-local
 * (`is_local = true`, i.e. SET LOCAL), so they end with the transaction's commit or rollback: nothing is left on
 * the pooled connection for its next user, and it works behind PgBouncer in transaction mode.
 */
const SCOPE_TRANSACTION = `select set_config('role', 'aos_tenant', true) as role,
  set_config('aos.tenant_id', $1::text, true) as tenant_id`;

/** The same, for a transaction that may only read (SET TRANSACTION READ ONLY, in the same round trip). */
const SCOPE_READ_ONLY = `select set_config('role', 'aos_tenant', true) as role,
  set_config('aos.tenant_id', $1::text, true) as tenant_id,
  set_config('transaction_read_only', 'on', true) as read_only`;

// Transaction control as pg sends it (withTransaction sends "begin", "commit", "rollback"). ROLLBACK TO SAVEPOINT
// and RELEASE SAVEPOINT do not end the transaction, and the settings made right after BEGIN survive them.
const BEGINS = /^\s*(begin|start\s+transaction)\b/i;
const ENDS = /^\s*(commit|end|rollback|abort)(\s+(work|transaction))?\s*;?\s*$/i;

type QueryText = string | pg.QueryConfig;

/**
 * The database as one tenant sees it: every statement issued through it runs inside a transaction scoped to
 * `tenantId` (role aos_tenant, aos.tenant_id set), so even a query that forgets its `tenant_id = …` filter reads
 * and writes only that tenant's rows. Services take it unchanged, since they only use `pool.query` and
 * `pool.connect` (directly or through withTransaction):
 *
 * - `pool.query(…)` becomes begin; scope; query; commit on one pooled client (three extra round trips: the
 *   price of isolation enforced by the database rather than by every query remembering its filter);
 * - a client from `pool.connect()` scopes each transaction right after its BEGIN, and wraps a statement sent
 *   outside a transaction the same way as `pool.query`.
 *
 * Transaction control must be sent as its own statement (as withTransaction does), and queries must use promises.
 * It borrows the underlying pool: `close()` and `pool.end()` leave it open for its owner to close.
 */
export function tenantScoped(db: Database, tenantId: string, options: { readOnly?: boolean } = {}): Database {
  if (tenantId.trim() === "") throw new AppError("TENANT_REQUIRED", "a tenant-scoped database needs a tenant id");
  const connect = async (...callback: unknown[]): Promise<pg.PoolClient> => {
    if (callback.length > 0) throw unsupported("pool.connect(callback)");
    return scopedClient(await db.pool.connect(), tenantId, options.readOnly === true ? SCOPE_READ_ONLY : SCOPE_TRANSACTION);
  };
  const query = (text: QueryText, ...rest: unknown[]): Promise<pg.QueryResult> =>
    withTransaction(scoped, (client) => client.query(text, values(rest)));
  const pool = new Proxy(db.pool, {
    get(target, property) {
      if (property === "connect") return connect;
      if (property === "query") return query;
      if (property === "end") return async () => undefined;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const scoped: Database = { kind: db.kind, pool, location: `${db.location} (tenant ${tenantId})`, close: async () => undefined };
  return scoped;
}

/**
 * A pooled client whose transactions are scoped to the tenant. It tracks whether a transaction is open from the
 * BEGIN and COMMIT/ROLLBACK it forwards; a statement outside one gets a transaction of its own.
 */
function scopedClient(client: pg.PoolClient, tenantId: string, scope: string): pg.PoolClient {
  let inTransaction = false;
  let broken: Error | undefined;

  async function query(text: QueryText, ...rest: unknown[]): Promise<pg.QueryResult> {
    const params = values(rest);
    const sql = typeof text === "string" ? text : text.text;
    if (BEGINS.test(sql)) {
      const result = await client.query(text, params);
      inTransaction = true;
      // If this fails the transaction is aborted: nothing runs unscoped in it, only a rollback is accepted.
      await client.query(scope, [tenantId]);
      return result;
    }
    if (ENDS.test(sql)) {
      inTransaction = false;
      return client.query(text, params);
    }
    if (inTransaction) return client.query(text, params);
    return alone(text, params);
  }

  /** A statement sent outside a transaction: begin; scope; statement; commit, as pool.query does. */
  async function alone(text: QueryText, params: unknown[] | undefined): Promise<pg.QueryResult> {
    if (typeof text === "object" && "submit" in text) throw unsupported("a streaming query outside a transaction");
    try {
      await query("begin");
      const result = await client.query(text, params);
      await query("commit");
      return result;
    } catch (error) {
      // Still open when BEGIN worked and the scope or the statement failed; a failed COMMIT has ended it already.
      if (inTransaction) {
        await query("rollback").catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
      }
      throw error;
    }
  }

  // A client released inside a transaction would hand its open, scoped transaction to the pool's next user (on
  // PGlite, to every later query: it is one session). It is rolled back first, and returned to the pool after; a
  // client whose rollback failed is released with the error, so pg-pool destroys it instead of reusing it.
  function release(error?: Error | boolean): void {
    if (error !== undefined || broken !== undefined || !inTransaction) return client.release(error ?? broken);
    inTransaction = false;
    client.query("rollback").then(
      () => client.release(),
      (rollbackError: unknown) => client.release(rollbackError instanceof Error ? rollbackError : true),
    );
  }

  return new Proxy(client, {
    get(target, property) {
      if (property === "query") return query;
      if (property === "release") return release;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The optional values array of a promise-style query; a callback would bypass the scoping, so it is refused. */
function values(rest: unknown[]): unknown[] | undefined {
  const [params, callback] = rest;
  if (typeof params === "function" || callback !== undefined) throw unsupported("query(…, callback)");
  if (params !== undefined && !Array.isArray(params)) throw unsupported("query(text, non-array values)");
  return params;
}

function unsupported(form: string): AppError {
  return new AppError("INTERNAL", `a tenant-scoped database supports promise queries only, not ${form}`);
}

/**
 * Runs `work` with the database as one tenant sees it and every statement in ONE scoped, read-only transaction:
 * what a read request uses, paying for the scoping once instead of per statement (a run with its steps and
 * records is several reads). A write is refused by the database; so is a nested transaction, by this session.
 * Not for long work: on PGlite an open transaction holds the one session.
 */
export async function withTenantReads<T>(db: Database, tenantId: string, work: (session: Database) => Promise<T>): Promise<T> {
  return withTransaction(tenantScoped(db, tenantId, { readOnly: true }), async (client) => {
    const pool = {
      query: (text: QueryText, ...rest: unknown[]) => client.query(text, values(rest)),
      connect: () => Promise.reject(unsupported("a transaction inside a read session")),
      end: async () => undefined,
    } as unknown as pg.Pool;
    return work({ kind: db.kind, pool, location: `${db.location} (tenant ${tenantId}, reads)`, close: async () => undefined });
  });
}
