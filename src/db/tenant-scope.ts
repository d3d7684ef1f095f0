import type pg from "pg";
import { AppError } from "../errors.js";
import { type Database, type TenantScope, withTransaction } from "./database.js";
import { scopeTransaction } from "./queries/tenant-scope.js";

type QueryText = string | pg.QueryConfig;

/**
 * The database as one tenant sees it: it carries the tenant (`scope`), and every transaction on it runs as that
 * tenant (role aos_tenant, aos.tenant_id set), so even a query that forgets its `tenant_id = …` filter reads and
 * writes only that tenant's rows. Services take it unchanged:
 *
 * - `withTransaction` applies the scope right after its BEGIN (src/db/database.ts), on a client of the owner's pool;
 * - `pool.query(…)` is a transaction of one statement: begin, scope, the statement, commit (three extra round trips:
 *   the price of isolation enforced by the database rather than by every query remembering its filter);
 * - `pool.connect()` gives a client for code that sends its own BEGIN (see `scopedClient`).
 *
 * Queries must use promises. The pool offers query, connect and end, what AOS uses of a pool (its events and counts
 * belong to the owner's). It borrows the owner's pool: `close()` and `pool.end()` leave it open for its owner.
 */
export function tenantScoped(db: Database, tenantId: string, options: { readOnly?: boolean } = {}): Database {
  if (tenantId.trim() === "") throw new AppError("TENANT_REQUIRED", "a tenant-scoped database needs a tenant id");
  const scope: TenantScope = { tenantId, readOnly: options.readOnly === true, ownerPool: db.scope?.ownerPool ?? db.pool };
  const pool = {
    query: (text: QueryText, ...rest: unknown[]) => withTransaction(scoped, (client) => client.query(text, values(rest))),
    connect: async (...callback: unknown[]) => {
      if (callback.length > 0) throw unsupported("pool.connect(callback)");
      return scopedClient(await scope.ownerPool.connect(), scope);
    },
    end: async () => undefined,
  } as unknown as pg.Pool;
  const scoped: Database = { kind: db.kind, pool, location: `${db.location} (tenant ${tenantId})`, scope, close: async () => undefined };
  return scoped;
}

/**
 * The owner's database under a tenant-scoped one, for work the system does on the tenant's behalf and that no
 * tenant may do itself: the tenant log's sequencer integrating the tenant's own queued entries (its statements are
 * keyed by the tenant id it is given). Never for a request's reads or writes, which stay scoped.
 */
export function ownerDatabase(db: Database): Database {
  if (db.scope === undefined) return db;
  return { kind: db.kind, pool: db.scope.ownerPool, location: db.location, close: async () => undefined };
}

/**
 * A client of the owner's pool for code that manages its own transactions (AOS's own code uses withTransaction).
 * No statement's text is read: the server says where the client stands, by its transaction status (sent with every
 * ReadyForQuery) and by the command tag of what ran.
 *
 * - Outside a transaction, a statement runs in one of its own, scoped first. When the statement was itself a BEGIN
 *   (tag BEGIN or START; PostgreSQL only warns that a transaction is open), that scoped transaction stays open as
 *   the caller's, until its COMMIT or ROLLBACK. Otherwise it is committed. The scope is that transaction's first
 *   query, so a BEGIN naming an isolation level comes too late and PostgreSQL refuses it (25001): such a transaction
 *   is READ COMMITTED, or goes through withTransaction.
 * - Inside a transaction, statements run as sent: the transaction was scoped when it began.
 * - Released inside a transaction, the client is rolled back before the pool's next user gets it (on PGlite, every
 *   later query: it is one session); a client whose rollback failed is released with the error, so pg-pool
 *   destroys it instead of reusing it.
 *
 * It offers query and release, what a transaction needs.
 */
function scopedClient(client: pg.PoolClient, scope: TenantScope): pg.PoolClient {
  let broken: Error | undefined;
  const open = () => client.getTransactionStatus() !== "I";

  async function query(text: QueryText, ...rest: unknown[]): Promise<pg.QueryResult> {
    const params = values(rest);
    if (open()) return client.query(text, params);
    if (typeof text === "object" && "submit" in text) throw unsupported("a streaming query outside a transaction");
    await client.query("begin");
    try {
      await scopeTransaction(client, scope);
      const result = await client.query(text, params);
      if (!OPENS_TRANSACTION.has(result.command) && open()) await client.query("commit");
      return result;
    } catch (error) {
      if (open()) await client.query("rollback").catch((rollbackError: unknown) => (broken = asError(rollbackError)));
      throw error;
    }
  }

  function release(error?: Error | boolean): void {
    if (error !== undefined || broken !== undefined || !open()) return client.release(error ?? broken);
    client.query("rollback").then(
      () => client.release(),
      (rollbackError: unknown) => client.release(asError(rollbackError)),
    );
  }

  return { query, release } as unknown as pg.PoolClient;
}

/** The command tags of BEGIN and START TRANSACTION, as pg reports them (the tag's first word). */
const OPENS_TRANSACTION: ReadonlySet<string> = new Set(["BEGIN", "START"]);

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

function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}
