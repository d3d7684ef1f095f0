import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { listenForClientErrors } from "./pool-client-errors.js";
import type { Config } from "../config.js";
import { AppError } from "../errors.js";
import type { Database } from "./database.js";
import { prepareDataDir } from "./data-dir-template.js";
import { acquireLockFile } from "./lock-file.js";
import { pglitePool } from "./pglite-pool.js";
import { openThreadedEmbeddedDatabase } from "./pglite-thread.js";
import { SQLSTATE, sqlstateOf } from "./sqlstate.js";
import { transientDatabaseCondition, transientRetryDelayMs } from "./transient.js";

/** The server's address for messages: host, port and database, never the user's password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const database = parsed.pathname.replace(/^\//, "") || "(default database)";
    return `${parsed.hostname || "localhost"}:${parsed.port || "5432"}/${database}`;
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

function unavailable(location: string, error: unknown): AppError {
  const passing = transientDatabaseCondition(error);
  if (passing !== undefined && sqlstateOf(error) !== undefined) {
    // The server answered: the URL is right, the server is busy or restarting.
    return new AppError("DATABASE_UNAVAILABLE", `PostgreSQL at ${location} refused the connection: ${passing}; try again shortly`, {
      cause: error,
      retryable: true,
    });
  }
  const state = sqlstateOf(error);
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  const reason =
    state === SQLSTATE.INVALID_PASSWORD || state === SQLSTATE.INVALID_AUTHORIZATION
      ? "the server refused the credentials"
      : state === SQLSTATE.INVALID_CATALOG_NAME
        ? "the database does not exist"
        : errno === "ECONNREFUSED"
          ? "connection refused"
          : errno === "ENOTFOUND" || errno === "EAI_AGAIN"
            ? "host not found"
            : (errno ?? state ?? "connection failed");
  return new AppError(
    "DATABASE_UNAVAILABLE",
    `cannot reach PostgreSQL at ${location} (${reason}): check DATABASE_URL, or unset it to use the embedded database`,
    { cause: error },
  );
}

export interface ServerConnectOptions {
  /** How long to keep trying while the server is there but cannot take the connection yet; 0 tries once. */
  retryMs?: number;
  /** Told before each wait, in words, so a person sees why start-up takes longer. */
  onWait?: (message: string) => void;
}

/**
 * Opens a pool on the server and checks it with one query. A server that answers but cannot take the connection
 * now (too many connections, starting up, shutting down) is tried again with a jittered backoff for up to
 * `retryMs`; anything else (refused credentials, no such database, no server at the address) fails at once.
 */
export async function openServerDatabase(url: string, poolMax: number, connect: ServerConnectOptions = {}): Promise<Database> {
  const location = describeDatabaseUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: poolMax, connectionTimeoutMillis: 10_000 });
  // An idle client whose server went away emits 'error' on the pool; pg-pool has already dropped it, and the
  // next checkout opens a fresh connection. Without a listener the process would crash.
  pool.on("error", () => undefined);
  listenForClientErrors(pool);
  const deadline = Date.now() + (connect.retryMs ?? 0);
  for (let failures = 1; ; failures += 1) {
    try {
      await pool.query("select 1");
      return { kind: "server", pool, location, close: () => pool.end() };
    } catch (error) {
      const failure = unavailable(location, error);
      const delayMs = transientRetryDelayMs(failures);
      if (!failure.retryable || Date.now() + delayMs > deadline) {
        await pool.end().catch(() => undefined);
        throw failure;
      }
      connect.onWait?.(`${failure.message} (retrying in ${delayMs} ms)`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** Wraps an open PGlite instance as a Database; closing it closes PGlite and then runs `onClosed`. */
export function embeddedDatabase(pglite: PGlite, location: string, onClosed: () => void = () => undefined): Database {
  const pool = pglitePool(pglite);
  return {
    kind: "pglite",
    pool,
    location,
    async close() {
      await pool.end();
      await pglite.close();
      onClosed();
    },
  };
}

/**
 * PostgreSQL's start parameters for PGlite in the command's own thread (every verb but `aos serve`): PGlite's own,
 * with a 16 MB buffer pool instead of 128 MB. PGlite touches its whole pool while it starts (resident memory after
 * PGlite.create: 284 MiB with 128 MB, 162 MiB with 16 MB), while a command touches a small part of the database;
 * the operating system's page cache below PGlite still holds the files. `aos serve`'s database thread keeps PGlite's default.
 */
const IN_PROCESS_START_PARAMS = [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"];

/**
 * Opens the embedded database on disk under `dataDir`, behind an exclusive lock file. The lock comes first: a
 * fresh `dataDir` is then filled from the built template (data-dir-template.ts) by this process alone.
 */
export async function openEmbeddedDatabase(dataDir: string, lockPath: string): Promise<Database> {
  const lock = acquireLockFile(lockPath);
  let pglite: PGlite;
  try {
    prepareDataDir(dataDir);
    pglite = await PGlite.create(dataDir, { startParams: IN_PROCESS_START_PARAMS });
  } catch (error) {
    lock.release();
    throw error;
  }
  return embeddedDatabase(pglite, dataDir, () => lock.release());
}

export interface OpenDatabaseOptions {
  /**
   * Run the embedded database on a worker thread (src/db/pglite-thread.ts), so a long query never blocks this
   * thread's event loop: for long-lived processes that serve requests (`aos serve`). Default false: one-shot
   * commands keep PGlite in-process. No effect with DATABASE_URL.
   */
  embeddedThread?: boolean;
  /** Told while start-up waits for a busy or restarting server (DATABASE_URL only). */
  onWait?: (message: string) => void;
}

/** The database the configuration names: the server of DATABASE_URL, or the embedded one in AOS_HOME. */
export function openDatabase(config: Config, options: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    return openServerDatabase(config.databaseUrl, config.dbPoolMax, { retryMs: config.databaseConnectRetryMs, ...(options.onWait ? { onWait: options.onWait } : {}) });
  }
  const open = options.embeddedThread === true ? openThreadedEmbeddedDatabase : openEmbeddedDatabase;
  return open(join(config.home, "pgdata"), join(config.home, "aos.lock"));
}
